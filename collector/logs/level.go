package logs

import (
	"strings"

	"github.com/vigie-dev/vigie/logs"
)

// plainScan is how far into a plain line a level word is looked for.
const plainScan = 160

// DetectLevel finds a line's level: JSON "level"/"lvl"/"severity" (names
// or pino's numbers), logfmt level=/lvl=, klog's E1202 prefix, an
// upper-case word (ERROR, WARN, PostgreSQL's FATAL:) or a bracketed one
// ([error], nginx) near the start. Hand-written: it runs on every line and
// a regexp costs ten times more here.
func DetectLevel(line string) logs.Level {
	if len(line) == 0 {
		return logs.LevelUnknown
	}
	if line[0] == '{' {
		for _, k := range jsonKeys {
			if l, ok := jsonLevel(line, k); ok {
				return l
			}
		}
	}
	if l, ok := logfmtLevel(line); ok {
		return l
	}
	if l, ok := klogLevel(line); ok {
		return l
	}
	return plainLevel(line)
}

var (
	jsonKeys = []string{`"level"`, `"lvl"`, `"severity"`, `"log.level"`}
)

func jsonLevel(line, key string) (logs.Level, bool) {
	i := strings.Index(line, key)
	if i < 0 {
		return 0, false
	}
	s := strings.TrimLeft(line[i+len(key):], " ")
	if len(s) == 0 || s[0] != ':' {
		return 0, false
	}
	s = strings.TrimLeft(s[1:], " ")
	if len(s) == 0 {
		return 0, false
	}
	if s[0] >= '0' && s[0] <= '9' { // pino, bunyan: 10 trace ... 60 fatal
		switch s[0] {
		case '1':
			return logs.LevelTrace, true
		case '2':
			return logs.LevelDebug, true
		case '3':
			return logs.LevelInfo, true
		case '4':
			return logs.LevelWarn, true
		case '5':
			return logs.LevelError, true
		case '6':
			return logs.LevelCritical, true
		}
		return 0, false
	}
	if s[0] != '"' {
		return 0, false
	}
	s = s[1:]
	end := strings.IndexByte(s, '"')
	if end < 0 {
		return 0, false
	}
	return levelWord(s[:end], true)
}

// logfmtLevel finds level= or lvl= as a key: one scan for '=' signs,
// fewer than a substring search per key.
func logfmtLevel(line string) (logs.Level, bool) {
	for off := 0; ; {
		i := strings.IndexByte(line[off:], '=')
		if i < 0 {
			return 0, false
		}
		i += off
		off = i + 1
		var key int
		switch {
		case i >= 5 && line[i-5:i] == "level":
			key = i - 5
		case i >= 3 && line[i-3:i] == "lvl":
			key = i - 3
		default:
			continue
		}
		if key > 0 && line[key-1] != ' ' && line[key-1] != '\t' {
			continue
		}
		s := strings.TrimPrefix(line[i+1:], `"`)
		end := strings.IndexAny(s, "\" \t")
		if end < 0 {
			end = len(s)
		}
		return levelWord(s[:end], true)
	}
}

// klogLevel reads glog/klog's Lmmdd prefix: "E1202 12:00:00.000000 ...".
func klogLevel(line string) (logs.Level, bool) {
	if len(line) < 6 || line[5] != ' ' {
		return 0, false
	}
	for i := 1; i < 5; i++ {
		if line[i] < '0' || line[i] > '9' {
			return 0, false
		}
	}
	switch line[0] {
	case 'I':
		return logs.LevelInfo, true
	case 'W':
		return logs.LevelWarn, true
	case 'E':
		return logs.LevelError, true
	case 'F':
		return logs.LevelCritical, true
	}
	return 0, false
}

// plainLevel looks for an upper-case level word, or any-case one in
// brackets, in the first plainScan bytes.
func plainLevel(line string) logs.Level {
	s := line[:min(len(line), plainScan)]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '[' || c == '<':
			j := i + 1
			for j < len(s) && isLetter(s[j]) {
				j++
			}
			if j < len(s) && (s[j] == ']' || s[j] == '>') && j-i-1 >= 3 {
				if l, ok := levelWord(s[i+1:j], true); ok {
					return l
				}
			}
			i = j - 1
		case c >= 'A' && c <= 'Z' && (i == 0 || !isLetter(s[i-1])):
			j := i + 1
			for j < len(s) && s[j] >= 'A' && s[j] <= 'Z' {
				j++
			}
			if (j == len(s) || !isLetter(s[j])) && j-i >= 3 {
				if l, ok := levelWord(s[i:j], false); ok {
					return l
				}
			}
			i = j - 1
		}
	}
	return logs.LevelUnknown
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// levelWord maps a level name; anyCase allows lower and mixed case.
func levelWord(w string, anyCase bool) (logs.Level, bool) {
	if len(w) < 3 || len(w) > 11 {
		return 0, false
	}
	var buf [11]byte
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'a' && c <= 'z' {
			if !anyCase {
				return 0, false
			}
			c -= 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(w)]) {
	case "TRACE", "TRC":
		return logs.LevelTrace, true
	case "DEBUG", "DBG", "DEBU":
		return logs.LevelDebug, true
	case "INFO", "INF", "NOTICE", "LOG", "INFORMATION":
		return logs.LevelInfo, true
	case "WARN", "WARNING", "WRN":
		return logs.LevelWarn, true
	case "ERROR", "ERR", "EROR":
		return logs.LevelError, true
	case "FATAL", "CRITICAL", "CRIT", "PANIC", "EMERG", "EMERGENCY", "ALERT", "FTL":
		return logs.LevelCritical, true
	}
	return 0, false
}

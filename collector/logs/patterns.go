package logs

import (
	"regexp"
	"strings"

	"github.com/vigie-dev/vigie/logs"
)

// Pattern is a named matcher of entries. Match returns a reason label
// value ("" for none) when the entry matches.
type Pattern struct {
	Name  string
	Match func(line string) (reason string, ok bool)
	// Error marks patterns whose matches are errors: an entry without a
	// detected level gets level error.
	Error bool
}

// Postgres connection failure reasons, as collector/postgres names them.
const (
	ReasonAuthFailed         = "auth_failed"
	ReasonTooManyConnections = "too_many_connections"
	ReasonCannotConnectNow   = "cannot_connect_now"
	ReasonDatabaseMissing    = "database_missing"
)

// BuiltinPatterns are checked on every entry. They use substring checks,
// not regexps: they run on every line.
func BuiltinPatterns() []Pattern {
	return []Pattern{
		{Name: "postgres_connection_error", Match: matchPostgres, Error: true},
		{Name: "go_panic", Match: matchGoPanic, Error: true},
		{Name: "node_unhandled_error", Match: matchNode, Error: true},
		{Name: "http_5xx", Match: matchHTTP5xx},
		{Name: "oom_kill", Match: matchOOM, Error: true},
	}
}

// matchPostgres recognises a PostgreSQL server's (or libpq's) FATAL
// connection failures.
func matchPostgres(line string) (string, bool) {
	i := strings.Index(line, "FATAL:")
	if i < 0 {
		return "", false
	}
	msg := line[i+len("FATAL:"):]
	has := func(s string) bool { return strings.Contains(msg, s) }
	switch {
	case has(`database "`) && has("does not exist"):
		return ReasonDatabaseMissing, true
	case has("password authentication failed"), has("no pg_hba.conf entry"), has("authentication failed for user"),
		has(`role "`) && has("does not exist"), has("is not permitted to log in"):
		return ReasonAuthFailed, true
	case has("too many clients already"), has("too many connections"), has("remaining connection slots are reserved"):
		return ReasonTooManyConnections, true
	case has("the database system is starting up"), has("the database system is shutting down"),
		has("the database system is in recovery mode"), has("not yet accepting connections"):
		return ReasonCannotConnectNow, true
	}
	return "", false
}

func matchGoPanic(line string) (string, bool) {
	switch {
	case strings.HasPrefix(line, "panic: "):
		return "panic", true
	case strings.HasPrefix(line, "fatal error: "):
		return "fatal_error", true
	case strings.Contains(line, "http: panic serving"):
		return "recovered", true
	}
	return "", false
}

func matchNode(line string) (string, bool) {
	// One scan per family: "UnhandledPromiseRejection", "unhandledRejection";
	// "uncaughtException", "Uncaught TypeError".
	if i := strings.Index(line, "nhandled"); i > 0 && (line[i-1] == 'U' || line[i-1] == 'u') {
		return "unhandled_rejection", true
	}
	if i := strings.Index(line, "ncaught"); i > 0 && (line[i-1] == 'U' || line[i-1] == 'u') {
		return "uncaught_exception", true
	}
	if strings.HasPrefix(line, "Node.js v") { // the trailer of a crash report
		return "crash", true
	}
	return "", false
}

// matchHTTP5xx finds the status of a combined/common access line (nginx,
// Traefik: `"GET / HTTP/1.1" 502 ...`) or of a JSON access log
// ("DownstreamStatus":502, "status":502); the reason is the status code.
func matchHTTP5xx(line string) (string, bool) {
	if i := strings.Index(line, " HTTP/"); i >= 0 {
		rest := line[i:]
		if q := strings.IndexByte(rest, '"'); q >= 0 {
			if code, ok := status5xx(rest[q+1:], ' '); ok {
				return code, true
			}
		}
	}
	if len(line) == 0 || line[0] != '{' {
		return "", false
	}
	for _, k := range []string{`"DownstreamStatus":`, `"status":`} {
		if i := strings.Index(line, k); i >= 0 {
			if code, ok := status5xx(line[i+len(k):], 0); ok {
				return code, true
			}
		}
	}
	return "", false
}

// status5xx reads sep (when non-zero), then three digits starting with 5
// followed by a non-digit.
func status5xx(s string, sep byte) (string, bool) {
	if sep != 0 {
		if len(s) == 0 || s[0] != sep {
			return "", false
		}
		s = s[1:]
	}
	if len(s) < 3 || s[0] != '5' || !digit(s[1]) || !digit(s[2]) || len(s) > 3 && digit(s[3]) {
		return "", false
	}
	return s[:3], true
}

func digit(c byte) bool { return c >= '0' && c <= '9' }

// matchOOM counts the kernel's "Killed process" line, one per kill.
func matchOOM(line string) (string, bool) {
	i := strings.Index(line, "ut of memory: Kill")
	return "", i >= 0 && (strings.HasPrefix(line[i+18:], "ed process") || strings.HasPrefix(line[i+18:], " process"))
}

// UserPattern compiles a configured pattern; a regexp that is a plain
// literal becomes a substring check.
func UserPattern(pc logs.PatternConfig) (Pattern, error) {
	re, err := regexp.Compile(pc.Regex)
	if err != nil {
		return Pattern{}, err
	}
	p := Pattern{Name: pc.Name}
	if lit, complete := re.LiteralPrefix(); complete {
		p.Match = func(line string) (string, bool) { return "", strings.Contains(line, lit) }
	} else {
		p.Match = func(line string) (string, bool) { return "", re.MatchString(line) }
	}
	return p, nil
}

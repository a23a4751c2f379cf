package logs

import (
	"bytes"
	"time"
)

type pendingKind uint8

const (
	kindPlain pendingKind = iota
	kindGoPanic
	kindPython
	kindPythonDone
)

// joiner joins continuation lines into the entry before them, so a stack
// trace is one entry:
//   - a line starting with a space or a tab continues (Java "\tat",
//     Node "    at", Python "  File", Go's "\t/path/file.go:12");
//   - "Caused by: " continues (Java);
//   - after "panic: " or "fatal error: ", Go's goroutine dumps continue:
//     blank lines, "goroutine N [", frames "pkg.fn(...)", "created by";
//   - after "Traceback (most recent call last):", the first unindented
//     line (the exception) continues and ends the entry.
//
// An entry is emitted when a line does not continue it, when it reaches
// maxLines, or by tick when no line came for timeout. Blank lines outside
// a Go panic are dropped.
type joiner struct {
	maxLines int
	timeout  time.Duration
	emit     func(line []byte, ts int64, cursor int64)

	buf    []byte
	has    bool
	lines  int
	kind   pendingKind
	ts     int64
	cursor int64     // end offset of the pending entry's last line
	last   time.Time // when a line was last added
}

// add takes one line (without its newline) that ends at cursor.
func (j *joiner) add(line []byte, ts, cursor int64, now time.Time) {
	if j.has && j.lines < j.maxLines && j.continues(line) {
		j.buf = append(j.buf, '\n')
		j.buf = append(j.buf, line...)
		j.lines++
		j.cursor, j.last = cursor, now
		return
	}
	j.flush()
	if len(bytes.TrimSpace(line)) == 0 {
		return
	}
	j.buf = append(j.buf[:0], line...)
	j.has, j.lines, j.ts, j.cursor, j.last = true, 1, ts, cursor, now
	switch {
	case bytes.HasPrefix(line, []byte("panic: ")), bytes.HasPrefix(line, []byte("fatal error: ")):
		j.kind = kindGoPanic
	case bytes.HasPrefix(line, []byte("Traceback (most recent call last):")):
		j.kind = kindPython
	default:
		j.kind = kindPlain
	}
}

func (j *joiner) continues(line []byte) bool {
	if j.kind == kindPythonDone {
		return false
	}
	indented := len(line) > 0 && (line[0] == ' ' || line[0] == '\t')
	switch j.kind {
	case kindGoPanic:
		if len(line) == 0 || goroutineLine(line) {
			return true
		}
	case kindPython:
		if !indented && len(line) > 0 {
			j.kind = kindPythonDone
			return true
		}
	}
	return indented || bytes.HasPrefix(line, []byte("Caused by: "))
}

// goroutineLine recognises the lines of a Go goroutine dump.
func goroutineLine(line []byte) bool {
	for _, p := range [][]byte{[]byte("goroutine "), []byte("created by "), []byte("[signal "), []byte("exit status "), []byte("panic(")} {
		if bytes.HasPrefix(line, p) {
			return true
		}
	}
	// A frame: "main.main()" or "main.(*T).f(0x1, {0x2})".
	p := bytes.IndexByte(line, '(')
	return p > 0 && line[len(line)-1] == ')' && bytes.IndexByte(line[:p], ' ') < 0 && bytes.IndexByte(line[:p], '.') >= 0
}

// tick emits the pending entry when no line came for the timeout.
func (j *joiner) tick(now time.Time) {
	if j.has && now.Sub(j.last) >= j.timeout {
		j.flush()
	}
}

// pending says whether an entry waits for more lines.
func (j *joiner) pending() bool { return j.has }

func (j *joiner) flush() {
	if !j.has {
		return
	}
	j.has = false
	j.emit(j.buf, j.ts, j.cursor)
}

package logs

// A LogQL subset, parsed by hand: Loki's own parser lives in
// github.com/grafana/loki/v3, which is AGPL-3.0, so vigie does not import it.
//
// Supported: a stream selector with =, !=, =~ and !~; line filters |=, !=,
// |~ and !~; the json and logfmt parsers (without parameters); label
// filters with =, !=, =~, !~ on strings and ==, !=, >, >=, <, <= on numbers.
// Anything else is refused with an error naming what is not supported, so
// no query is answered wrongly.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"
)

// Query is a parsed log query.
type Query struct {
	Matchers []*labels.Matcher
	stages   []stage
	parsers  bool
}

type stageKind int

const (
	lineContains stageKind = iota
	lineNotContains
	lineMatches
	lineNotMatches
	parseJSON
	parseLogfmt
	labelString // Matcher
	labelNumber
)

type stage struct {
	kind    stageKind
	text    string
	re      *regexp.Regexp
	matcher *labels.Matcher
	name    string
	op      string
	num     float64
}

// UnsupportedError is a query outside the subset (HTTP 400).
type UnsupportedError struct{ Msg string }

func (e *UnsupportedError) Error() string { return e.Msg }

func unsupported(format string, args ...any) error {
	return &UnsupportedError{Msg: fmt.Sprintf(format, args...) +
		` (vigie answers log queries: {label="value",...} followed by |= != |~ !~ line filters, | json, | logfmt and label filters)`}
}

// ParseQuery parses a log query of the subset.
func ParseQuery(s string) (*Query, error) {
	p := &lexer{src: s}
	p.next()
	if p.tok != "{" {
		if p.kind == tIdent {
			return nil, unsupported("%q: metric queries and functions are not supported", p.tok)
		}
		return nil, fmt.Errorf("parse error: a query starts with a stream selector {...}, got %q", p.tok)
	}
	ms, err := p.selector()
	if err != nil {
		return nil, err
	}
	q := &Query{Matchers: ms}
	if err := q.pipeline(p); err != nil {
		return nil, err
	}
	return q, nil
}

// ParseSelector parses a stream selector alone ({a="b"}), as match[] takes.
func ParseSelector(s string) ([]*labels.Matcher, error) {
	p := &lexer{src: s}
	p.next()
	if p.tok != "{" {
		return nil, fmt.Errorf("parse error: expected a stream selector {...}, got %q", p.tok)
	}
	ms, err := p.selector()
	if err != nil {
		return nil, err
	}
	if p.kind != tEOF {
		return nil, fmt.Errorf("parse error: unexpected %q after the selector", p.tok)
	}
	return ms, nil
}

func (p *lexer) selector() ([]*labels.Matcher, error) {
	var ms []*labels.Matcher
	p.next()
	for p.tok != "}" {
		if p.kind != tIdent {
			return nil, fmt.Errorf("parse error: expected a label name in the selector, got %q", p.tok)
		}
		name := p.tok
		p.next()
		mt, ok := matchTypes[p.tok]
		if !ok || p.kind != tOp {
			return nil, fmt.Errorf("parse error: expected =, !=, =~ or !~ after %s, got %q", name, p.tok)
		}
		p.next()
		if p.kind != tString {
			return nil, fmt.Errorf("parse error: expected a quoted value for %s, got %q", name, p.tok)
		}
		m, err := labels.NewMatcher(mt, name, p.tok)
		if err != nil {
			return nil, fmt.Errorf("parse error: %s: %w", name, err)
		}
		ms = append(ms, m)
		p.next()
		if p.tok == "," {
			p.next()
		} else if p.tok != "}" {
			return nil, fmt.Errorf("parse error: expected , or } in the selector, got %q", p.tok)
		}
	}
	p.next()
	nonEmpty := false
	for _, m := range ms {
		nonEmpty = nonEmpty || !m.Matches("")
	}
	if !nonEmpty {
		return nil, fmt.Errorf("parse error: queries require at least one matcher that does not match the empty string")
	}
	return ms, nil
}

var matchTypes = map[string]labels.MatchType{
	"=": labels.MatchEqual, "!=": labels.MatchNotEqual, "=~": labels.MatchRegexp, "!~": labels.MatchNotRegexp,
}

var lineOps = map[string]stageKind{"|=": lineContains, "!=": lineNotContains, "|~": lineMatches, "!~": lineNotMatches}

func (q *Query) pipeline(p *lexer) error {
	for p.kind != tEOF {
		if k, ok := lineOps[p.tok]; ok && p.kind == tOp {
			p.next()
			if p.kind != tString {
				return fmt.Errorf("parse error: expected a quoted string after a line filter, got %q", p.tok)
			}
			st := stage{kind: k, text: p.tok}
			if k == lineMatches || k == lineNotMatches {
				re, err := regexp.Compile(p.tok)
				if err != nil {
					return fmt.Errorf("parse error: line filter: %w", err)
				}
				st.re = re
			}
			q.stages = append(q.stages, st)
			p.next()
			continue
		}
		if p.tok != "|" {
			return fmt.Errorf("parse error: unexpected %q", p.tok)
		}
		p.next()
		if p.kind != tIdent {
			return fmt.Errorf("parse error: expected a parser or a label filter after |, got %q", p.tok)
		}
		if err := q.pipeStage(p); err != nil {
			return err
		}
	}
	return nil
}

func (q *Query) pipeStage(p *lexer) error {
	name := p.tok
	p.next()
	_, lineOp := lineOps[p.tok]
	switch {
	case (name == "json" || name == "logfmt") && (p.tok == "|" || p.kind == tEOF || lineOp):
		kind := parseJSON
		if name == "logfmt" {
			kind = parseLogfmt
		}
		q.stages = append(q.stages, stage{kind: kind})
		q.parsers = true
		return nil
	case name == "json" || name == "logfmt":
		return unsupported("parameters of | %s are not supported", name)
	case p.kind != tOp:
		return unsupported("| %s is not supported", name)
	}
	op := p.tok
	p.next()
	if mt, ok := matchTypes[op]; ok && p.kind == tString {
		m, err := labels.NewMatcher(mt, name, p.tok)
		if err != nil {
			return fmt.Errorf("parse error: label filter %s: %w", name, err)
		}
		q.stages = append(q.stages, stage{kind: labelString, matcher: m})
		p.next()
		return p.noBoolean()
	}
	switch op {
	case "==", "!=", ">", ">=", "<", "<=":
	default:
		return fmt.Errorf("parse error: unexpected %q after label %s", op, name)
	}
	if p.kind != tNumber {
		return unsupported("label filter %s %s %s: only numbers and quoted strings are supported", name, op, p.tok)
	}
	v, err := strconv.ParseFloat(p.tok, 64)
	if err != nil {
		return fmt.Errorf("parse error: %q is not a number", p.tok)
	}
	q.stages = append(q.stages, stage{kind: labelNumber, name: name, op: op, num: v})
	p.next()
	return p.noBoolean()
}

func (p *lexer) noBoolean() error {
	if p.kind == tIdent || p.tok == "," {
		return unsupported("combining label filters with %q is not supported: chain them with |", p.tok)
	}
	return nil
}

// Contains is a substring every returned line holds (for the store to
// check in SQL), or "".
func (q *Query) Contains() string {
	for _, st := range q.stages {
		if st.kind == lineContains && st.text != "" {
			return st.text
		}
	}
	return ""
}

// Keep runs the pipeline on one line: whether it is kept and its labels.
func (q *Query) Keep(stream labels.Labels, line string) (labels.Labels, bool) {
	var b *labels.Builder
	if q.parsers {
		b = labels.NewBuilder(stream)
	}
	for i := range q.stages {
		st := &q.stages[i]
		switch st.kind {
		case lineContains:
			if !strings.Contains(line, st.text) {
				return stream, false
			}
		case lineNotContains:
			if strings.Contains(line, st.text) {
				return stream, false
			}
		case lineMatches:
			if !st.re.MatchString(line) {
				return stream, false
			}
		case lineNotMatches:
			if st.re.MatchString(line) {
				return stream, false
			}
		case parseJSON:
			extractJSON(b, stream, line)
		case parseLogfmt:
			extractLogfmt(b, stream, line)
		case labelString:
			if !st.matcher.Matches(get(b, stream, st.matcher.Name)) {
				return stream, false
			}
		case labelNumber:
			if !compare(get(b, stream, st.name), st.op, st.num) {
				return stream, false
			}
		}
	}
	if b != nil {
		return b.Labels(), true
	}
	return stream, true
}

func get(b *labels.Builder, stream labels.Labels, name string) string {
	if b != nil {
		return b.Get(name)
	}
	return stream.Get(name)
}

func compare(s, op string, want float64) bool {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return false
	}
	switch op {
	case "==":
		return v == want
	case "!=":
		return v != want
	case ">":
		return v > want
	case ">=":
		return v >= want
	case "<":
		return v < want
	}
	return v <= want
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tString
	tNumber
	tOp
	tPunct
)

type lexer struct {
	src  string
	pos  int
	tok  string
	kind tokKind
}

var ops = []string{"|=", "|~", "!=", "!~", "=~", "==", ">=", "<=", "=", ">", "<", "|"}

// next reads the next token into tok/kind. A bad string gives a tPunct
// token that the parser then reports.
func (p *lexer) next() {
	for p.pos < len(p.src) && unicode.IsSpace(rune(p.src[p.pos])) {
		p.pos++
	}
	if p.pos >= len(p.src) {
		p.tok, p.kind = "", tEOF
		return
	}
	rest := p.src[p.pos:]
	c := rest[0]
	switch {
	case c == '"' || c == '`':
		if s, n, ok := readString(rest); ok {
			p.tok, p.kind = s, tString
			p.pos += n
			return
		}
		p.tok, p.kind = rest, tPunct
		p.pos = len(p.src)
		return
	case c == '_' || unicode.IsLetter(rune(c)):
		n := 1
		for n < len(rest) && (rest[n] == '_' || rest[n] < utf8.RuneSelf && (unicode.IsLetter(rune(rest[n])) || unicode.IsDigit(rune(rest[n])))) {
			n++
		}
		p.tok, p.kind = rest[:n], tIdent
		p.pos += n
		return
	case c == '-' || c == '.' || c >= '0' && c <= '9':
		n := 1
		for n < len(rest) && (rest[n] == '.' || rest[n] >= '0' && rest[n] <= '9' || rest[n] == 'e' || rest[n] == 'E') {
			n++
		}
		p.tok, p.kind = rest[:n], tNumber
		p.pos += n
		return
	}
	for _, op := range ops {
		if strings.HasPrefix(rest, op) {
			p.tok, p.kind = op, tOp
			p.pos += len(op)
			return
		}
	}
	_, n := utf8.DecodeRuneInString(rest)
	p.tok, p.kind = rest[:n], tPunct
	p.pos += n
}

// readString reads a "double-quoted" (Go escapes) or `raw` string.
func readString(s string) (string, int, bool) {
	if s[0] == '`' {
		i := strings.IndexByte(s[1:], '`')
		if i < 0 {
			return "", 0, false
		}
		return s[1 : 1+i], i + 2, true
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			v, err := strconv.Unquote(s[:i+1])
			return v, i + 1, err == nil
		}
	}
	return "", 0, false
}

package notify

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode"

	"github.com/prometheus/prometheus/model/labels"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Matchers is a list of label matchers written as Alertmanager writes them:
// `alertname="Foo"`, `severity=~"crit.*"`, `env!=dev`, or a whole
// `{a="b", c!~"d"}` selector in one string. All must match.
type Matchers []*labels.Matcher

// Matches reports whether every matcher matches the label set.
func (ms Matchers) Matches(lset map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(lset[m.Name]) {
			return false
		}
	}
	return true
}

// String writes the matchers as one selector: {a="b", c=~"d"}.
func (ms Matchers) String() string {
	parts := make([]string, len(ms))
	for i, m := range ms {
		parts[i] = m.Name + m.Type.String() + strconv.Quote(m.Value)
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// UnmarshalYAML reads a list of matcher strings; each string may hold one
// matcher or a {…} selector of several.
func (ms *Matchers) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.SequenceNode {
		return config.NodeError(n, `expected a list of matchers such as ["alertname=\"Foo\"", "severity=~\"crit.*\""]`)
	}
	var out Matchers
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return config.NodeError(c, "expected a matcher string")
		}
		m, err := ParseMatchers(c.Value)
		if err != nil {
			return config.NodeError(c, err.Error())
		}
		out = append(out, m...)
	}
	*ms = out
	return nil
}

// MarshalYAML writes one string per matcher.
func (ms Matchers) MarshalYAML() (any, error) {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Name + m.Type.String() + strconv.Quote(m.Value)
	}
	return out, nil
}

// ParseMatchers parses `a="b"`, `a=~b`, `{a="b", c!~"d"}` or a
// comma-separated list without braces. Values may be quoted (with Go/PromQL
// escapes) or bare; bare values end at a comma or closing brace.
func ParseMatchers(s string) (Matchers, error) {
	in := strings.TrimSpace(s)
	if strings.HasPrefix(in, "{") {
		if !strings.HasSuffix(in, "}") {
			return nil, fmt.Errorf("matcher %q: missing closing }", s)
		}
		in = strings.TrimSpace(in[1 : len(in)-1])
	}
	var out Matchers
	for in != "" {
		m, rest, err := parseOneMatcher(in)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: %w", s, err)
		}
		out = append(out, m)
		rest = strings.TrimSpace(rest)
		if rest == "" {
			break
		}
		if rest[0] != ',' {
			return nil, fmt.Errorf("matcher %q: expected , before %q", s, rest)
		}
		in = strings.TrimSpace(rest[1:])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("matcher %q: empty", s)
	}
	return out, nil
}

func parseOneMatcher(in string) (*labels.Matcher, string, error) {
	i := 0
	for i < len(in) && (in[i] == '_' || unicode.IsLetter(rune(in[i])) || (i > 0 && unicode.IsDigit(rune(in[i])))) {
		i++
	}
	var name string
	if i == 0 && strings.HasPrefix(in, `"`) {
		// A quoted UTF-8 label name.
		q, rest, err := cutQuoted(in)
		if err != nil {
			return nil, "", err
		}
		name, in = q, rest
	} else {
		if i == 0 {
			return nil, "", fmt.Errorf("expected a label name at %q", in)
		}
		name, in = in[:i], in[i:]
	}
	in = strings.TrimLeft(in, " \t")
	var typ labels.MatchType
	switch {
	case strings.HasPrefix(in, "=~"):
		typ, in = labels.MatchRegexp, in[2:]
	case strings.HasPrefix(in, "!~"):
		typ, in = labels.MatchNotRegexp, in[2:]
	case strings.HasPrefix(in, "!="):
		typ, in = labels.MatchNotEqual, in[2:]
	case strings.HasPrefix(in, "="):
		typ, in = labels.MatchEqual, in[1:]
	default:
		return nil, "", fmt.Errorf("expected =, !=, =~ or !~ after %q", name)
	}
	in = strings.TrimLeft(in, " \t")
	var value string
	if strings.HasPrefix(in, `"`) || strings.HasPrefix(in, "'") {
		q, rest, err := cutQuoted(in)
		if err != nil {
			return nil, "", err
		}
		value, in = q, rest
	} else {
		j := strings.IndexAny(in, ",}")
		if j < 0 {
			j = len(in)
		}
		value, in = strings.TrimSpace(in[:j]), in[j:]
	}
	m, err := labels.NewMatcher(typ, name, value)
	if err != nil {
		return nil, "", fmt.Errorf("invalid regular expression %q: %w", value, err)
	}
	return m, in, nil
}

// cutQuoted reads a quoted string at the start of in.
func cutQuoted(in string) (string, string, error) {
	q := in[0]
	for i := 1; i < len(in); i++ {
		switch in[i] {
		case '\\':
			i++
		case q:
			raw := in[:i+1]
			if q == '\'' {
				raw = `"` + strings.ReplaceAll(raw[1:len(raw)-1], `"`, `\"`) + `"`
			}
			v, err := strconv.Unquote(raw)
			if err != nil {
				return "", "", fmt.Errorf("invalid quoted string %s", in[:i+1])
			}
			return v, in[i+1:], nil
		}
	}
	return "", "", fmt.Errorf("unterminated quoted string %s", in)
}

// matchersFromMaps turns Alertmanager's deprecated match/match_re maps into matchers.
func matchersFromMaps(eq, re map[string]string) (Matchers, error) {
	var out Matchers
	for _, k := range sortedKeys(eq) {
		out = append(out, labels.MustNewMatcher(labels.MatchEqual, k, eq[k]))
	}
	for _, k := range sortedKeys(re) {
		m, err := labels.NewMatcher(labels.MatchRegexp, k, re[k])
		if err != nil {
			return nil, fmt.Errorf("match_re %s: invalid regular expression %q: %w", k, re[k], err)
		}
		out = append(out, m)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

package notify

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"sort"
	"strconv"
	"strings"

	amlabels "github.com/prometheus/alertmanager/pkg/labels"
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
// comma-separated list without braces, with Alertmanager's own parser
// (github.com/prometheus/alertmanager/pkg/labels, the one amtool and
// Alertmanager's configuration use): values may be quoted or bare.
// The matchers are then compiled as Prometheus label matchers, which the
// routing tree, inhibition and silences use.
//
// Alertmanager is linked at v0.34.0, the version Prometheus v0.315.0
// already requires. With timeinterval (timeinterval.go) it costs cmd/vigie
// 3 packages (939 → 942), one module (gopkg.in/yaml.v2, which timeinterval
// imports) and 284 KB (57,527,208 → 57,811,144 bytes): kept. v0.35.0 would
// upgrade 43 modules of the graph (aws-sdk-go-v2, go-openapi, otel, grpc)
// for the same two packages. docs/benchmarks/alertmanager-packages.md.
func ParseMatchers(s string) (Matchers, error) {
	if in := strings.TrimSpace(s); strings.HasPrefix(in, "{") && !strings.HasSuffix(in, "}") {
		// Alertmanager's parser lets this pass; a typo should not.
		return nil, fmt.Errorf("matcher %q: missing closing }", s)
	}
	ams, err := amlabels.ParseMatchers(s)
	var re *syntax.Error
	if errors.As(err, &re) {
		return nil, fmt.Errorf("matcher %q: invalid regular expression: %w", s, err)
	}
	if err != nil {
		return nil, fmt.Errorf("matcher %q: %w", s, err)
	}
	if len(ams) == 0 {
		return nil, fmt.Errorf("matcher %q: empty", s)
	}
	out := make(Matchers, 0, len(ams))
	for _, m := range ams {
		var t labels.MatchType
		switch m.Type {
		case amlabels.MatchEqual:
			t = labels.MatchEqual
		case amlabels.MatchNotEqual:
			t = labels.MatchNotEqual
		case amlabels.MatchRegexp:
			t = labels.MatchRegexp
		case amlabels.MatchNotRegexp:
			t = labels.MatchNotRegexp
		}
		pm, err := labels.NewMatcher(t, m.Name, m.Value)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: invalid regular expression %q: %w", s, m.Value, err)
		}
		out = append(out, pm)
	}
	return out, nil
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

package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

type rulefmtGroups = rulefmt.RuleGroups

// parseRuleFile parses and validates one rule file (syntax, PromQL,
// templates) with Prometheus's rulefmt, and returns every error it finds
// as "file:line:col: message". Positions come from the YAML nodes: the
// document is parsed (within config's bounds) and checked against
// rulefmt's types first, and rulefmt's validation errors, which carry the
// group and rule they are about, are placed at that rule's nodes.
func parseRuleFile(file string, content []byte, ignoreUnknownFields bool, scheme model.ValidationScheme, p parser.Parser) (*rulefmt.RuleGroups, []error) {
	doc, err := config.ParseBounded(file, content)
	if err != nil {
		return nil, []error{syntaxError(file, err)}
	}
	if !ignoreUnknownFields {
		if errs := config.CheckYAML(doc, new(rulefmt.RuleGroups)); len(errs) > 0 {
			return nil, fileErrors(file, errs)
		}
	}
	own := checkGroups(file, doc, scheme)
	rgs, errs := rulefmt.Parse(content, ignoreUnknownFields, scheme, p, slog.New(slog.DiscardHandler))
	if len(errs) == 0 && len(own) == 0 {
		return rgs, nil
	}
	out := own
	seen := map[string]bool{}
	for _, err := range errs {
		var re *rulefmt.Error
		switch {
		case errors.As(err, &re):
			err = locateRuleError(file, doc, re)
		case len(own) > 0:
			continue // a group-level error, already reported by checkGroups
		default:
			err = &FileError{File: file, Msg: err.Error()}
		}
		if !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	return nil, out
}

// syntaxError places a YAML syntax error. There is no node when the text
// does not parse; yaml.v3 gives the line only in its message
// ("yaml: line 3: did not find expected '-' indicator"), read here without
// a regular expression.
func syntaxError(file string, err error) error {
	var le *config.LimitError
	if errors.As(err, &le) {
		return err
	}
	msg := strings.TrimPrefix(err.Error(), file+": ")
	if rest, ok := strings.CutPrefix(msg, "yaml: line "); ok {
		if num, text, ok := strings.Cut(rest, ": "); ok {
			if line, err := strconv.Atoi(num); err == nil {
				return &FileError{File: file, Line: line, Msg: text}
			}
		}
	}
	return &FileError{File: file, Msg: msg}
}

// fileErrors turns config.CheckYAML's problems into FileErrors.
func fileErrors(file string, errs []error) []error {
	out := make([]error, 0, len(errs))
	for _, err := range errs {
		var pe *config.PosError
		if errors.As(err, &pe) {
			msg := pe.Msg
			if pe.Path != "" {
				msg = pe.Path + ": " + msg
			}
			out = append(out, &FileError{File: file, Line: pe.Line, Column: pe.Column, Msg: msg})
			continue
		}
		out = append(out, &FileError{File: file, Msg: err.Error()})
	}
	return out
}

// checkGroups makes rulefmt's group-level checks (name set and unique,
// valid group labels) at the nodes, since rulefmt reports those as plain
// text errors.
func checkGroups(file string, doc *yaml.Node, scheme model.ValidationScheme) []error {
	var errs []error
	names := map[string]bool{}
	for _, g := range ruleGroupNodes(doc) {
		_, name := mapEntry(g, "name")
		switch {
		case name == nil || name.Value == "":
			errs = append(errs, &FileError{File: file, Line: g.Line, Column: g.Column, Msg: "Groupname must not be empty"})
		case names[name.Value]:
			errs = append(errs, &FileError{File: file, Line: g.Line, Column: g.Column, Msg: fmt.Sprintf("groupname: %q is repeated in the same file", name.Value)})
		default:
			names[name.Value] = true
		}
		_, ls := mapEntry(g, "labels")
		if scheme != model.UTF8Validation && scheme != model.LegacyValidation {
			continue // rulefmt reports the scheme itself
		}
		for _, kv := range pairs(ls) {
			if !scheme.IsValidLabelName(kv[0].Value) || kv[0].Value == model.MetricNameLabel {
				errs = append(errs, &FileError{File: file, Line: kv[0].Line, Column: kv[0].Column, Msg: "invalid label name: " + kv[0].Value})
			}
			if !model.LabelValue(kv[1].Value).IsValid() {
				errs = append(errs, &FileError{File: file, Line: kv[1].Line, Column: kv[1].Column, Msg: "invalid label value: " + kv[1].Value})
			}
		}
	}
	return errs
}

// locateRuleError places one of rulefmt's rule errors at the node it is
// about in the rule rulefmt names (group and 1-based index): the label or
// annotation it is about, else the expression for PromQL errors, else the
// rule's name, else the rule.
func locateRuleError(file string, doc *yaml.Node, re *rulefmt.Error) error {
	inner := errors.Unwrap(&re.Err)
	if inner == nil {
		inner = &re.Err
	}
	fe := &FileError{File: file, Msg: fmt.Sprintf("group %q, rule %d, %q: %v", re.Group, re.Rule, re.RuleName, inner)}
	r := ruleNode(doc, re.Group, re.Rule)
	if r == nil {
		return fe
	}
	at := func(n *yaml.Node) error {
		fe.Line, fe.Column = n.Line, n.Column
		return fe
	}
	msg := inner.Error()
	for _, section := range []string{"labels", "annotations"} {
		_, m := mapEntry(r, section)
		for _, kv := range pairs(m) {
			k, v := kv[0], kv[1]
			switch msg {
			case "invalid label name: " + k.Value, "invalid annotation name: " + k.Value:
				return at(k)
			case "invalid label value: " + v.Value:
				return at(v)
			}
			if strings.HasPrefix(msg, strings.TrimSuffix(section, "s")+" "+strconv.Quote(k.Value)+": ") {
				return at(v) // a template error in this label or annotation
			}
		}
	}
	if _, expr := mapEntry(r, "expr"); expr != nil && (errors.As(inner, new(parser.ParseErrors)) || strings.Contains(msg, "'expr'")) {
		return at(expr)
	}
	for _, key := range []string{"record", "alert"} {
		if _, n := mapEntry(r, key); n != nil {
			return at(n)
		}
	}
	return at(r)
}

// ruleGroupNodes are the group mappings of a rule file.
func ruleGroupNodes(doc *yaml.Node) []*yaml.Node {
	if doc == nil || len(doc.Content) == 0 {
		return nil
	}
	_, gs := mapEntry(doc.Content[0], "groups")
	if gs == nil || gs.Kind != yaml.SequenceNode {
		return nil
	}
	out := make([]*yaml.Node, 0, len(gs.Content))
	for _, g := range gs.Content {
		out = append(out, resolve(g))
	}
	return out
}

// ruleNode is the index-th (from 1) rule of the first group named group.
func ruleNode(doc *yaml.Node, group string, index int) *yaml.Node {
	for _, g := range ruleGroupNodes(doc) {
		if _, name := mapEntry(g, "name"); name == nil || name.Value != group {
			continue
		}
		_, rs := mapEntry(g, "rules")
		if rs == nil || rs.Kind != yaml.SequenceNode || index < 1 || index > len(rs.Content) {
			return nil
		}
		return resolve(rs.Content[index-1])
	}
	return nil
}

func resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// mapEntry is the key and value nodes of key in mapping m (nil when absent).
func mapEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], resolve(m.Content[i+1])
		}
	}
	return nil, nil
}

// pairs are the key/value nodes of mapping m.
func pairs(m *yaml.Node) [][2]*yaml.Node {
	m = resolve(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	var out [][2]*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, [2]*yaml.Node{m.Content[i], resolve(m.Content[i+1])})
	}
	return out
}

// FileError is a problem in a rule file, at a line (0 when unknown).
type FileError struct {
	File   string
	Line   int
	Column int
	Msg    string
}

func (e *FileError) Error() string {
	switch {
	case e.Line > 0 && e.Column > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return e.File + ": " + e.Msg
}

// CheckFiles checks rule files as `promtool check rules` does: YAML
// syntax and fields, PromQL expressions, label and annotation templates.
// It returns every error of every file, each as file:line:col: message.
func CheckFiles(files ...string) error {
	p := parser.NewParser(parser.Options{})
	var errs []error
	for _, f := range files {
		b, err := config.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, es := parseRuleFile(f, b, false, model.UTF8Validation, p); len(es) > 0 {
			errs = append(errs, es...)
		}
	}
	return errors.Join(errs...)
}

// CountRules returns how many rules a valid rule file holds (for a
// "SUCCESS: N rules found" line).
func CountRules(file string) (int, error) {
	b, err := config.ReadFile(file)
	if err != nil {
		return 0, err
	}
	rgs, es := parseRuleFile(file, b, false, model.UTF8Validation, parser.NewParser(parser.Options{}))
	if len(es) > 0 {
		return 0, errors.Join(es...)
	}
	n := 0
	for _, g := range rgs.Groups {
		n += len(g.Rules)
	}
	return n, nil
}

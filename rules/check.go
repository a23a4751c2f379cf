package rules

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

type rulefmtGroups = rulefmt.RuleGroups

var (
	posRE     = regexp.MustCompile(`^(\d+):(\d+): (.*)$`)
	yamlRE    = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	yamlTypRE = regexp.MustCompile(`^line (\d+): (.*)$`)
)

// parseRuleFile parses and validates one rule file (syntax, PromQL,
// templates) with Prometheus's rulefmt, and returns every error it finds
// as "file:line:col: message".
func parseRuleFile(file string, content []byte, ignoreUnknownFields bool, scheme model.ValidationScheme, p parser.Parser) (*rulefmt.RuleGroups, []error) {
	// The same bounds as the configuration (size, alias expansion, node
	// count), checked before rulefmt decodes and walks the document.
	if _, err := config.ParseBounded(file, content); err != nil && errors.As(err, new(*config.LimitError)) {
		return nil, []error{err}
	}
	rgs, errs := rulefmt.Parse(content, ignoreUnknownFields, scheme, p, slog.New(slog.DiscardHandler))
	if len(errs) == 0 {
		return rgs, nil
	}
	out := make([]error, 0, len(errs))
	seen := map[string]bool{}
	for _, err := range errs {
		for _, e := range locateErrors(file, err) {
			if fe, ok := e.(*FileError); ok && fe.Line == 0 {
				fe.Line, fe.Column = positionInRules(content, fe.Msg)
			}
			if !seen[e.Error()] {
				seen[e.Error()] = true
				out = append(out, e)
			}
		}
	}
	return nil, out
}

var ruleErrRE = regexp.MustCompile(`^group "((?:[^"\\]|\\.)*)", rule (\d+), "(?:[^"\\]|\\.)*": (?:(label|annotation) "((?:[^"\\]|\\.)*)": )?`)

// positionInRules finds where a rulefmt error without a position points:
// the label or annotation it names, else the rule.
func positionInRules(content []byte, msg string) (line, col int) {
	sm := ruleErrRE.FindStringSubmatch(msg)
	if sm == nil {
		return 0, 0
	}
	var doc yaml.Node
	if yaml.Unmarshal(content, &doc) != nil || len(doc.Content) == 0 {
		return 0, 0
	}
	var idx int
	fmt.Sscan(sm[2], &idx)
	groups := mapValue(doc.Content[0], "groups")
	if groups == nil {
		return 0, 0
	}
	for _, g := range groups.Content {
		if n := mapValue(g, "name"); n == nil || n.Value != sm[1] {
			continue
		}
		rs := mapValue(g, "rules")
		if rs == nil || idx < 1 || idx > len(rs.Content) {
			return 0, 0
		}
		r := rs.Content[idx-1]
		if sm[3] != "" {
			if m := mapValue(r, sm[3]+"s"); m != nil {
				if v := mapValue(m, sm[4]); v != nil {
					return v.Line, v.Column
				}
			}
		}
		return r.Line, r.Column
	}
	return 0, 0
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

func locateErrors(file string, err error) []error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var out []error
		for _, m := range te.Errors {
			out = append(out, located(file, m, yamlTypRE))
		}
		return out
	}
	msg := err.Error()
	if sm := yamlRE.FindStringSubmatch(msg); sm != nil {
		return []error{located(file, msg, yamlRE)}
	}
	return []error{located(file, msg, posRE)}
}

func located(file, msg string, re *regexp.Regexp) error {
	sm := re.FindStringSubmatch(msg)
	if sm == nil {
		return &FileError{File: file, Msg: msg}
	}
	fe := &FileError{File: file, Msg: sm[len(sm)-1]}
	fmt.Sscan(sm[1], &fe.Line)
	if len(sm) == 4 {
		fmt.Sscan(sm[2], &fe.Column)
	}
	return fe
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

// Package config holds the building blocks every component's configuration
// uses: durations written as Prometheus writes them, secrets that never print,
// ${ENV} expansion inside string values, and errors that name the file, line
// and field they come from.
//
// Each component owns its Config struct, its defaults and a pure Validate
// method; cmd/vigie assembles them into the root document.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as Prometheus writes it: 15s, 5m, 1h30m, 15d, 2w.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) String() string { return model.Duration(d).String() }

// UnmarshalYAML decodes a Prometheus duration and reports a bad one with its position.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return NodeError(n, "expected a duration such as 15s, 5m or 15d")
	}
	v, err := model.ParseDuration(n.Value)
	if err != nil {
		return NodeError(n, fmt.Sprintf("invalid duration %q", n.Value))
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration back in Prometheus form.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// Secret is a string that never prints: String, logs, YAML and JSON all show <secret>.
type Secret string

const redacted = "<secret>"

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue implements slog.LogValuer: a secret logs as <secret> with every handler.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

var _ slog.LogValuer = Secret("")

// MarshalYAML redacts the secret.
func (s Secret) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalJSON redacts the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(strconv.Quote(s.String())), nil }

// Value returns the secret itself, for the one place that must use it.
func (s Secret) Value() string { return string(s) }

// ResolveSecret returns value, or the trimmed contents of file when file is
// set. Setting both is an error; field names the pair for the message.
func ResolveSecret(value Secret, file, field string) (Secret, error) {
	if value != "" && file != "" {
		return "", fmt.Errorf("%s and %s_file are mutually exclusive", field, field)
	}
	if file == "" {
		return value, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s_file: %w", field, err)
	}
	return Secret(strings.TrimRight(string(b), "\r\n")), nil
}

// FieldError is a validation error about one field, named by its dotted path
// relative to the section that produced it ("interval", "jobs[2].timeout").
// The loader prefixes the section's path and adds the file position.
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Errorf builds a FieldError.
func Errorf(path, format string, args ...any) error {
	return &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Prefix returns errs with every FieldError's path placed under prefix
// ("collect" + "interval" → "collect.interval"); other errors become
// FieldErrors at prefix. It flattens errors.Join trees.
func Prefix(prefix string, errs ...error) error {
	var out []error
	for _, err := range errs {
		for _, e := range flatten(err) {
			var fe *FieldError
			if errors.As(e, &fe) {
				out = append(out, &FieldError{Path: joinPath(prefix, fe.Path), Msg: fe.Msg})
			} else {
				out = append(out, &FieldError{Path: prefix, Msg: e.Error()})
			}
		}
	}
	return errors.Join(out...)
}

func joinPath(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	case strings.HasPrefix(b, "["):
		return a + b
	}
	return a + "." + b
}

func flatten(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

// NodeError returns an error at n's position, for UnmarshalYAML methods.
// Decode calls every such method on its node while it checks the document,
// before decoding, so all of them are reported, each at its node.
func NodeError(n *yaml.Node, msg string) error {
	return &PosError{Line: n.Line, Column: n.Column, Msg: msg}
}

// Positions maps dotted field paths of a YAML document to their nodes.
type Positions map[string]*yaml.Node

// Index walks a document and records the value node of every field path.
func Index(root *yaml.Node) Positions {
	p := Positions{}
	var walk func(path string, n *yaml.Node)
	walk = func(path string, n *yaml.Node) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(path, c)
			}
			return
		case yaml.AliasNode:
			if n.Alias != nil {
				walk(path, n.Alias)
			}
			return
		}
		p[path] = n
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i]
				// Point a key's path at its key node's line for "unknown field" errors too.
				kp := joinPath(path, k.Value)
				walk(kp, n.Content[i+1])
				p["key:"+kp] = k
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(fmt.Sprintf("%s[%d]", path, i), c)
			}
		}
	}
	walk("", root)
	return p
}

// lookup finds the node of path or of its nearest ancestor.
func (p Positions) lookup(path string) *yaml.Node {
	for {
		if n, ok := p[path]; ok {
			return n
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return p[""]
		}
		path = path[:i]
	}
}

// ExpandEnv replaces ${VAR} in every string scalar of the document with the
// environment's value. An unset variable is an error at its position; $$ is a
// literal dollar sign. Keys, numbers and booleans are left alone.
func ExpandEnv(root *yaml.Node, lookup func(string) (string, bool)) error {
	var errs []error
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "") && strings.Contains(n.Value, "$") {
			var missing []string
			out := envRE.ReplaceAllStringFunc(n.Value, func(m string) string {
				if m == "$$" {
					return "$"
				}
				name := m[2 : len(m)-1]
				v, ok := lookup(name)
				if !ok {
					missing = append(missing, name)
				}
				return v
			})
			for _, name := range missing {
				errs = append(errs, errAt(n, path, "environment variable %s is not set", name))
			}
			n.Value = out
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], joinPath(path, n.Content[i].Value))
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i))
			}
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		}
	}
	walk(root, "")
	return errors.Join(errs...)
}

var envRE = regexp.MustCompile(`\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// Validator is implemented by every section that checks itself after decoding.
type Validator interface {
	Validate() error
}

// Decode parses data (from file, for messages) strictly into out: unknown
// keys, wrong types and invalid values are all reported, each as
// "file:line:col: field.path: message", with the position taken from the
// YAML node. After decoding, out.Validate() runs when out implements
// Validator and its FieldErrors get positions too.
func Decode(file string, data []byte, out any) error {
	// Bounded first: size, alias expansion and node count are checked before
	// anything walks or decodes the expanded tree (see limits.go).
	doc, err := ParseBounded(file, data)
	if err != nil {
		return err
	}
	pos := Index(doc)
	if len(doc.Content) == 0 {
		// An empty file is the defaults.
		if v, ok := out.(Validator); ok {
			return locate(file, pos, v.Validate())
		}
		return nil
	}
	if err := ExpandEnv(doc, os.LookupEnv); err != nil {
		return locate(file, pos, err)
	}
	if errs := checkSchema(doc, reflect.TypeOf(out), ""); len(errs) > 0 {
		return locate(file, pos, errs...)
	}
	if err := doc.Decode(out); err != nil {
		return locate(file, pos, err)
	}
	if v, ok := out.(Validator); ok {
		return locate(file, pos, v.Validate())
	}
	return nil
}

// locate turns decode and validation errors into positioned messages, one
// per error, in order, without repeats (an error inside an anchor is found
// once per alias).
func locate(file string, pos Positions, errs ...error) error {
	var msgs []string
	seen := map[string]bool{}
	for _, e := range flatten(errors.Join(errs...)) {
		var m string
		var pe *PosError
		var fe *FieldError
		switch {
		case errors.As(e, &pe):
			m = fmt.Sprintf("%s:%d:%d: ", file, pe.Line, pe.Column)
			if pe.Path != "" {
				m += pe.Path + ": "
			}
			m += pe.Msg
		case errors.As(e, &fe):
			m = atPath(file, pos, fe.Path, fe.Msg)
		default:
			m = file + ": " + e.Error()
		}
		if !seen[m] {
			seen[m] = true
			msgs = append(msgs, m)
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return &Error{File: file, Messages: msgs}
}

func atPath(file string, pos Positions, path, msg string) string {
	n := pos.lookup(path)
	if k, ok := pos["key:"+path]; ok && n == nil {
		n = k
	}
	where := file
	if n != nil && n.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", file, n.Line, n.Column)
	}
	if path == "" {
		return where + ": " + msg
	}
	return fmt.Sprintf("%s: %s: %s", where, path, msg)
}

// Error is every problem found in one configuration file.
type Error struct {
	File     string
	Messages []string
}

func (e *Error) Error() string { return strings.Join(e.Messages, "\n") }

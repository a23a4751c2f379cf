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
	"regexp"
	"sort"
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

// NodeError returns an error that yaml.v3 collects with the others of the
// same document (instead of stopping at the first), carrying n's position.
func NodeError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d:%d: %s", n.Line, n.Column, msg)}}
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

// pathAt finds the deepest field path whose key or value starts on line (and column, when non-zero).
//
// Keys count only when keys is set (unknown-field errors point at a key);
// otherwise the shallowest value starting there is taken, since yaml.v3
// reports a wrong type at the line where the offending value starts.
func (p Positions) pathAt(line, col int, wantKey bool, kind yaml.Kind) (string, bool) {
	best := ""
	found := false
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		n := p[k]
		if n.Line != line || (col != 0 && n.Column != col) {
			continue
		}
		isKey := strings.HasPrefix(k, "key:")
		if isKey != wantKey || (kind != 0 && n.Kind != kind) {
			continue
		}
		path := strings.TrimPrefix(k, "key:")
		if !found || (wantKey && len(path) > len(best)) || (!wantKey && len(path) < len(best)) {
			best, found = path, true
		}
	}
	return best, found
}

var yamlLineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+)(?::(\d+))?: (.*)$`)

// ExpandEnv replaces ${VAR} in every string scalar of the document with the
// environment's value. An unset variable is an error at its position; $$ is a
// literal dollar sign. Keys, numbers and booleans are left alone.
func ExpandEnv(root *yaml.Node, lookup func(string) (string, bool)) error {
	var errs []error
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
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
				errs = append(errs, fmt.Errorf("line %d:%d: environment variable %s is not set", n.Line, n.Column, name))
			}
			n.Value = out
		}
		if n.Kind == yaml.MappingNode {
			for i := 1; i < len(n.Content); i += 2 {
				walk(n.Content[i])
			}
			return
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	return errors.Join(errs...)
}

var envRE = regexp.MustCompile(`\$\$|\$\{[A-Za-z_][A-Za-z0-9_]*\}`)

// Validator is implemented by every section that checks itself after decoding.
type Validator interface {
	Validate() error
}

// Decode parses data (from file, for messages) strictly into out: unknown
// keys, wrong types and invalid values are all reported, each as
// "file:line:col: field.path: message". After decoding, out.Validate() runs
// when out implements Validator and its FieldErrors get positions too.
func Decode(file string, data []byte, out any) error {
	// Bounded first: size, alias expansion and node count are checked before
	// anything walks or decodes the expanded tree (see limits.go).
	docp, err := ParseBounded(file, data)
	if err != nil {
		return err
	}
	doc := *docp
	pos := Index(&doc)
	if len(doc.Content) == 0 {
		// An empty file is the defaults.
		if v, ok := out.(Validator); ok {
			return locate(file, pos, pos, v.Validate())
		}
		return nil
	}
	if err := ExpandEnv(&doc, os.LookupEnv); err != nil {
		return locate(file, pos, pos, err)
	}
	// yaml.v3's Node.Decode has no KnownFields switch, so the expanded tree is
	// encoded again and decoded strictly. Messages from that pass carry lines
	// of the re-encoded text: they are mapped back through the field path.
	enc, err := yaml.Marshal(&doc)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	var encDoc yaml.Node
	if err := yaml.Unmarshal(enc, &encDoc); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	encPos := Index(&encDoc)
	dec := yaml.NewDecoder(strings.NewReader(string(enc)))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil {
		return locate(file, encPos, pos, err)
	}
	if v, ok := out.(Validator); ok {
		return locate(file, pos, pos, v.Validate())
	}
	return nil
}

// locate turns decode and validation errors into positioned messages. Lines
// in yaml messages are looked up in at; positions are reported from orig.
func locate(file string, at, orig Positions, err error) error {
	if err == nil {
		return nil
	}
	var msgs []string
	for _, e := range flatten(err) {
		var te *yaml.TypeError
		if errors.As(e, &te) {
			for _, m := range te.Errors {
				msgs = append(msgs, positionYAMLMessage(file, at, orig, m))
			}
			continue
		}
		var fe *FieldError
		if errors.As(e, &fe) {
			msgs = append(msgs, atPath(file, orig, fe.Path, fe.Msg))
			continue
		}
		msgs = append(msgs, positionYAMLMessage(file, at, orig, e.Error()))
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

func positionYAMLMessage(file string, at, orig Positions, m string) string {
	sm := yamlLineRE.FindStringSubmatch(m)
	if sm == nil {
		return file + ": " + m
	}
	line, _ := strconv.Atoi(sm[1])
	col, _ := strconv.Atoi(sm[2])
	msg := sm[3]
	// yaml.v3's own messages name Go types; say what the user wrote instead.
	if f := unknownFieldRE.FindStringSubmatch(msg); f != nil {
		msg = fmt.Sprintf("unknown field %q", f[1])
	} else if f := cannotUnmarshalRE.FindStringSubmatch(msg); f != nil {
		msg = strings.Replace(fmt.Sprintf("cannot use %s %s as %s", yamlKind(f[1]), strings.Trim(f[2], "`"), goKind(f[3])), "  ", " ", 1)
	}
	var kind yaml.Kind
	if f := cannotUnmarshalRE.FindStringSubmatch(sm[3]); f != nil {
		switch f[1] {
		case "!!seq":
			kind = yaml.SequenceNode
		case "!!map":
			kind = yaml.MappingNode
		default:
			kind = yaml.ScalarNode
		}
	}
	path, ok := at.pathAt(line, col, unknownFieldRE.MatchString(sm[3]), kind)
	if !ok {
		return fmt.Sprintf("%s:%d: %s", file, line, msg)
	}
	if k, isKey := orig["key:"+path]; isKey && unknownFieldRE.MatchString(sm[3]) {
		return fmt.Sprintf("%s:%d:%d: %s: %s", file, k.Line, k.Column, path, msg)
	}
	return atPath(file, orig, path, msg)
}

var (
	unknownFieldRE    = regexp.MustCompile(`^field (\S+) not found in type \S+$`)
	cannotUnmarshalRE = regexp.MustCompile("^cannot unmarshal (!!\\w+) ?(`[^`]*`)? into (\\S+)$")
)

func yamlKind(tag string) string {
	switch tag {
	case "!!str":
		return "string"
	case "!!int":
		return "integer"
	case "!!float":
		return "number"
	case "!!bool":
		return "boolean"
	case "!!map":
		return "mapping"
	case "!!seq":
		return "list"
	}
	return strings.TrimPrefix(tag, "!!")
}

func goKind(t string) string {
	switch {
	case strings.HasPrefix(t, "[]"):
		return "a list"
	case strings.HasPrefix(t, "map["):
		return "a mapping"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "an integer"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case t == "bool":
		return "a boolean"
	case t == "string":
		return "a string"
	}
	return "a " + t[strings.LastIndex(t, ".")+1:]
}

// Error is every problem found in one configuration file.
type Error struct {
	File     string
	Messages []string
}

func (e *Error) Error() string { return strings.Join(e.Messages, "\n") }

package config

import (
	"encoding"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// PosError is a problem at a node of a document: its position comes from
// the yaml.Node, never from parsing a library's message. Path is the dotted
// field path ("items[0].every"), empty when unknown.
type PosError struct {
	Line, Column int
	Path, Msg    string
}

func (e *PosError) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("line %d:%d: %s", e.Line, e.Column, e.Msg)
	}
	return fmt.Sprintf("line %d:%d: %s: %s", e.Line, e.Column, e.Path, e.Msg)
}

func errAt(n *yaml.Node, path, format string, args ...any) error {
	return &PosError{Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)}
}

// CheckYAML checks doc against the type of out (a pointer) as Decode does
// before decoding, and returns every problem as a *PosError.
func CheckYAML(doc *yaml.Node, out any) []error {
	return checkSchema(doc, reflect.TypeOf(out), "")
}

var (
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
	keyCheckerType  = reflect.TypeFor[KeyChecker]()
	// Prometheus's and its libraries' types (URLs, remote_write, relabel
	// configs) implement yaml.v2's interface, which yaml.v3 still calls.
	obsoleteUnmarshalerType = reflect.TypeFor[interface{ UnmarshalYAML(func(any) error) error }]()
	textUnmarshalerType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	timeType                = reflect.TypeFor[time.Time]()
)

// checkSchema walks a document against the Go type it will be decoded into
// and returns every unknown key, duplicated key and value of the wrong kind,
// each at its node. It does what yaml.v3's KnownFields decoding does, but
// keeps the nodes: yaml.v3 reports those problems only as text ("line 3:
// field x not found in type y"), without a column and in Go's terms.
// KeyChecker is implemented by a struct whose UnmarshalYAML reports unknown
// keys itself (for example to accept two spellings of each key): the schema
// check leaves its mapping to that UnmarshalYAML instead of matching keys
// against the struct's fields.
type KeyChecker interface {
	yaml.Unmarshaler
	ChecksOwnKeys()
}

// Values of types with their own UnmarshalYAML (durations, sizes, matchers)
// are checked by calling it, so its NodeError keeps its position too.
func checkSchema(n *yaml.Node, t reflect.Type, path string) []error {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias // bounded: CheckNodes ran first
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		return checkSchema(n.Content[0], t, path)
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.ShortTag() == "!!null" || t.Kind() == reflect.Interface {
		return nil // yaml.v3 leaves the value as it is or sets it to nil
	}
	if t.Kind() != reflect.Struct && reflect.PointerTo(t).Implements(unmarshalerType) {
		return checkUnmarshaler(n, t, path)
	}
	switch t.Kind() {
	case reflect.Struct:
		if reflect.PointerTo(t).Implements(keyCheckerType) {
			return checkUnmarshaler(n, t, path)
		}
		if n.Kind == yaml.MappingNode {
			errs := checkStruct(n, t, path)
			if len(errs) == 0 && reflect.PointerTo(t).Implements(obsoleteUnmarshalerType) {
				// Its own UnmarshalYAML validates too: report it at the mapping.
				errs = checkUnmarshaler(n, t, path)
			}
			return errs
		}
		switch {
		case reflect.PointerTo(t).Implements(unmarshalerType), reflect.PointerTo(t).Implements(obsoleteUnmarshalerType):
			return checkUnmarshaler(n, t, path) // it may accept a scalar or a list
		case n.Kind == yaml.ScalarNode && (reflect.PointerTo(t).Implements(textUnmarshalerType) || t == timeType):
			return checkScalar(n, t, path) // time.Time and other structs written as text
		}
		return []error{mismatch(n, t, path)}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return []error{mismatch(n, t, path)}
		}
		var errs []error
		for _, kv := range mappingPairs(n, &errs, path) {
			errs = append(errs, checkScalar(kv.key, t.Key(), joinPath(path, kv.key.Value))...)
			errs = append(errs, checkSchema(kv.value, t.Elem(), joinPath(path, kv.key.Value))...)
		}
		return errs
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return []error{mismatch(n, t, path)}
		}
		var errs []error
		for i, c := range n.Content {
			errs = append(errs, checkSchema(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))...)
		}
		return errs
	}
	return checkScalar(n, t, path)
}

// checkScalar decodes a scalar alone into a new value of t to see whether it fits.
func checkScalar(n *yaml.Node, t reflect.Type, path string) []error {
	if n.Kind != yaml.ScalarNode {
		return []error{mismatch(n, t, path)}
	}
	if err := n.Decode(reflect.New(t).Interface()); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return []error{mismatch(n, t, path)}
		}
		return []error{errAt(n, path, "%v", err)}
	}
	return nil
}

// checkUnmarshaler runs a type's own UnmarshalYAML on a scratch value.
func checkUnmarshaler(n *yaml.Node, t reflect.Type, path string) []error {
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return nil
	}
	var pe *PosError
	if errors.As(err, &pe) {
		// The type's own errors carry no path, or one relative to it.
		located := *pe
		located.Path = joinPath(path, located.Path)
		return []error{&located}
	}
	return []error{errAt(n, path, "%v", err)}
}

type pair struct{ key, value *yaml.Node }

// mappingPairs returns a mapping's key/value pairs, those merged with <<
// first as yaml.v3 applies them, and reports keys written twice.
func mappingPairs(n *yaml.Node, errs *[]error, path string) []pair {
	var merged, own []pair
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.ShortTag() == "!!merge" {
			merged = append(merged, mergedPairs(v, errs, path)...)
			continue
		}
		if first, dup := seen[k.Value]; dup && k.Kind == yaml.ScalarNode {
			*errs = append(*errs, errAt(k, joinPath(path, k.Value), "mapping key %q already defined at line %d", k.Value, first.Line))
			continue
		}
		seen[k.Value] = k
		own = append(own, pair{k, v})
	}
	return append(merged, own...)
}

// mergedPairs are the pairs a << value brings in: a mapping, or a list of them.
func mergedPairs(v *yaml.Node, errs *[]error, path string) []pair {
	for v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	switch v.Kind {
	case yaml.MappingNode:
		return mappingPairs(v, errs, path)
	case yaml.SequenceNode:
		var out []pair
		for _, c := range v.Content {
			out = append(out, mergedPairs(c, errs, path)...)
		}
		return out
	}
	*errs = append(*errs, errAt(v, path, "map merge requires a mapping or a list of mappings"))
	return nil
}

func checkStruct(n *yaml.Node, t reflect.Type, path string) []error {
	fields, rest := structFields(t)
	var errs []error
	for _, kv := range mappingPairs(n, &errs, path) {
		p := joinPath(path, kv.key.Value)
		ft, ok := fields[kv.key.Value]
		switch {
		case ok:
			errs = append(errs, checkSchema(kv.value, ft, p)...)
		case rest != nil: // an inline map takes the other keys
			errs = append(errs, checkSchema(kv.value, rest.Elem(), p)...)
		default:
			errs = append(errs, errAt(kv.key, p, "unknown field %q", kv.key.Value))
		}
	}
	return errs
}

// structFields maps the keys yaml.v3 decodes into t to their types, with
// `,inline` structs flattened; rest is an inline map's type, if any.
func structFields(t reflect.Type) (fields map[string]reflect.Type, rest reflect.Type) {
	fields = map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.PkgPath != "" && !f.Anonymous {
			continue // unexported
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(","+opts+",", ",inline,") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Map {
				rest = ft
				continue
			}
			inner, innerRest := structFields(ft)
			for k, v := range inner {
				fields[k] = v
			}
			if innerRest != nil {
				rest = innerRest
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	return fields, rest
}

// mismatch says what was written and what was expected, in YAML's words.
func mismatch(n *yaml.Node, t reflect.Type, path string) error {
	what := yamlKind(n.ShortTag())
	switch n.Kind {
	case yaml.SequenceNode:
		what = "list"
	case yaml.MappingNode:
		what = "mapping"
	case yaml.ScalarNode:
		what += " " + n.Value
	}
	return errAt(n, path, "cannot use %s as %s", what, goKind(t))
}

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

func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map:
		return "a mapping"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	}
	if t.Name() == "" {
		return "a mapping"
	}
	return "a " + t.Name()
}

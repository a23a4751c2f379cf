package probe

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// JSON path assertions are the subset every status endpoint needs: $ then
// .key and [index] steps. Hand-written because the JSONPath libraries bring
// filters and scripts that a health check does not use, for a 50-line job.

type jsonStep struct {
	key   string
	index int // when key is ""
}

func parseJSONPath(p string) ([]jsonStep, error) {
	if !strings.HasPrefix(p, "$") {
		return nil, fmt.Errorf("JSON path %q must start with $", p)
	}
	rest := p[1:]
	var steps []jsonStep
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			end := strings.IndexAny(rest, ".[")
			if end < 0 {
				end = len(rest)
			}
			if end == 0 {
				return nil, fmt.Errorf("JSON path %q: empty key", p)
			}
			steps = append(steps, jsonStep{key: rest[:end]})
			rest = rest[end:]
		case '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				return nil, fmt.Errorf("JSON path %q: unclosed [", p)
			}
			in := rest[1:end]
			if q, err := strconv.Unquote(in); err == nil {
				steps = append(steps, jsonStep{key: q})
			} else if n, err := strconv.Atoi(in); err == nil && n >= 0 {
				steps = append(steps, jsonStep{index: n})
			} else {
				return nil, fmt.Errorf("JSON path %q: %q is neither an index nor a quoted key", p, in)
			}
			rest = rest[end+1:]
		default:
			return nil, fmt.Errorf("JSON path %q: expected . or [ at %q", p, rest)
		}
	}
	return steps, nil
}

type jsonCheck struct {
	a     JSONAssertion
	steps []jsonStep
	re    *regexp.Regexp
}

func compileJSON(a JSONAssertion) (jsonCheck, error) {
	steps, err := parseJSONPath(a.Path)
	if err != nil {
		return jsonCheck{}, err
	}
	jc := jsonCheck{a: a, steps: steps}
	if a.Matches != "" {
		if jc.re, err = regexp.Compile(a.Matches); err != nil {
			return jsonCheck{}, err
		}
	}
	return jc, nil
}

func checkJSON(body []byte, checks []jsonCheck) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var doc any
	if err := dec.Decode(&doc); err != nil {
		return failf("body is not JSON: %v", err)
	}
	for _, c := range checks {
		v, ok := lookupJSON(doc, c.steps)
		if !ok {
			return failf("JSON path %s not found", c.a.Path)
		}
		s := jsonString(v)
		if c.a.Equals != nil && s != *c.a.Equals {
			return failf("JSON path %s is %q, want %q", c.a.Path, s, *c.a.Equals)
		}
		if c.re != nil && !c.re.MatchString(s) {
			return failf("JSON path %s is %q, does not match %q", c.a.Path, s, c.a.Matches)
		}
	}
	return nil
}

func lookupJSON(v any, steps []jsonStep) (any, bool) {
	for _, s := range steps {
		switch t := v.(type) {
		case map[string]any:
			if s.key == "" {
				return nil, false
			}
			x, ok := t[s.key]
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			if s.key != "" || s.index >= len(t) {
				return nil, false
			}
			v = t[s.index]
		default:
			return nil, false
		}
	}
	return v, true
}

func jsonString(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return "null"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
	"go.yaml.in/yaml/v3"
)

type item struct {
	Name  string          `yaml:"name"`
	Count int             `yaml:"count"`
	Every config.Duration `yaml:"every"`
	Tags  []string        `yaml:"tags"`
	On    bool            `yaml:"on"`
	Ratio float64         `yaml:"ratio"`
}

type root struct {
	Title string            `yaml:"title"`
	Items []item            `yaml:"items"`
	Env   map[string]string `yaml:"env"`
	Sub   struct {
		Deep item `yaml:"deep"`
	} `yaml:"sub"`
	Pass   config.Secret `yaml:"pass"`
	Inline `yaml:",inline"`
}

type Inline struct {
	Extra string `yaml:"extra"`
}

// Every error is located from the YAML node it is about (line and column),
// all of them are reported, in the user's words rather than Go's.
func TestDecodeErrorsFromNodes(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"titl: x\n", `f.yml:1:1: titl: unknown field "titl"`},
		{"title: [a]\n", `f.yml:1:8: title: cannot use list as a string`},
		{"title:\n  a: 1\n", `f.yml:2:3: title: cannot use mapping as a string`},
		{"items:\n  - name: a\n    count: abc\n", `f.yml:3:12: items[0].count: cannot use string abc as an integer`},
		{"items:\n  - name: a\n    count: [1]\n    every: 5 minutes\n    ratio: x\n    on: maybe\n", strings.Join([]string{
			`f.yml:3:12: items[0].count: cannot use list as an integer`,
			`f.yml:4:12: items[0].every: invalid duration "5 minutes"`,
			`f.yml:5:12: items[0].ratio: cannot use string x as a number`,
			`f.yml:6:9: items[0].on: cannot use string maybe as a boolean`}, "\n")},
		{"items: x\n", `f.yml:1:8: items: cannot use string x as a list`},
		{"items:\n  - x\n", `f.yml:2:5: items[0]: cannot use string x as a item`},
		{"env: [a]\n", `f.yml:1:6: env: cannot use list as a mapping`},
		{"env:\n  a: [1]\n", `f.yml:2:6: env.a: cannot use list as a string`},
		{"sub:\n  deep:\n    nme: a\n", `f.yml:3:5: sub.deep.nme: unknown field "nme"`},
		{"sub: 3\n", `f.yml:1:6: sub: cannot use integer 3 as a mapping`},
		{"pass: ${NOPE_NOT_SET_H3}\n", `f.yml:1:7: pass: environment variable NOPE_NOT_SET_H3 is not set`},
		{"title: a\ntitle: b\n", `f.yml:2:1: title: mapping key "title" already defined at line 1`},
		{"d: &d {name: a, cont: 1}\nitems:\n  - <<: *d\n", "f.yml:1:1: d: unknown field \"d\"\nf.yml:1:17: items[0].cont: unknown field \"cont\""},
		{"items:\n  - every: 1x\n  - every: 2q\n", "f.yml:2:12: items[0].every: invalid duration \"1x\"\nf.yml:3:12: items[1].every: invalid duration \"2q\""},
		{"extra: [1]\n", `f.yml:1:8: extra: cannot use list as a string`},
	} {
		var r root
		err := config.Decode("f.yml", []byte(tc.in), &r)
		if err == nil || err.Error() != tc.want {
			t.Errorf("Decode(%q):\n got %v\nwant %s", tc.in, err, tc.want)
		}
	}
}

func TestDecodeValues(t *testing.T) {
	t.Setenv("H3_NAME", "from-env")
	var r root
	in := "title: t\nextra: e\npass: s3\nitems:\n  - name: ${H3_NAME}\n    count: 3\n    every: 5m\n    tags: [a, b]\n    on: true\n    ratio: 0.5\nenv: {a: b}\n"
	if err := config.Decode("f.yml", []byte(in), &r); err != nil {
		t.Fatal(err)
	}
	it := r.Items[0]
	if r.Title != "t" || r.Extra != "e" || r.Pass.Value() != "s3" || it.Name != "from-env" || it.Count != 3 || it.Every.String() != "5m" || len(it.Tags) != 2 || !it.On || it.Ratio != 0.5 || r.Env["a"] != "b" {
		t.Fatalf("decoded %+v", r)
	}
}

type scalarStruct struct{ v string }

func (s *scalarStruct) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return config.NodeError(n, "expected a word")
	}
	s.v = n.Value
	return nil
}

// Struct types written as scalars (their own UnmarshalYAML, or text such
// as time.Time) are checked by decoding them, not as mappings.
func TestDecodeStructsWrittenAsScalars(t *testing.T) {
	var v struct {
		Word scalarStruct `yaml:"word"`
		At   time.Time    `yaml:"at"`
	}
	if err := config.Decode("f.yml", []byte("word: hello\nat: 2026-01-02T03:04:05Z\n"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Word.v != "hello" || v.At.Year() != 2026 {
		t.Fatalf("decoded %+v", v)
	}
	err := config.Decode("f.yml", []byte("word: [a]\nat: yesterday\n"), &v)
	want := "f.yml:1:7: word: expected a word\nf.yml:2:5: at: parsing time \"yesterday\""
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %v, want %s", err, want)
	}
}

package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// billionLaughs is nine nested anchors, each alias listing the previous one
// nine times: 9^9 nodes once expanded, from about 600 bytes.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString("a0: &a0 [lol]\n")
	for i := 1; i <= 9; i++ {
		refs := make([]string, 9)
		for j := range refs {
			refs[j] = fmt.Sprintf("*a%d", i-1)
		}
		fmt.Fprintf(&b, "a%d: &a%d [%s]\n", i, i, strings.Join(refs, ","))
	}
	return b.String()
}

type doc struct {
	A0 any `yaml:"a0"`
	A1 any `yaml:"a1"`
	A2 any `yaml:"a2"`
	A3 any `yaml:"a3"`
	A4 any `yaml:"a4"`
	A5 any `yaml:"a5"`
	A6 any `yaml:"a6"`
	A7 any `yaml:"a7"`
	A8 any `yaml:"a8"`
	A9 any `yaml:"a9"`
}

// allocated runs f and returns the bytes it allocated.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestDecodeRefusesBillionLaughsCheaply(t *testing.T) {
	data := []byte(billionLaughs())
	var err error
	start := time.Now()
	alloc := allocated(func() {
		var d doc
		err = config.Decode("vigie.yml", data, &d)
	})
	if err == nil {
		t.Fatal("billion laughs accepted")
	}
	// Aliases bring in 18, 171 and 1548 nodes on lines 2 to 4; on line 5
	// each *a3 brings 1549, and the sixth (column 30) passes 10,000.
	want := "vigie.yml:5:30: "
	if !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), "alias expansion exceeds 10000 nodes (config limit)") {
		t.Fatalf("error = %q, want %s…alias expansion exceeds 10000 nodes (config limit)", err, want)
	}
	if alloc > 4<<20 {
		t.Errorf("refusing allocated %d bytes, want under 4 MiB", alloc)
	}
	t.Logf("refused in %s, %d bytes allocated: %v", time.Since(start), alloc, err)
}

func TestDecodeRefusesOversizedFile(t *testing.T) {
	data := []byte("x: " + strings.Repeat("a", config.MaxFileBytes) + "\n")
	var d map[string]string
	err := config.Decode("big.yml", data, &d)
	if err == nil || !strings.Contains(err.Error(), "big.yml: file is larger than 4194304 bytes (config limit)") {
		t.Fatalf("error = %v", err)
	}

	path := filepath.Join(t.TempDir(), "big.yml")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := config.ReadFile(path); err == nil || !strings.Contains(err.Error(), "(config limit)") {
		t.Fatalf("ReadFile error = %v", err)
	}
}

func TestDecodeRefusesTooManyNodes(t *testing.T) {
	// Under the byte limit, over the node limit: a flat list of 2 M zeros
	// is refused from its bytes, before yaml.v3 builds 2 M nodes.
	data := []byte("x: [" + strings.Repeat("0,", 2_000_000) + "0]\n")
	var err error
	alloc := allocated(func() {
		var d map[string][]int
		err = config.Decode("wide.yml", data, &d)
	})
	if err == nil || !strings.Contains(err.Error(), "exceeds 100000 nodes (config limit)") || !strings.HasPrefix(err.Error(), "wide.yml:1:") {
		t.Fatalf("error = %v", err)
	}
	if alloc > 1<<20 {
		t.Errorf("refusing allocated %d bytes, want under 1 MiB", alloc)
	}
	// Few enough characters to be parsed, too many nodes once aliases
	// expand: the exact count refuses it.
	var b strings.Builder
	b.WriteString("a: &a [" + strings.Repeat("0,", 9_000) + "0]\nb: [")
	for range 20 {
		b.WriteString("*a,")
	}
	b.WriteString("0]\n")
	var d map[string][]int
	err = config.Decode("alias.yml", []byte(b.String()), &d)
	if err == nil || !strings.Contains(err.Error(), "alias.yml:2:") || !strings.Contains(err.Error(), "alias expansion exceeds 10000 nodes") {
		t.Fatalf("error = %v", err)
	}
}

func TestDecodeAcceptsAnchors(t *testing.T) {
	data := []byte(`
defaults: &defaults
  interval: 15s
  labels: {team: ops, env: prod}
jobs:
  - <<: *defaults
    name: a
  - <<: *defaults
    name: b
`)
	type job struct {
		Name     string            `yaml:"name"`
		Interval config.Duration   `yaml:"interval"`
		Labels   map[string]string `yaml:"labels"`
	}
	var d struct {
		Defaults job   `yaml:"defaults"`
		Jobs     []job `yaml:"jobs"`
	}
	if err := config.Decode("ok.yml", data, &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Jobs) != 2 || d.Jobs[1].Name != "b" || d.Jobs[1].Interval.D() != 15*time.Second || d.Jobs[0].Labels["team"] != "ops" {
		t.Fatalf("decoded %+v", d)
	}
}

func TestReadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ok.yml")
	if err := os.WriteFile(path, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := config.ReadFile(path)
	if err != nil || string(b) != "a: 1\n" {
		t.Fatalf("ReadFile = %q, %v", b, err)
	}
}

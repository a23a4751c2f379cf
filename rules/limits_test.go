package rules

import (
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/config"
)

// A rule file gets the configuration's parsing limits: nine nested anchors
// (9^9 nodes expanded) and an oversized file are refused, with their
// position, before rulefmt decodes them.
func TestRuleFileParsingLimits(t *testing.T) {
	dir := t.TempDir()
	var laughs strings.Builder
	laughs.WriteString("groups:\n  - name: g\n    rules:\n      - record: r\n        expr: vector(1)\n        labels:\n          a0: &a0 [lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&laughs, "          a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 9), ","))
	}
	bomb := writeFile(t, dir, "bomb.yml", laughs.String())
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	err := CheckFiles(bomb)
	runtime.ReadMemStats(&after)
	if err == nil || !strings.HasPrefix(err.Error(), bomb+":11:") || !strings.Contains(err.Error(), "alias expansion exceeds 10000 nodes (config limit)") {
		t.Fatalf("error = %v", err)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 4<<20 {
		t.Errorf("refusing allocated %d bytes, want under 4 MiB", d)
	}

	big := writeFile(t, dir, "big.yml", "# "+strings.Repeat("x", config.MaxFileBytes)+"\n")
	if err := CheckFiles(big); err == nil || !strings.Contains(err.Error(), big+": file is larger than 4194304 bytes (config limit)") {
		t.Fatalf("error = %v", err)
	}
	l := newLoader(nil)
	if _, errs := l.Load(big, false, 0); len(errs) != 1 || !strings.Contains(errs[0].Error(), "(config limit)") {
		t.Fatalf("Load errors = %v", errs)
	}

	ok := writeFile(t, dir, "anchors.yml", "groups:\n  - name: g\n    rules:\n      - record: a\n        expr: vector(1)\n        labels: &l {team: ops}\n      - record: b\n        expr: vector(2)\n        labels: *l\n")
	if err := CheckFiles(ok); err != nil {
		t.Fatalf("anchors refused: %v", err)
	}
}

// Input series are expanded without promqltest (which would link the
// testing package into the server): a bad series names its line, a
// duplicated series keeps its last values, a histogram compares as written.
func TestUnitTestInputSeries(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "r.yml", "groups:\n  - name: g\n    rules:\n      - record: job:x:sum\n        expr: sum(x)\n")
	test := func(series string) string {
		return "rule_files: [r.yml]\ntests:\n  - interval: 1m\n    input_series:\n" + series + `    promql_expr_test:
      - expr: job:x:sum
        eval_time: 2m
        exp_samples:
          - labels: 'job:x:sum'
            value: 7
      - expr: h
        eval_time: 1m
        exp_samples:
          - labels: 'h'
            histogram: '{{count:2 sum:3 counter_reset_hint:not_reset buckets:[1 1]}}'
`
	}
	hist := "      - series: h\n        values: '{{count:1 sum:1 buckets:[1]}} {{count:2 sum:3 buckets:[1 1]}}'\n"
	ok := writeFile(t, dir, "ok.yml", test("      - series: 'x{a=\"1\"}'\n        values: '9 9 9'\n      - series: 'x{a=\"1\"}'\n        values: '1 2 3'\n      - series: 'x{a=\"2\"}'\n        values: '4 4 _'\n"+hist))
	var out strings.Builder
	if passed, err := RunTests(&out, ok); !passed || err != nil {
		t.Fatalf("RunTests: %v\n%s", err, out.String())
	}
	bad := writeFile(t, dir, "bad.yml", test("      - series: 'x'\n        values: '1 2'\n      - series: 'x{'\n        values: '1'\n"))
	out.Reset()
	if passed, _ := RunTests(&out, bad); passed || !strings.Contains(out.String(), "3:4: parse error") {
		t.Fatalf("bad series accepted or unlocated:\n%s", out.String())
	}
	t.Log(out.String())
}

// Every rule file error is placed at the node it is about, found from the
// YAML tree and rulefmt's structured errors (group, rule index), not by
// reading positions out of messages.
func TestCheckFilesPositionsFromNodes(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		content string
		want    []string
	}{
		{"groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        fore: 1m\n",
			[]string{`:6:9: groups[0].rules[0].fore: unknown field "fore"`}},
		{"groups: x\n", []string{`:1:9: groups: cannot use string x as a list`}},
		{"groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n        for: 5 minutes\n",
			[]string{`:6:14: groups[0].rules[0].for: unknown unit " minutes" in duration "5 minutes"`}},
		{"groups:\n  - name: g\n    labels: {__name__: x}\n    rules:\n      - alert: A\n        expr: up\n  - name: g\n    rules: []\n  - rules: []\n",
			[]string{`:3:14: invalid label name: __name__`, `:7:5: groupname: "g" is repeated in the same file`, `:9:5: Groupname must not be empty`}},
		{"groups:\n  - name: g\n    rules:\n      - alert: A\n        record: b\n        expr: up\n      - record: 'a{b}'\n        expr: up\n        labels: {__name__: x}\n      - alert: C\n        expr: up\n        labels: {ok: '{{ $labels.x'}\n      - alert: D\n",
			[]string{
				`:5:17: group "g", rule 1, "A": only one of 'record' and 'alert' must be set`,
				`:7:17: group "g", rule 2, "a{b}": braces present in the recording rule name`,
				`:9:18: group "g", rule 2, "a{b}": invalid label name: __name__`,
				`:12:22: group "g", rule 3, "C": label "ok": template: __alert_C:1: unclosed action`,
				`:13:16: group "g", rule 4, "D": field 'expr' must be set in rule`,
			}},
		// Through an alias, the error is where the aliased text is written.
		{"groups:\n  - name: g\n    rules:\n      - record: r\n        expr: &e 'sum('\n      - record: s\n        expr: *e\n",
			[]string{`:5:15: group "g", rule 1, "r": could not parse expression`, `:5:15: group "g", rule 2, "s": could not parse expression`}},
	} {
		f := writeFile(t, dir, "f.yml", tc.content)
		err := CheckFiles(f)
		if err == nil {
			t.Errorf("%q: no error", tc.content)
			continue
		}
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != len(tc.want) {
			t.Errorf("%q: %d errors, want %d:\n%v", tc.content, len(lines), len(tc.want), err)
			continue
		}
		for i, w := range tc.want {
			if !strings.HasPrefix(lines[i], f+w) {
				t.Errorf("error %q\nwant prefix %q", lines[i], f+w)
			}
		}
	}
}

func TestUnitTestFileErrorsFromNodes(t *testing.T) {
	dir := t.TempDir()
	f := writeFile(t, dir, "t.yml", "rule_files: []\ntests:\n  - interval: 1m\n    input_serie: []\n    alert_rule_test:\n      - eval_time: soon\n")
	var out strings.Builder
	if ok, _ := RunTests(&out, f); ok {
		t.Fatal("bad unit-test file passed")
	}
	for _, w := range []string{
		f + `:4:5: tests[0].input_serie: unknown field "input_serie"`,
		f + `:6:20: tests[0].alert_rule_test[0].eval_time: not a valid duration string: "soon"`,
	} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("report lacks %q:\n%s", w, out.String())
		}
	}
}

package rules

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
)

func TestBuiltinPackUnitTests(t *testing.T) {
	files, _ := filepath.Glob("builtin/tests/*.yml")
	if len(files) == 0 {
		t.Fatal("no unit tests under builtin/tests")
	}
	var out bytes.Buffer
	ok, err := RunTests(&out, files...)
	if err != nil || !ok {
		t.Fatalf("RunTests: ok=%v err=%v\n%s", ok, err, out.String())
	}
	// Every built-in alert has a test group of its name.
	var all strings.Builder
	for _, f := range files {
		b, _ := os.ReadFile(f)
		all.Write(b)
	}
	for _, name := range BuiltinNames() {
		if !strings.Contains(all.String(), "alertname: "+name+"\n") {
			t.Errorf("built-in rule %s has no unit test", name)
		}
	}
}

func TestRunTestsReportsFailures(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "r.yml", "groups:\n  - name: g\n    rules:\n      - alert: Hot\n        expr: temp > 30\n        for: 2m\n        labels: {severity: warning}\n        annotations: {summary: 'hot {{ $value }}'}\n")
	test := writeFile(t, dir, "t.yml", `rule_files: [r.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'temp{room="a"}'
        values: '35x5 20x5'
    alert_rule_test:
      - eval_time: 1m
        alertname: Hot
        exp_alerts: []
      - eval_time: 3m
        alertname: Hot
        exp_alerts:
          - exp_labels: {room: a, severity: warning}
            exp_annotations: {summary: 'hot 35'}
    promql_expr_test:
      - expr: sum(temp)
        eval_time: 7m
        exp_samples:
          - labels: '{}'
            value: 20
`)
	var out bytes.Buffer
	if ok, err := RunTests(&out, test); !ok || err != nil {
		t.Fatalf("passing test failed: %v\n%s", err, out.String())
	}
	// The same test expecting the alert one minute early must fail, naming it.
	bad := writeFile(t, dir, "bad.yml", strings.Replace(strings.Replace(string(mustRead(t, test)), "eval_time: 3m", "eval_time: 1m", 1), "eval_time: 1m\n        alertname: Hot\n        exp_alerts: []", "eval_time: 0m\n        alertname: Hot\n        exp_alerts: []", 1))
	out.Reset()
	if ok, _ := RunTests(&out, bad); ok || !strings.Contains(out.String(), "alertname: Hot, time: 1m") {
		t.Fatalf("failing test passed or did not say why:\n%s", out.String())
	}
}

func TestBuiltinConfig(t *testing.T) {
	thr, hold := 75.0, config.Duration(10*time.Minute)
	cfg := DefaultConfig()
	cfg.Builtin.Disabled = []string{"HostHighCPU"}
	cfg.Builtin.Overrides = map[string]Override{
		"HostHighMemoryUsage":    {Threshold: &thr, For: &hold},
		"ContainerOOMKilled":     {For: &hold}, // no `for` in the file: one is added
		"ServiceReplicasMissing": {For: &hold},
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	files, err := renderBuiltin(cfg.Builtin)
	if err != nil {
		t.Fatal(err)
	}
	var all string
	for _, f := range files {
		all += string(f.Content)
	}
	for _, want := range []string{
		"node_memory_MemTotal_bytes) > 75\n",
		"increase(container_oom_events_total[5m]) > 0\n        for: 10m",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("rendered pack lacks %q", want)
		}
	}
	if strings.Contains(all, "HostHighCPU") {
		t.Error("disabled HostHighCPU is still in the pack")
	}
	// The rendered pack loads, with the overrides in effect.
	l := newLoader(files)
	for _, f := range files {
		rgs, errs := l.Load(f.Name, false, model.UTF8Validation)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, g := range rgs.Groups {
			for _, r := range g.Rules {
				if r.Alert == "HostHighMemoryUsage" && time.Duration(r.For) != 10*time.Minute {
					t.Errorf("HostHighMemoryUsage for = %v", r.For)
				}
			}
		}
	}

	bad := DefaultConfig()
	bad.EvaluationInterval = config.Duration(500 * time.Millisecond)
	bad.Builtin.Disabled = []string{"NoSuchRule"}
	bad.Builtin.Overrides = map[string]Override{"ServiceReplicasMissing": {Threshold: &thr}}
	err = bad.Validate()
	for _, want := range []string{"evaluation_interval: must be at least 1s", `builtin.disabled[0]: unknown built-in rule "NoSuchRule"`, "builtin.overrides.ServiceReplicasMissing.threshold: rule ServiceReplicasMissing has no threshold"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: want %q in %v", want, err)
		}
	}
}

// TestPromtool proves format parity with Prometheus's own tool: promtool
// accepts the exported pack (with overrides) and passes the unit tests.
func TestPromtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	dir := t.TempDir()
	thr, hold := 80.0, config.Duration(3*time.Minute)
	cfg := DefaultConfig()
	cfg.Builtin.Overrides = map[string]Override{"HostDiskAlmostFull": {Threshold: &thr, For: &hold}}
	if err := ExportBuiltin(dir, cfg); err != nil {
		t.Fatal(err)
	}
	exported, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if len(exported) != len(builtinFiles()) {
		t.Fatalf("exported %d files, want %d", len(exported), len(builtinFiles()))
	}
	out, err := exec.Command(promtool, append([]string{"check", "rules"}, exported...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
	if err := CheckFiles(exported...); err != nil {
		t.Fatalf("CheckFiles on the exported pack: %v", err)
	}
	tests, _ := filepath.Glob("builtin/tests/*.yml")
	out, err = exec.Command(promtool, append([]string{"test", "rules"}, tests...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

func TestCheckFiles(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content string
		want          []string
	}{
		{"syntax.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n       for: 1m\n", []string{"syntax.yml:3:", "did not find expected '-' indicator"}},
		{"unknown_field.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        fore: 1m\n", []string{"unknown_field.yml:6:", "fore"}},
		{"function.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: no_such_function(up) > 0\n", []string{"function.yml:5:15:", `unknown function with name "no_such_function"`}},
		{"template.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up == 0\n        annotations:\n          summary: '{{ $labels.instance '\n", []string{"template.yml:7:20:", `group "g", rule 1, "A": annotation "summary": template: __alert_A:1: unclosed action`}},
		{"two.yml", "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up ==\n      - record: b\n        expr: sum(\n", []string{"two.yml:5:15:", "two.yml:7:15:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckFiles(writeFile(t, dir, tc.name, tc.content))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// env is a data directory with a TSDB, a state database and a Manager.
type env struct {
	t    *testing.T
	dir  string
	st   *storage.Storage
	m    *Manager
	sink *captureSink
}

type captureSink struct {
	mu     sync.Mutex
	alerts []Alert
}

func (c *captureSink) Send(_ context.Context, as []Alert) {
	c.mu.Lock()
	c.alerts = append(c.alerts, as...)
	c.mu.Unlock()
}

func (c *captureSink) all() []Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Alert(nil), c.alerts...)
}

func openEnv(t *testing.T, dir string, cfg Config) *env {
	t.Helper()
	ctx := context.Background()
	logger := slog.New(slog.DiscardHandler)
	if testing.Verbose() {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	st, err := storage.Open(ctx, dir, storage.DefaultConfig(), logger, nil)
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, dir: dir, st: st, sink: &captureSink{}}
	e.m, err = New(Options{Queryable: st.TSDB, Appendable: st.TSDB, State: st.State, Sink: e.sink, Logger: logger,
		Registerer: prometheus.NewRegistry(), ExternalURL: "http://vigie.example:9090"})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.close() })
	return e
}

func (e *env) close() {
	if e.st != nil {
		if err := e.st.Close(); err != nil {
			e.t.Error(err)
		}
		e.st = nil
	}
}

func (e *env) append(ts time.Time, name string, v float64, lbls ...string) {
	e.t.Helper()
	app := e.st.TSDB.Appender(context.Background())
	if _, err := app.Append(0, labels.FromStrings(append([]string{"__name__", name}, lbls...)...), ts.UnixMilli(), v); err != nil {
		e.t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		e.t.Fatal(err)
	}
}

// step appends temp=v and evaluates at ts.
func (e *env) step(ts time.Time, v float64) {
	e.t.Helper()
	e.append(ts, "temp", v, "room", "a")
	e.m.Evaluate(context.Background(), ts)
}

func (e *env) alertState(name string) promrules.AlertState {
	for _, g := range e.m.ruleGroups() {
		for _, r := range g.AlertingRules() {
			if r.Name() != name {
				continue
			}
			st := promrules.StateInactive
			for _, a := range r.ActiveAlerts() {
				st = max(st, a.State)
			}
			return st
		}
	}
	e.t.Fatalf("no rule %s", name)
	return 0
}

func (e *env) query(expr string, ts time.Time) promql.Vector {
	e.t.Helper()
	v, err := promrules.EngineQueryFunc(e.m.Engine(), e.st.TSDB)(context.Background(), expr, ts)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const hotRules = `groups:
  - name: room
    rules:
      - record: room:temp:max
        expr: max by (room) (temp)
      - alert: Hot
        expr: temp > 30
        for: %s
        labels:
          severity: warning
        annotations:
          summary: 'Room {{ $labels.room }} is at {{ $value }} degrees'
`

func userConfig(files ...string) Config {
	cfg := DefaultConfig()
	cfg.Builtin.Enabled = false
	cfg.EvaluationInterval = config.Duration(30 * time.Second)
	cfg.Files = files
	return cfg
}

func base() time.Time { return time.Now().Add(-3 * time.Hour).Truncate(time.Minute).UTC() }

func at(b time.Time, d string) time.Time {
	x, err := time.ParseDuration(d)
	if err != nil {
		panic(err)
	}
	return b.Add(x)
}

func TestBadReloadKeepsRulesRunning(t *testing.T) {
	dir := t.TempDir()
	good := writeFile(t, dir, "room.yml", strings.Replace(hotRules, "%s", "1m", 1))
	e := openEnv(t, t.TempDir(), userConfig(filepath.Join(dir, "*.yml")))
	b := base()
	e.step(b, 35)

	for _, tc := range []struct {
		name, content, want string
	}{
		{"syntax.yml", "groups:\n  - name: x\n    rules:\n      - record: a\n        expr: \"up\n", "syntax.yml:5:"},
		{"function.yml", "groups:\n  - name: x\n    rules:\n      - record: a\n        expr: nope(up)\n", `function.yml:5:15: group "x", rule 1, "a": could not parse expression: 1:1: parse error: unknown function with name "nope"`},
		{"template.yml", "groups:\n  - name: x\n    rules:\n      - alert: a\n        expr: up == 0\n        labels:\n          team: '{{ if }}'\n", `template.yml:7:17: group "x", rule 1, "a": label "team": template: __alert_a:1: missing value for if`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeFile(t, dir, tc.name, tc.content)
			defer os.Remove(p)
			err := e.m.ApplyConfig(userConfig(filepath.Join(dir, "*.yml")))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ApplyConfig error = %v, want %q", err, tc.want)
			}
		})
	}
	// The rules loaded before keep evaluating: the alert fires after its
	// `for` and the recording rule records.
	e.step(at(b, "30s"), 36)
	e.step(at(b, "1m"), 37)
	if s := e.alertState("Hot"); s != promrules.StateFiring {
		t.Fatalf("Hot is %v after failed reloads, want firing", s)
	}
	if v := e.query("room:temp:max", at(b, "1m")); len(v) != 1 || v[0].F != 37 {
		t.Fatalf("room:temp:max = %v", v)
	}
	// A good reload keeps the firing alert's state (group changed: CopyState).
	writeFile(t, dir, "room.yml", strings.Replace(hotRules, "%s", "1m", 1)+"      - record: room:temp:min\n        expr: min by (room) (temp)\n")
	if err := e.m.ApplyConfig(userConfig(good)); err != nil {
		t.Fatal(err)
	}
	if s := e.alertState("Hot"); s != promrules.StateFiring {
		t.Fatalf("Hot is %v after a reload, want firing", s)
	}
}

func TestForClockSurvivesRestart(t *testing.T) {
	rules := writeFile(t, t.TempDir(), "room.yml", strings.Replace(hotRules, "%s", "5m", 1))
	data := t.TempDir()
	b := base()
	e := openEnv(t, data, userConfig(rules))
	for d := time.Duration(0); d <= 3*time.Minute; d += 30 * time.Second {
		e.step(b.Add(d), 35)
	}
	if s := e.alertState("Hot"); s != promrules.StatePending {
		t.Fatalf("Hot is %v at 3m, want pending", s)
	}
	e.close()

	// Down from 3m to 3m30s. Pending for 3m before, so with the downtime
	// not counted it fires at 6m; a restarted clock would wait until 8m30s.
	e = openEnv(t, data, userConfig(rules))
	for d := 210 * time.Second; d <= 330*time.Second; d += 30 * time.Second {
		e.step(b.Add(d), 35)
		if s := e.alertState("Hot"); s != promrules.StatePending {
			t.Fatalf("Hot is %v at %v, want pending", s, d)
		}
	}
	e.step(at(b, "6m"), 35)
	if s := e.alertState("Hot"); s != promrules.StateFiring {
		t.Fatalf("Hot is %v at 6m after a restart at 3m30s, want firing (the `for` clock was not restored)", s)
	}
}

func TestRestartWhileFiringRecordsOneFiring(t *testing.T) {
	rules := writeFile(t, t.TempDir(), "room.yml", strings.Replace(hotRules, "%s", "1m", 1))
	data := t.TempDir()
	b := base()
	ctx := context.Background()
	e := openEnv(t, data, userConfig(rules))
	for d := time.Duration(0); d <= 2*time.Minute; d += 30 * time.Second {
		e.step(b.Add(d), 35+d.Minutes())
	}
	h, err := e.m.History(ctx, HistoryFilter{})
	if err != nil || len(h) != 1 || h[0].EndsAt != nil || !h[0].StartsAt.Equal(at(b, "1m")) {
		t.Fatalf("history before restart = %+v, %v", h, err)
	}
	e.close()

	e = openEnv(t, data, userConfig(rules))
	for d := 150 * time.Second; d <= 4*time.Minute; d += 30 * time.Second {
		e.step(b.Add(d), 35)
	}
	if s := e.alertState("Hot"); s != promrules.StateFiring {
		t.Fatalf("Hot is %v after restart, want firing", s)
	}
	h, err = e.m.History(ctx, HistoryFilter{})
	if err != nil || len(h) != 1 || h[0].EndsAt != nil {
		t.Fatalf("history after restart = %+v, %v (want the one entry, still firing)", h, err)
	}
	// The notification after the restart carries the original start.
	sent := e.sink.all()
	if len(sent) == 0 || sent[len(sent)-1].State != "firing" || !sent[len(sent)-1].StartsAt.Equal(at(b, "1m")) {
		t.Fatalf("alerts sent after restart = %+v, want firing with StartsAt %v", sent, at(b, "1m"))
	}
	// It resolves into the same entry, with the peak value.
	e.step(at(b, "4m30s"), 20)
	h, _ = e.m.History(ctx, HistoryFilter{})
	if len(h) != 1 || h[0].EndsAt == nil || !h[0].EndsAt.Equal(at(b, "4m30s")) || h[0].PeakValue != 37 || h[0].FiredValue != 36 {
		t.Fatalf("history after resolution = %+v", h)
	}
	if h[0].Labels["room"] != "a" || h[0].Annotations["summary"] != "Room a is at 36 degrees" {
		t.Fatalf("history labels/annotations = %v %v", h[0].Labels, h[0].Annotations)
	}
	sent = e.sink.all()
	if last := sent[len(sent)-1]; last.State != "resolved" || !last.EndsAt.Equal(at(b, "4m30s")) || !strings.HasPrefix(last.GeneratorURL, "http://vigie.example:9090/graph?g0.expr=") {
		t.Fatalf("last alert sent = %+v, want resolved", last)
	}
}

func TestRestartAfterResolutionWhileDown(t *testing.T) {
	rules := writeFile(t, t.TempDir(), "room.yml", strings.Replace(hotRules, "%s", "1m", 1))
	data := t.TempDir()
	b := base()
	e := openEnv(t, data, userConfig(rules))
	for d := time.Duration(0); d <= 2*time.Minute; d += 30 * time.Second {
		e.step(b.Add(d), 35)
	}
	e.close()
	e = openEnv(t, data, userConfig(rules))
	for d := 150 * time.Second; d <= 4*time.Minute; d += 30 * time.Second {
		e.step(b.Add(d), 20)
	}
	h, _ := e.m.History(context.Background(), HistoryFilter{})
	if len(h) != 1 || h[0].EndsAt == nil {
		t.Fatalf("history = %+v, want one resolved entry", h)
	}
}

func TestHistoryPruning(t *testing.T) {
	rules := writeFile(t, t.TempDir(), "room.yml", strings.Replace(hotRules, "%s", "0s", 1))
	e := openEnv(t, t.TempDir(), userConfig(rules))
	b := base()
	ctx := context.Background()
	vals := []float64{35, 20, 35, 20, 35} // fires three times, resolves twice
	for i, v := range vals {
		e.step(b.Add(time.Duration(i)*time.Minute), v)
	}
	h, _ := e.m.History(ctx, HistoryFilter{})
	if len(h) != 3 {
		t.Fatalf("history = %+v, want 3 entries", h)
	}
	if f, _ := e.m.History(ctx, HistoryFilter{FiringOnly: true}); len(f) != 1 {
		t.Fatalf("firing entries = %d, want 1", len(f))
	}
	// Entries that ended before 2m go (the first); open ones never do.
	n, err := e.m.Prune(ctx, at(b, "2m"))
	if err != nil || n != 1 {
		t.Fatalf("Prune = %d, %v, want 1", n, err)
	}
	n, _ = e.m.Prune(ctx, at(b, "1h"))
	h, _ = e.m.History(ctx, HistoryFilter{})
	if n != 1 || len(h) != 1 || h[0].EndsAt != nil {
		t.Fatalf("after pruning everything ended: %+v", h)
	}
}

// TestCollectedTriggersEvaluation drives Run the way the collection loop
// does: each commit is followed by Collected(ts), and the groups are
// evaluated at that timestamp right away, well before their timer.
func TestCollectedTriggersEvaluation(t *testing.T) {
	rules := writeFile(t, t.TempDir(), "room.yml", strings.Replace(hotRules, "%s", "0s", 1))
	cfg := userConfig(rules)
	cfg.EvaluationInterval = config.Duration(time.Hour) // the timer would not fire during the test
	e := openEnv(t, t.TempDir(), cfg)
	handled := make(chan time.Time, 8)
	e.m.afterCollected = func(ts time.Time) { handled <- ts }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = e.m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	ts := time.Now().Truncate(time.Millisecond)
	e.append(ts, "temp", 40, "room", "a")
	e.m.Collected(ts)
	eventually(t, 5*time.Second, func() bool { return e.alertState("Hot") == promrules.StateFiring })
	g := e.m.ruleGroups()[0]
	if !g.GetLastEvalTimestamp().Equal(ts) {
		t.Fatalf("evaluated at %v, want the collection's timestamp %v", g.GetLastEvalTimestamp(), ts)
	}
	// A collection before the group's interval has elapsed does not evaluate it again.
	ts2 := ts.Add(time.Second)
	e.append(ts2, "temp", 20, "room", "a")
	e.m.Collected(ts2)
	// Wait until Run has handled this collection, then check it did not evaluate.
	var got time.Time
	for !got.Equal(ts2) {
		select {
		case got = <-handled:
		case <-time.After(5 * time.Second):
			t.Fatal("the collection at ts2 was not handled within 5s")
		}
	}
	if !g.GetLastEvalTimestamp().Equal(ts) {
		t.Fatalf("group evaluated at %v before its interval", g.GetLastEvalTimestamp())
	}
}

func eventually(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAPIShape(t *testing.T) {
	rules := writeFile(t, t.TempDir(), "room.yml", strings.Replace(hotRules, "%s", "0s", 1))
	cfg := userConfig(rules)
	cfg.Builtin.Enabled = true
	e := openEnv(t, t.TempDir(), cfg)
	e.step(base(), 35)

	get := func(q url.Values) map[string]any {
		t.Helper()
		d, err := e.m.RulesData(q)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		b, _ := json.Marshal(d)
		_ = json.Unmarshal(b, &out)
		return out
	}
	all := get(url.Values{})
	groups := all["groups"].([]any)
	if len(groups) != len(builtinFiles())+1 {
		t.Fatalf("%d groups, want %d", len(groups), len(builtinFiles())+1)
	}
	var room map[string]any
	for _, g := range groups {
		if g.(map[string]any)["name"] == "room" {
			room = g.(map[string]any)
		}
	}
	for _, k := range []string{"name", "file", "rules", "interval", "limit", "evaluationTime", "lastEvaluation"} {
		if _, ok := room[k]; !ok {
			t.Errorf("group lacks %q: %v", k, room)
		}
	}
	rs := room["rules"].([]any)
	rec, alert := rs[0].(map[string]any), rs[1].(map[string]any)
	if rec["type"] != "recording" || alert["type"] != "alerting" || alert["state"] != "firing" || alert["health"] != "ok" {
		t.Fatalf("rules = %v", rs)
	}
	a := alert["alerts"].([]any)[0].(map[string]any)
	if a["value"] != "3.5e+01" || a["state"] != "firing" || a["labels"].(map[string]any)["room"] != "a" {
		t.Fatalf("alert = %v", a)
	}
	if g := get(url.Values{"type": {"record"}})["groups"].([]any); len(g) != 1 {
		t.Fatalf("type=record: %d groups", len(g))
	}
	if g := get(url.Values{"rule_name[]": {"HostHighMemoryUsage"}})["groups"].([]any); len(g) != 1 || g[0].(map[string]any)["file"] != "builtin/host.yml" {
		t.Fatalf("rule_name[]: %v", g)
	}
	if g := get(url.Values{"exclude_alerts": {"true"}, "rule_group[]": {"room"}})["groups"].([]any); g[0].(map[string]any)["rules"].([]any)[1].(map[string]any)["alerts"] != nil {
		t.Fatalf("exclude_alerts: %v", g)
	}
	if _, err := e.m.RulesData(url.Values{"type": {"x"}}); err == nil {
		t.Fatal("type=x accepted")
	}
	b, _ := json.Marshal(e.m.AlertsData())
	if !strings.Contains(string(b), `"alerts":[{"labels":{"alertname":"Hot","room":"a","severity":"warning"},"annotations":{"summary":"Room a is at 35 degrees"},"state":"firing","activeAt":`) {
		t.Fatalf("alerts = %s", b)
	}
}

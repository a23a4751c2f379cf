package heartbeat

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/util/teststorage"
	"go.yaml.in/yaml/v3"
)

// builtinAlerts reads the alert expressions of rules/builtin/heartbeats.yml.
func builtinAlerts(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../../rules/builtin/heartbeats.yml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, g := range doc.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	return out
}

// TestBuiltinRulesFollowTheStateMachine scrapes a real Heartbeats every
// 15 s of an injected clock into a TSDB and evaluates the built-in alert
// expressions: each heartbeat alert fires exactly when the state machine
// says down or overrun, and JobFailed while the last
// finished run failed.
func TestBuiltinRulesFollowTheStateMachine(t *testing.T) {
	alerts := builtinAlerts(t)
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{
		{Name: "sync", Period: dur(time.Minute), Grace: dur(30 * time.Second)},
		{Name: "dump", Period: dur(time.Hour), Grace: dur(5 * time.Minute), MaxRuntime: dur(3 * time.Minute)},
	}}, t0)
	sync, dump := f.pingURL(t, "sync"), f.pingURL(t, "dump")
	st := teststorage.New(t)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})

	pings := map[time.Duration][]string{
		30 * time.Second: {sync},
		2 * time.Minute:  {dump + "/start"},
		3 * time.Minute:  {sync}, // sync missed 2m30s ± grace: down from 2m01s to 3m
		7 * time.Minute:  {dump + "/2", sync},
		8 * time.Minute:  {sync, dump + "/start"},
		9 * time.Minute:  {sync, dump + "/0"},
	}
	seen := map[string]bool{}
	for at := time.Duration(0); at <= 12*time.Minute; at += 15 * time.Second {
		f.clk.set(t0.Add(at))
		for _, u := range pings[at] {
			if code := do(t, "POST", u, ""); code != 200 {
				t.Fatalf("at %v: %s: %d", at, u, code)
			}
		}
		f.appendScrape(t, st)
		want := map[string]bool{}
		for _, in := range f.list(t) {
			switch in.Status {
			case StatusDown:
				want["HeartbeatMissing/"+in.Name] = true
			case StatusOverrun:
				want["JobRunningTooLong/"+in.Name] = true
			}
			if in.Failed { // until a success, also while the next run runs
				want["JobFailed/"+in.Name] = true
			}
		}
		got := map[string]bool{}
		for _, a := range []string{"HeartbeatMissing", "JobFailed", "JobRunningTooLong"} {
			q, err := engine.NewInstantQuery(context.Background(), st, nil, alerts[a], f.clk.now())
			if err != nil {
				t.Fatal(err)
			}
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatalf("%s: %v", a, res.Err)
			}
			v, _ := res.Vector()
			for _, s := range v {
				got[a+"/"+s.Metric.Get("name")] = true
			}
			q.Close()
		}
		if g, w := keys(got), keys(want); g != w {
			t.Errorf("at %v: alerts firing %s, state machine says %s", at, g, w)
		}
		for k := range got {
			seen[k] = true
		}
	}
	if w := "HeartbeatMissing/sync JobFailed/dump JobRunningTooLong/dump"; keys(seen) != w {
		t.Errorf("alerts seen %s, want %s", keys(seen), w)
	}
}

func keys(m map[string]bool) string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// appendScrape gathers f's registry into st at the clock's time, as the
// collection loop does (with instance and job labels).
func (f *fixture) appendScrape(t *testing.T, st *teststorage.TestStorage) {
	t.Helper()
	fams, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	app := st.Appender(context.Background())
	ts := f.clk.now().UnixMilli()
	for _, mf := range fams {
		for _, m := range mf.Metric {
			b := labels.NewScratchBuilder(len(m.Label) + 3)
			b.Add(model.MetricNameLabel, mf.GetName())
			b.Add("instance", "h1")
			b.Add("job", "vigie")
			for _, l := range m.Label {
				b.Add(l.GetName(), l.GetValue())
			}
			b.Sort()
			if _, err := app.Append(0, b.Labels(), ts, value(m)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

// TestBuiltinBackupRules evaluates BackupStale and BackupTooSmall over a
// real scrape of a backup tree: stale and none (no file) are stale, empty
// is too small, good raises nothing.
func TestBuiltinBackupRules(t *testing.T) {
	alerts := builtinAlerts(t)
	now := time.Date(2026, 5, 4, 4, 0, 0, 0, time.UTC)
	root, cfg := backupTree(t, now)
	f := &fixture{clk: newClock(now), reg: prometheus.NewRegistry()}
	if _, err := New(context.Background(), Options{Config: cfg, StateDB: openState(t, t.TempDir()), RootPath: root,
		Registerer: f.reg, Now: f.clk.now}); err != nil {
		t.Fatal(err)
	}
	st := teststorage.New(t)
	f.appendScrape(t, st)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	got := map[string]bool{}
	for _, a := range []string{"BackupStale", "BackupTooSmall"} {
		q, err := engine.NewInstantQuery(context.Background(), st, nil, alerts[a], now)
		if err != nil {
			t.Fatal(err)
		}
		res := q.Exec(context.Background())
		v, err := res.Vector()
		if err != nil {
			t.Fatalf("%s: %v", a, err)
		}
		for _, s := range v {
			got[a+"/"+s.Metric.Get("name")] = true
		}
		q.Close()
	}
	if g, w := keys(got), "BackupStale/none BackupStale/stale BackupTooSmall/empty"; g != w {
		t.Errorf("firing %s, want %s", g, w)
	}
}

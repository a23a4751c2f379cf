package uptime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/uptime/probe"
)

func eventually(t *testing.T, timeout time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met after %s: %s", timeout, msg)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func dur(d time.Duration) config.Duration { return config.Duration(d) }

// startManager runs a manager with a history until the test ends.
func startManager(t *testing.T, cfg Config, reg prometheus.Registerer) *Manager {
	t.Helper()
	st := openState(t, filepath.Join(t.TempDir(), "state.db"))
	t.Cleanup(func() { st.Close() })
	m, err := New(Options{Config: cfg, Registerer: reg, StateDB: st})
	if err != nil {
		t.Fatal(err)
	}
	m.maxSpread = 0
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

func statusOf(m *Manager, name string) (ProbeStatus, bool) {
	for _, p := range m.Probes() {
		if p.Config.Name == name {
			return p, true
		}
	}
	return ProbeStatus{}, false
}

func checks(t *testing.T, m *Manager, name string) []Check {
	t.Helper()
	cs, err := m.History().Recent(context.Background(), name, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// A probe whose target hangs until its timeout never delays another probe.
func TestSlowProbeDoesNotDelayOthers(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	t.Cleanup(func() { close(release) })
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(fast.Close)
	reg := prometheus.NewRegistry()
	m := startManager(t, Config{Probes: []probe.Config{
		{Name: "slow", URL: slow.URL, Interval: dur(time.Second), Timeout: dur(time.Second)},
		{Name: "fast", URL: fast.URL, Interval: dur(100 * time.Millisecond), Timeout: dur(100 * time.Millisecond)},
	}}, reg)
	eventually(t, 10*time.Second, func() (bool, string) {
		n := len(checks(t, m, "fast"))
		return n >= 10, "fast checks: " + itoa(n)
	})
	// The first slow check cannot have ended yet (1s timeout) and the fast one ran ten times meanwhile.
	if cs := checks(t, m, "slow"); len(cs) > 1 {
		t.Errorf("slow probe: %d checks", len(cs))
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		cs := checks(t, m, "slow")
		return len(cs) >= 1, "no slow check yet"
	})
	if cs := checks(t, m, "slow"); cs[0].Success || !strings.Contains(cs[0].Reason, "timeout after 1s waiting for response headers") {
		t.Errorf("slow check: %+v", cs[0])
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "vigie_probe_start_delay_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		var under1s uint64
		for _, b := range h.GetBucket() {
			if b.GetUpperBound() == 1 {
				under1s = b.GetCumulativeCount()
			}
		}
		// The bound: no check starts more than 1 s late.
		if h.GetSampleCount() < 10 || under1s != h.GetSampleCount() {
			t.Errorf("start delays: %d samples, %d under 1s", h.GetSampleCount(), under1s)
		}
		return
	}
	t.Error("no vigie_probe_start_delay_seconds")
}

// failures_before_down damps flaps, retries retry at once, and damping
// continues across a restart.
func TestFlapDampingAcrossRestart(t *testing.T) {
	var fail atomic.Bool
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()
	st := openState(t, filepath.Join(t.TempDir(), "state.db"))
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{t: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	cfg := probe.Config{Name: "web", URL: srv.URL, FailuresBeforeDown: 3, Retries: 1}.WithDefaults()
	newM := func() *runner {
		m, err := New(Options{Config: Config{Probes: []probe.Config{cfg}}, StateDB: st, Now: clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		r, err := newRunner(m, cfg)
		if err != nil {
			t.Fatal(err)
		}
		r.restore(ctx)
		return r
	}
	r := newM()
	r.checkOnce(ctx)
	fail.Store(true)
	r.checkOnce(ctx)
	r.checkOnce(ctx)
	if _, st, _ := r.snapshot(); !st.Up || st.ConsecutiveFailures != 2 {
		t.Fatalf("after 2 failures: %+v", st)
	}
	if hits.Load() != 5 {
		t.Errorf("%d requests, want 5 (1 + 2 failures with 1 retry each)", hits.Load())
	}
	// Restart: the third failure in a row takes the probe down.
	r = newM()
	r.checkOnce(ctx)
	last, st3, _ := r.snapshot()
	if st3.Up || st3.ConsecutiveFailures != 3 || !strings.HasSuffix(last.Reason, "(after 2 attempts)") {
		t.Fatalf("after the restart and a third failure: %+v %q", st3, last.Reason)
	}
	fail.Store(false)
	r.checkOnce(ctx)
	bars, _ := r.m.history.Daily(ctx, "web", 1)
	if bars[0].Incidents != 1 || bars[0].Checks != 5 || bars[0].UpChecks != 4 {
		t.Errorf("today: %+v", bars[0])
	}
}

func gather(t *testing.T, c collector.Collector) map[string][]*dto.Metric {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewSet(5*time.Second, nil, c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]*dto.Metric{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf.GetMetric()
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// The collector serves the latest results with instance, job and the
// probe's labels; reloads add, change and remove probes.
func TestCollectorAndReload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	iv := dur(100 * time.Millisecond)
	cfg := Config{Probes: []probe.Config{
		{Name: "a", URL: srv.URL + "/a", Interval: iv, Group: "web"},
		{Name: "b", URL: srv.URL + "/b", Interval: iv, Labels: map[string]string{"service": "shop"}},
	}}
	m := startManager(t, cfg, nil)
	eventually(t, 5*time.Second, func() (bool, string) {
		got := gather(t, m.Collector())["probe_success"]
		return len(got) == 2, "probe_success series: " + itoa(len(got))
	})
	fams := gather(t, m.Collector())
	for _, s := range fams["probe_success"] {
		inst := label(s, "instance")
		switch {
		case inst == srv.URL+"/a" && label(s, "job") == "web":
		case inst == srv.URL+"/b" && label(s, "job") == "uptime" && label(s, "service") == "shop":
		default:
			t.Errorf("unexpected probe_success labels %v", s.GetLabel())
		}
		if s.GetGauge().GetValue() != 1 {
			t.Errorf("probe_success %v", s.GetGauge().GetValue())
		}
	}
	if len(fams["probe_http_duration_seconds"]) != 10 || len(fams["probe_http_status_code"]) != 2 {
		t.Errorf("families: %d phases, %d status codes", len(fams["probe_http_duration_seconds"]), len(fams["probe_http_status_code"]))
	}

	// An invalid configuration changes nothing.
	bad := Config{Probes: []probe.Config{{Name: "x", Type: "smtp"}}}
	if err := m.ApplyConfig(bad); err == nil || !strings.Contains(err.Error(), `probes[0].type: unknown probe type "smtp"`) {
		t.Fatalf("ApplyConfig(bad) = %v", err)
	}
	// Keep a unchanged, drop b, add c.
	before, _ := statusOf(m, "a")
	cfg.Probes = []probe.Config{cfg.Probes[0], {Name: "c", URL: srv.URL + "/c", Interval: iv}}
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := statusOf(m, "b"); ok {
		t.Error("b still runs")
	}
	if after, _ := statusOf(m, "a"); after.Last == nil || before.Last == nil || after.Last.Start.Before(before.Last.Start) {
		t.Error("a lost its state on reload")
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		p, ok := statusOf(m, "c")
		return ok && p.Last != nil, "c has not run"
	})
}

func TestRoutes(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	m := startManager(t, Config{Probes: []probe.Config{{Name: "api", URL: srv.URL, Interval: dur(100 * time.Millisecond), Status: &probe.StatusInfo{Name: "API"},
		HTTP: probe.HTTPConfig{Headers: map[string]string{"Authorization": "Bearer hunter2"}}}}}, nil)
	mux := web.NewMux()
	mux.Handle(m.Routes()...)
	for p, a := range mux.Routes() {
		if a != web.Read {
			t.Errorf("%s is %s, want read", p, a)
		}
	}
	api := httptest.NewServer(mux)
	t.Cleanup(api.Close)
	eventually(t, 5*time.Second, func() (bool, string) { p, _ := statusOf(m, "api"); return p.Last != nil, "no check" })
	get := func(path string, code int) map[string]any {
		resp, err := http.Get(api.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&v)
		if resp.StatusCode != code {
			t.Fatalf("%s: %d %v", path, resp.StatusCode, v)
		}
		return v
	}
	resp, err := http.Get(api.URL + "/api/v1/probes")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(raw), "hunter2") || !strings.Contains(string(raw), `"Authorization":"\u003csecret\u003e"`) {
		t.Errorf("header not redacted: %s", raw)
	}
	list := get("/api/v1/probes", 200)["data"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["last_check"].(map[string]any)["success"] != true {
		t.Errorf("list: %v", list)
	}
	eventually(t, 5*time.Second, func() (bool, string) {
		d := get("/api/v1/probes/api", 200)["data"].(map[string]any)
		bars := d["daily"].([]any)
		up := d["uptime"].(map[string]any)
		return len(bars) == 90 && up["24h"] == 1.0 && len(d["recent"].([]any)) > 0, "detail not complete yet"
	})
	get("/api/v1/probes/nope", 404)
}

func testContext(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// The status page sees only probes with a status block, and their URL only with show_url.
func TestStatusPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	iv := dur(100 * time.Millisecond)
	m := startManager(t, Config{Probes: []probe.Config{
		{Name: "internal", URL: srv.URL + "/i", Interval: iv},
		{Name: "api", URL: srv.URL + "/api", Interval: iv, Status: &probe.StatusInfo{Name: "Public API", Group: "Backend"}},
		{Name: "site", URL: srv.URL + "/", Interval: iv, Status: &probe.StatusInfo{Group: "Apps", ShowURL: true}},
	}}, nil)
	eventually(t, 5*time.Second, func() (bool, string) {
		cs, err := m.StatusPage(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(cs) != 2 || !cs[0].Known || !cs[1].Known || len(cs[0].ResponseTimes) == 0 {
			return false, fmt.Sprintf("%+v", cs)
		}
		if cs[0].Name != "site" || cs[0].URL != srv.URL+"/" || cs[1].Name != "Public API" || cs[1].URL != "" {
			t.Fatalf("components %+v", cs)
		}
		return cs[0].Up && len(cs[0].Daily) == 90 && cs[0].Uptime["90d"] == 1, fmt.Sprintf("%+v", cs[0])
	})
}

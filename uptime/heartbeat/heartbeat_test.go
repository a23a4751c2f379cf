package heartbeat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/storage"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock(t time.Time) *clock { return &clock{t: t} }

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *clock) add(d time.Duration) { c.set(c.now().Add(d)) }

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type fixture struct {
	h    *Heartbeats
	clk  *clock
	srv  *httptest.Server
	reg  *prometheus.Registry
	logs *syncBuffer
	db   *storage.State
}

func openState(t testing.TB, dir string) *storage.State {
	t.Helper()
	db, err := storage.OpenState(context.Background(), filepath.Join(dir, "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openStateB(b *testing.B) *storage.State { return openState(b, b.TempDir()) }

// newFixture runs Heartbeats with cfg behind a real HTTP server.
func newFixture(t *testing.T, cfg Config, start time.Time) *fixture {
	t.Helper()
	f := &fixture{clk: newClock(start), reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	f.db = openState(t, t.TempDir())
	f.h = f.open(t, cfg)
	return f
}

func (f *fixture) open(t *testing.T, cfg Config) *Heartbeats {
	t.Helper()
	f.reg = prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := New(context.Background(), Options{Config: cfg, Logger: logger, Registerer: f.reg, StateDB: f.db, Now: f.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(h.Routes()...)
	if f.srv != nil {
		f.srv.Close()
	}
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.h = h
	return h
}

// pingURL finds name's ping URL through the API.
func (f *fixture) pingURL(t *testing.T, name string) string {
	t.Helper()
	for _, in := range f.list(t) {
		if in.Name == name {
			return in.PingURL
		}
	}
	t.Fatalf("heartbeat %s not listed", name)
	return ""
}

func (f *fixture) list(t *testing.T) []Info {
	t.Helper()
	resp, err := http.Get(f.srv.URL + "/api/v1/heartbeats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Status string
		Data   []Info
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Status != "success" {
		t.Fatalf("list: %v %+v", err, out)
	}
	return out.Data
}

func (f *fixture) info(t *testing.T, name string) Info {
	t.Helper()
	for _, in := range f.list(t) {
		if in.Name == name {
			return in
		}
	}
	t.Fatalf("heartbeat %s not listed", name)
	return Info{}
}

// do sends a ping and returns the status code.
func do(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// metric returns the value of the series name{labels}, and whether it exists.
func (f *fixture) metric(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	fams, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range fams {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.Metric {
			have := map[string]string{}
			for _, l := range m.Label {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Counter != nil:
		return m.Counter.GetValue()
	}
	return m.GetUntyped().GetValue()
}

func dur(d time.Duration) config.Duration { return config.Duration(d) }

var t0 = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

// A heartbeat with a short period goes missing and comes back.
func TestPeriodMissingAndBack(t *testing.T) {
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "sync", Period: dur(time.Minute), Grace: dur(30 * time.Second)}}}, t0)
	url := f.pingURL(t, "sync")
	steps := []struct {
		at     time.Duration
		ping   bool
		status Status
		up     float64
	}{
		{at: 0, status: StatusNew, up: 1},
		{at: 89 * time.Second, status: StatusNew, up: 1},
		{at: 91 * time.Second, status: StatusDown, up: 0},
		{at: 2 * time.Minute, ping: true, status: StatusUp, up: 1},
		{at: 3*time.Minute + 10*time.Second, status: StatusLate, up: 1},
		{at: 3*time.Minute + 31*time.Second, status: StatusDown, up: 0},
		{at: 4 * time.Minute, ping: true, status: StatusUp, up: 1},
	}
	for _, s := range steps {
		f.clk.set(t0.Add(s.at))
		if s.ping {
			if code := do(t, "GET", url, ""); code != 200 {
				t.Fatalf("at %v: ping: %d", s.at, code)
			}
		}
		if got := f.info(t, "sync").Status; got != s.status {
			t.Errorf("at %v: status %s, want %s", s.at, got, s.status)
		}
		if v, _ := f.metric(t, "vigie_heartbeat_up", map[string]string{"name": "sync"}); v != s.up {
			t.Errorf("at %v: vigie_heartbeat_up %v, want %v", s.at, v, s.up)
		}
	}
	v, ok := f.metric(t, "vigie_heartbeat_last_ping_timestamp_seconds", map[string]string{"name": "sync", "kind": "success"})
	if !ok || v != float64(t0.Add(4*time.Minute).Unix()) {
		t.Errorf("last success timestamp %v %v", v, ok)
	}
	v, _ = f.metric(t, "vigie_heartbeat_deadline_timestamp_seconds", map[string]string{"name": "sync"})
	if want := float64(t0.Add(5*time.Minute + 30*time.Second).Unix()); v != want {
		t.Errorf("deadline %v, want %v", v, want)
	}
}

// The cron due time follows the schedule's wall clock across DST changes
// in Europe/Paris (2026-03-29 02:00 CET → 03:00 CEST; 2026-10-25 03:00 CEST → 02:00 CET).
func TestCronDueAcrossDST(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		schedule string
		ref, due time.Time
	}{
		{"spring: 03:00 comes 23h later", "0 3 * * *", time.Date(2026, 3, 28, 3, 5, 0, 0, paris), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
		{"spring: 02:30 is skipped, due at 03:30 CEST the same day", "30 2 * * *", time.Date(2026, 3, 28, 2, 35, 0, 0, paris), time.Date(2026, 3, 29, 1, 30, 0, 0, time.UTC)},
		{"autumn: 03:00 comes 25h later", "0 3 * * *", time.Date(2026, 10, 24, 3, 5, 0, 0, paris), time.Date(2026, 10, 25, 2, 0, 0, 0, time.UTC)},
		{"autumn: repeated 02:30 is due once, at its second occurrence", "30 2 * * *", time.Date(2026, 10, 24, 2, 35, 0, 0, paris), time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC)},
		{"autumn: a run in the first 02:30 counts for the day", "30 2 * * *", time.Date(2026, 10, 25, 0, 31, 0, 0, time.UTC), time.Date(2026, 10, 26, 1, 30, 0, 0, time.UTC)},
		{"hourly across the spring gap", "0 * * * *", time.Date(2026, 3, 29, 1, 30, 0, 0, paris), time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tm, err := newTiming(HeartbeatConfig{Schedule: tc.schedule, Timezone: "Europe/Paris"})
			if err != nil {
				t.Fatal(err)
			}
			if got := tm.next(tc.ref); !got.Equal(tc.due) {
				t.Errorf("next(%v) = %v (%v), want %v", tc.ref, got.UTC(), got, tc.due)
			}
		})
	}

	// End to end with the injected clock: a daily 03:00 Paris backup.
	start := time.Date(2026, 3, 28, 2, 5, 0, 0, time.UTC) // 03:05 CET
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "backup", Schedule: "0 3 * * *", Timezone: "Europe/Paris", Grace: dur(10 * time.Minute)}}}, start)
	if code := do(t, "POST", f.pingURL(t, "backup"), "dump ok\n"); code != 200 {
		t.Fatal(code)
	}
	for _, s := range []struct {
		at   time.Time
		want Status
	}{
		{time.Date(2026, 3, 29, 0, 59, 0, 0, time.UTC), StatusUp},
		{time.Date(2026, 3, 29, 1, 9, 0, 0, time.UTC), StatusLate}, // 03:09 CEST
		{time.Date(2026, 3, 29, 1, 11, 0, 0, time.UTC), StatusDown},
	} {
		f.clk.set(s.at)
		if got := f.info(t, "backup").Status; got != s.want {
			t.Errorf("at %v: %s, want %s", s.at, got, s.want)
		}
	}
}

// start, success with exit code 0, a failure with an exit code and the
// output tail, overrun past max_runtime.
func TestPingKinds(t *testing.T) {
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "dump", Period: dur(time.Hour), Grace: dur(time.Minute), MaxRuntime: dur(10 * time.Minute)}}}, t0)
	url := f.pingURL(t, "dump")

	if code := do(t, "POST", url+"/start", ""); code != 200 {
		t.Fatal(code)
	}
	f.clk.add(5 * time.Minute)
	if in := f.info(t, "dump"); in.Status != StatusRunning || in.LastKind != KindStart {
		t.Errorf("after start: %+v", in)
	}
	if v, _ := f.metric(t, "vigie_heartbeat_running", map[string]string{"name": "dump"}); v != 1 {
		t.Errorf("running %v", v)
	}
	f.clk.add(6 * time.Minute)
	if got := f.info(t, "dump").Status; got != StatusOverrun {
		t.Errorf("after 11m running: %s", got)
	}
	if code := do(t, "POST", url+"/0", "all good\n"); code != 200 {
		t.Fatal(code)
	}
	in := f.info(t, "dump")
	if in.Status != StatusUp || in.LastExitCode == nil || *in.LastExitCode != 0 || in.LastDurationSeconds == nil || *in.LastDurationSeconds != 660 {
		t.Errorf("after /0: %+v", in)
	}

	f.clk.add(time.Hour)
	do(t, "GET", url+"/start", "")
	f.clk.add(90 * time.Second)
	if code := do(t, "POST", url+"/3", "step 1\npg_dump: error: connection refused\n"); code != 200 {
		t.Fatal(code)
	}
	in = f.info(t, "dump")
	if in.Status != StatusFailed || *in.LastExitCode != 3 || *in.LastDurationSeconds != 90 {
		t.Errorf("after /3: %+v", in)
	}
	tail, exit, ok := f.h.LastOutput("dump")
	if !ok || exit != 3 || tail != "step 1\npg_dump: error: connection refused\n" {
		t.Errorf("LastOutput = %q, %d, %v", tail, exit, ok)
	}
	for name, want := range map[string]float64{"vigie_heartbeat_failed": 1, "vigie_heartbeat_last_exit_code": 3, "vigie_heartbeat_up": 0, "vigie_heartbeat_running": 0, "vigie_heartbeat_last_duration_seconds": 90, "vigie_heartbeat_max_runtime_seconds": 600} {
		if v, ok := f.metric(t, name, map[string]string{"name": "dump"}); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}

	do(t, "POST", url+"/fail", "")
	if _, exit, _ := f.h.LastOutput("dump"); exit != -1 {
		t.Errorf("fail without code: exit %d, want -1", exit)
	}
	if code := do(t, "GET", url+"/nope", ""); code != http.StatusBadRequest {
		t.Errorf("unknown action: %d", code)
	}
	if code := do(t, "GET", url+"/256", ""); code != http.StatusBadRequest {
		t.Errorf("exit code 256: %d", code)
	}
	if code := do(t, "GET", url, ""); code != 200 {
		t.Fatal(code)
	}
	if got := f.info(t, "dump").Status; got != StatusUp {
		t.Errorf("after success: %s", got)
	}
}

// A body longer than MaxOutput keeps its tail, from a line start.
func TestBodyTail(t *testing.T) {
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "j", Period: dur(time.Hour)}}}, t0)
	var b strings.Builder
	for i := 0; b.Len() < 50<<10; i++ {
		b.WriteString(strings.Repeat("x", 70) + "\n")
	}
	b.WriteString("the end\n")
	do(t, "POST", f.pingURL(t, "j")+"/1", b.String())
	tail, _, _ := f.h.LastOutput("j")
	if len(tail) > MaxOutput || !strings.HasSuffix(tail, "x\nthe end\n") || !strings.HasPrefix(tail, "xxx") {
		t.Errorf("tail of %d bytes: %q…%q", len(tail), tail[:10], tail[len(tail)-20:])
	}
}

// A wrong token gets 404, then 429 past the burst; tokens never reach the logs.
func TestUnknownTokenRateLimitAndLogs(t *testing.T) {
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "nightly", Period: dur(time.Hour)}}}, t0)
	good := f.pingURL(t, "nightly")
	token := good[strings.LastIndex(good, "/")+1:]
	if len(token) < 32 {
		t.Fatalf("token %q is short", token)
	}
	if code := do(t, "POST", good+"/start", "secret output"); code != 200 {
		t.Fatal(code)
	}
	wrong := f.srv.URL + "/ping/not-the-token-0123456789abcdefghij"
	for i := range missBurst {
		if code := do(t, "GET", wrong, ""); code != http.StatusNotFound {
			t.Fatalf("miss %d: %d, want 404", i, code)
		}
	}
	if code := do(t, "GET", wrong, ""); code != http.StatusTooManyRequests {
		t.Fatalf("past the burst: %d, want 429", code)
	}
	if code := do(t, "GET", good, ""); code != http.StatusTooManyRequests {
		t.Fatalf("a blocked address is blocked for every token: %d", code)
	}
	f.clk.add(6 * time.Second) // one token back
	if code := do(t, "GET", wrong, ""); code != http.StatusNotFound {
		t.Fatalf("after 6s: %d, want 404", code)
	}
	f.clk.add(time.Minute)
	if code := do(t, "GET", good, ""); code != 200 {
		t.Fatalf("good token after a minute: %d", code)
	}
	if err := f.h.observe(context.Background(), f.clk.now(), nil); err != nil {
		t.Fatal(err)
	}
	logs := f.logs.String()
	if strings.Contains(logs, token) || strings.Contains(logs, "not-the-token") {
		t.Errorf("a token reached the logs:\n%s", logs)
	}
	if !strings.Contains(logs, "heartbeat=nightly") {
		t.Errorf("pings are not logged by name:\n%s", logs)
	}
}

// A restart keeps the token, the pings and the output; a reload keeps
// them for a heartbeat that keeps its name and adds a token for a new one.
func TestRestartAndReload(t *testing.T) {
	cfg := Config{Heartbeats: []HeartbeatConfig{{Name: "a", Period: dur(time.Hour), Grace: dur(time.Minute)}}}
	f := newFixture(t, cfg, t0)
	url := f.pingURL(t, "a")
	do(t, "POST", url+"/start", "")
	f.clk.add(time.Minute)
	do(t, "POST", url+"/2", "boom\n")

	f.open(t, cfg)
	if got := f.pingURL(t, "a"); got[strings.LastIndex(got, "/"):] != url[strings.LastIndex(url, "/"):] {
		t.Errorf("token changed across a restart: %s → %s", url, got)
	}
	in := f.info(t, "a")
	if in.Status != StatusFailed || *in.LastExitCode != 2 || *in.LastDurationSeconds != 60 || !in.LastPings[KindStart].Equal(t0) {
		t.Errorf("after restart: %+v", in)
	}
	if tail, code, ok := f.h.LastOutput("a"); tail != "boom\n" || code != 2 || !ok {
		t.Errorf("LastOutput after restart: %q %d %v", tail, code, ok)
	}

	cfg.Heartbeats[0].Grace = dur(2 * time.Minute)
	cfg.Heartbeats = append(cfg.Heartbeats, HeartbeatConfig{Name: "b", Schedule: "@daily", Grace: dur(time.Minute)})
	if err := f.h.ApplyConfig(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got := f.info(t, "a"); got.Grace != "2m" || got.Status != StatusFailed || got.PingURL[len(got.PingURL)-32:] != url[len(url)-32:] {
		t.Errorf("after reload: %+v", got)
	}
	if b := f.pingURL(t, "b"); b == "" || b == url {
		t.Errorf("b: %q", b)
	}
	bad := cfg
	bad.Heartbeats = append(bad.Heartbeats, HeartbeatConfig{Name: "a", Period: dur(time.Hour)})
	if err := f.h.ApplyConfig(context.Background(), bad); err == nil {
		t.Error("a duplicate name was applied")
	}
	if len(f.list(t)) != 2 {
		t.Error("a refused reload changed the heartbeats")
	}
}

// The listing's ping URLs start with the external URL when one is set.
func TestListExternalURL(t *testing.T) {
	db := openState(t, t.TempDir())
	h, err := New(context.Background(), Options{
		Config:  Config{Heartbeats: []HeartbeatConfig{{Name: "x", Period: dur(time.Hour)}}},
		StateDB: db, ExternalURL: "https://vigie.example.com/",
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.handleList(rec, httptest.NewRequest("GET", "/api/v1/heartbeats", nil))
	if !strings.Contains(rec.Body.String(), `"ping_url":"https://vigie.example.com/ping/`) {
		t.Errorf("listing: %s", rec.Body)
	}
	for _, r := range h.Routes() {
		want := web.Public
		if strings.HasPrefix(r.Pattern, "GET /api/") {
			want = web.Read
		}
		if r.Access != want {
			t.Errorf("%s: access %s, want %s", r.Pattern, r.Access, want)
		}
	}
}

// Pings in the same millisecond are ordered by arrival, and a run under
// way is still under way after a restart.
func TestRunningByArrival(t *testing.T) {
	cfg := Config{Heartbeats: []HeartbeatConfig{{Name: "j", Period: dur(time.Hour)}}}
	f := newFixture(t, cfg, t0)
	url := f.pingURL(t, "j")
	for _, s := range []struct {
		ping string
		want Status
	}{{"/start", StatusRunning}, {"/0", StatusUp}, {"/start", StatusRunning}, {"/fail", StatusFailed}, {"/start", StatusRunning}} {
		do(t, "POST", url+s.ping, "")
		if got := f.info(t, "j").Status; got != s.want {
			t.Errorf("after %s in the same millisecond: %s, want %s", s.ping, got, s.want)
		}
	}
	f.open(t, cfg)
	if in := f.info(t, "j"); in.Status != StatusRunning || !in.Failed {
		t.Errorf("after restart: %+v", in)
	}
}

// The status history records when each status began: the deadline for
// down, the ping for up; a restart neither loses nor repeats it.
func TestHistory(t *testing.T) {
	cfg := Config{Heartbeats: []HeartbeatConfig{{Name: "sync", Period: dur(time.Minute), Grace: dur(30 * time.Second)}}}
	f := newFixture(t, cfg, t0)
	ctx := context.Background()
	url := f.pingURL(t, "sync")
	observe := func(at time.Duration) {
		t.Helper()
		f.clk.set(t0.Add(at))
		if err := f.h.observe(ctx, f.clk.now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	observe(0)
	observe(5 * time.Minute) // missed the 1m30s deadline, seen late
	f.clk.set(t0.Add(6 * time.Minute))
	do(t, "GET", url, "")
	observe(6*time.Minute + 15*time.Second)

	f.open(t, cfg) // restart
	observe(6*time.Minute + 30*time.Second)
	observe(7*time.Minute + 10*time.Second) // late from 7m
	hist, err := f.h.History(ctx, "sync", t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range hist {
		got = append(got, tr.At.Sub(t0).String()+" "+string(tr.Status))
	}
	if g, w := strings.Join(got, ", "), "0s new, 1m30s down, 6m0s up, 7m0s late"; g != w {
		t.Errorf("history %s, want %s", g, w)
	}
	hist, _ = f.h.History(ctx, "sync", t0.Add(2*time.Minute), t0.Add(time.Hour))
	if len(hist) != 3 || hist[0].Status != StatusDown {
		t.Errorf("history from 2m starts with the status then: %v", hist)
	}
}

package status

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
	"github.com/vigie-dev/vigie/uptime/probe"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// fixtureNow is the fixture's "now", years ahead of the real clock. The
// uptime Manager runs, but its probes (1 h interval) first check after
// their spread offset: at least 5 min for these names (fnv of the name
// modulo the interval), and, before uptime took its first timer from the
// injected clock, years. So the history holds only what the test wrote.
var fixtureNow = time.Date(2030, 1, 15, 12, 0, 0, 0, time.UTC)

// Days relative to fixtureNow's day that have no checks: vigie was
// stopped, then restarted on the same state database.
const gapFirst, gapLast = 49, 48

// internalURL is the api probe's target: never shown (show_url false).
const internalURL = "http://api.internal.example:8080/health"

type fixture struct {
	page *Page
	clk  *clock
	mgr  *uptime.Manager
	hb   *heartbeat.Heartbeats
	srv  *httptest.Server
	db   *storage.State
}

func openState(t testing.TB, path string) *storage.State {
	t.Helper()
	db, err := storage.OpenState(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func probeConfigs() []probe.Config {
	return []probe.Config{
		{Name: "api", URL: internalURL, Interval: config.Duration(time.Hour)},
		{Name: "web", URL: "https://www.example.com/", Interval: config.Duration(time.Hour)},
		{Name: "docs", URL: "https://docs.internal.example/", Interval: config.Duration(time.Hour),
			Status: &probe.StatusInfo{Name: "Documentation", Group: "Extras"}},
		{Name: "status", URL: "https://status.internal.example/", Interval: config.Duration(time.Hour),
			Status: &probe.StatusInfo{Name: "Status API", Group: "Core"}},
	}
}

func pageConfig() Config {
	return Config{
		Title: "Acme status", Description: "Live status of Acme's services.",
		Groups: []GroupConfig{
			{Name: "Core", Components: []ComponentConfig{
				{Name: "API", Probe: "api", Description: "Public REST API"},
				{Name: "Website", Probe: "web", ShowURL: true},
			}},
			{Name: "Jobs", Components: []ComponentConfig{{Name: "Nightly backup", Heartbeat: "backup"}}},
		},
		Maintenance: []MaintenanceConfig{{Name: "Database upgrade", Components: []string{"API"},
			Start: fixtureNow.Add(48 * time.Hour), End: fixtureNow.Add(50 * time.Hour), Message: "Short read-only window."}},
	}
}

// fill records checks every step in [from, to): down(ts) says which fail.
func fill(t testing.TB, h *uptime.History, name string, from, to time.Time, step time.Duration, prev uptime.State, down func(time.Time) bool) uptime.State {
	t.Helper()
	var recs []uptime.Record
	st := prev
	for ts := from; ts.Before(to); ts = ts.Add(step) {
		ok := !down(ts)
		incident := st.Up && !ok
		if st.Since.IsZero() || st.Up != ok {
			st.Since = ts
		}
		st.Up, st.LastCheck = ok, ts
		if ok {
			st.ConsecutiveFailures = 0
		} else {
			st.ConsecutiveFailures++
		}
		d := time.Duration(40+10*(ts.Hour()%6)) * time.Millisecond
		recs = append(recs, uptime.Record{Check: uptime.Check{Probe: name, Time: ts, Success: ok, Up: ok, Duration: d}, State: st, Incident: incident})
	}
	if err := h.RecordBatch(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	return st
}

// newFixture builds the page on real parts: a state database written in
// two runs (a restart in the middle of 95 days of checks), a running
// uptime Manager, real heartbeats pinged through their HTTP route.
func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	clk := &clock{t: fixtureNow}
	day := fixtureNow.Truncate(24 * time.Hour)
	step := 30 * time.Minute
	retention := uptime.RetentionConfig{Checks: config.Duration(30 * 24 * time.Hour), Daily: config.Duration(400 * 24 * time.Hour)}
	apiDown := func(ts time.Time) bool { // 1h30 down ten days ago
		d := day.AddDate(0, 0, -10)
		return !ts.Before(d.Add(3*time.Hour)) && ts.Before(d.Add(4*time.Hour+30*time.Minute))
	}
	webDown := func(ts time.Time) bool { return !ts.Before(fixtureNow.Add(-2 * time.Hour)) }
	never := func(time.Time) bool { return false }

	// First run: days -95 to -50.
	db1 := openState(t, path)
	h1, err := uptime.OpenHistory(ctx, db1, clk.now, retention)
	if err != nil {
		t.Fatal(err)
	}
	start, stop := day.AddDate(0, 0, -95), day.AddDate(0, 0, -gapFirst)
	apiSt := fill(t, h1, "api", start, stop, step, uptime.State{}, apiDown)
	webSt := fill(t, h1, "web", start, stop, step, uptime.State{}, webDown)
	if err := db1.Close(); err != nil {
		t.Fatal(err)
	}

	// Restart after two days: the same file, a new Manager.
	db := openState(t, path)
	t.Cleanup(func() { db.Close() })
	mgr, err := uptime.New(uptime.Options{Config: uptime.Config{Probes: probeConfigs(), Retention: retention}, StateDB: db, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	start = day.AddDate(0, 0, -(gapLast - 1))
	fill(t, mgr.History(), "api", start, fixtureNow, step, apiSt, apiDown)
	fill(t, mgr.History(), "web", start, fixtureNow, step, webSt, webDown)
	fill(t, mgr.History(), "docs", day.AddDate(0, 0, -3), fixtureNow, step, uptime.State{}, never)
	fill(t, mgr.History(), "status", day.AddDate(0, 0, -1), fixtureNow, step, uptime.State{}, never)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, func() bool { return len(mgr.Probes()) == 4 })

	hb := newHeartbeats(t, db, clk)
	page, err := New(ctx, Options{Config: pageConfig(), History: mgr.History(), Probes: mgr, Heartbeats: hb, StateDB: db, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(page.Routes()...)
	srv := httptest.NewServer(web.SecureHeaders(mux))
	t.Cleanup(srv.Close)
	return &fixture{page: page, clk: clk, mgr: mgr, hb: hb, srv: srv, db: db}
}

// newHeartbeats runs a real heartbeat pinged over five days: on time,
// then missing for three hours (down), then back.
func newHeartbeats(t testing.TB, db *storage.State, clk *clock) *heartbeat.Heartbeats {
	t.Helper()
	ctx := context.Background()
	t0 := fixtureNow.Add(-5 * 24 * time.Hour)
	clk.set(t0)
	defer clk.set(fixtureNow)
	hb, err := heartbeat.New(ctx, heartbeat.Options{StateDB: db, Now: clk.now, Config: heartbeat.Config{
		Heartbeats: []heartbeat.HeartbeatConfig{{Name: "backup", Period: config.Duration(time.Hour), Grace: config.Duration(5 * time.Minute)}}}})
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(hb.Routes()...)
	pingURL := hb.List("")[0].PingURL
	ping := func(at time.Time) {
		clk.set(at)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, pingURL, nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("ping: %d %s", rec.Code, rec.Body)
		}
	}
	ping(t0)
	clk.set(t0.Add(3 * time.Hour))
	if _, err := hb.History(ctx, "backup", t0, clk.now()); err != nil { // records the job missing
		t.Fatal(err)
	}
	ping(t0.Add(3 * time.Hour))
	ping(fixtureNow.Add(-30 * time.Minute))
	return hb
}

// waitFor polls cond (a condition, never a fixed sleep) for up to 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func get(t testing.TB, url string) (*http.Response, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, b.String()
}

package dashboards

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/logs"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
	"github.com/vigie-dev/vigie/uptime/probe"
)

// eventually polls cond every 20 ms until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runUptime runs a real uptime manager, over a temporary state database,
// probing an up and a down httptest server.
func runUptime(t *testing.T) (*uptime.Manager, *heartbeat.Heartbeats) {
	t.Helper()
	okSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(okSrv.Close)
	badSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(badSrv.Close)
	st, err := storage.OpenState(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	// Checks at most every second, each with a second (the whole
	// interval) to answer, even on a loaded machine.
	iv := config.Duration(time.Second)
	cfg := uptime.DefaultConfig()
	cfg.Probes = []probe.Config{
		{Name: "web", URL: okSrv.URL, Interval: iv},
		{Name: "api", URL: badSrv.URL, Interval: iv, FailuresBeforeDown: 1},
	}
	m, err := uptime.New(uptime.Options{Config: cfg, StateDB: st})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	hb, err := heartbeat.New(context.Background(), heartbeat.Options{StateDB: st, Config: heartbeat.Config{
		Heartbeats: []heartbeat.HeartbeatConfig{{Name: "backup", Period: config.Duration(time.Hour), Grace: config.Duration(time.Minute)}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Both probes have a state and a recorded check.
	eventually(t, 10*time.Second, "probes checked and recorded", func() bool {
		pss := m.Probes()
		if len(pss) != 2 {
			return false
		}
		for _, ps := range pss {
			if ps.State == nil {
				return false
			}
			if r, _, err := m.History().Uptime(context.Background(), ps.Config.Name, time.Now().Add(-time.Hour)); err != nil || r < 0 {
				return false
			}
		}
		return true
	})
	return m, hb
}

// TestOverviewProbes: the overview lists each probe with its state, last
// check reason and 24 h uptime, links the status page's, and lists the
// heartbeats without their ping URL (a credential).
func TestOverviewProbes(t *testing.T) {
	e := newTestEnv(t, 1, time.Hour, 15*time.Second)
	m, hb := runUptime(t)
	e.ui.o.Probes = ManagerProbes{M: m}
	e.ui.o.Heartbeats = hb
	e.ui.o.StatusProbes = func() map[string]bool { return map[string]bool{"web": true} }
	c, _ := e.login(t)
	_, body := e.get(t, c, "/")
	mustContain(t, "overview", body, `<table id="probes">`, "<td>web</td>", "<td>api</td>", `class="ok">up</td>`, `class="bad">down</td>`,
		"503", "<td>100%</td>", "<td>0%</td>", `<a href="/status">Status page</a>`, `<table id="heartbeats">`, "<td>backup</td>", ">new</td>")
	if t.Failed() {
		i, j := strings.Index(body, `<table id="probes">`), strings.Index(body, `<table id="heartbeats">`)
		if i >= 0 && j > i {
			t.Logf("probes table: %s", body[i:j])
		}
	}
	if n := strings.Count(body, `href="/status"`); n != 1 {
		t.Errorf("%d status page links, want 1 (only web is on the page)", n)
	}
	for _, in := range hb.List("") {
		if strings.Contains(body, strings.TrimPrefix(in.PingURL, "/ping/")) {
			t.Error("the overview shows a heartbeat's ping token")
		}
	}
	// Without the status page served: no link.
	e.ui.o.StatusProbes = func() map[string]bool { return nil }
	if _, body := e.get(t, c, "/"); strings.Contains(body, `href="/status"`) {
		t.Error("a status page link while the page is not served")
	}
}

// TestWorkloadLogLines: the container and service pages show the last log
// lines of the streams the Docker log source labels with the container's
// name and the Swarm service, escaped and with secrets masked.
func TestWorkloadLogLines(t *testing.T) {
	e := newTestEnv(t, 1, time.Hour, 15*time.Second)
	store := pushLogs(t)
	e.ui.o.Logs = store
	c, _ := e.login(t)
	for _, path := range []string{"/containers/c00", "/services/web"} {
		_, body := e.get(t, c, path)
		mustContain(t, path, body, "Recent log lines", `<pre class="logs" id="logs">`, "served request Y", html.EscapeString(`<script>alert(1)</script>`))
		for _, bad := range []string{"<script>alert", "s3cret", "from another container", "served request G\n"} {
			if strings.Contains(body, bad) {
				t.Errorf("%s shows %q", path, bad)
			}
		}
		if n := strings.Count(body, "served request "); n != logLines-2 {
			t.Errorf("%s: %d request lines, want %d (the last %d lines)", path, n, logLines-2, logLines)
		}
	}
	if _, body := e.get(t, c, "/containers/c01"); !strings.Contains(body, "from another container") || strings.Contains(body, "served request") {
		t.Error("c01's page does not show only its own lines")
	}
	if _, body := e.get(t, c, "/containers/nothere"); !strings.Contains(body, "No log line in the last 24 hours.") {
		t.Error("an unknown container's page lacks the empty-logs note")
	}
}

// pushLogs opens a real log store and appends, for container c00 of the
// Swarm service web, 25 request lines, a hostile one and a long one, and a line of
// container c01.
func pushLogs(t testing.TB) *logs.Store {
	t.Helper()
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	now := time.Now()
	own := labels.FromStrings("container", "c00", "source", "web", "swarm_service", "web", "swarm_task", "web.1.x")
	other := labels.FromStrings("container", "c01", "source", "c01")
	var entries []logs.Entry
	for i := range 25 {
		entries = append(entries, logs.Entry{Labels: own, Level: logs.LevelInfo, TS: now.Add(time.Duration(i-30) * time.Second).UnixNano(),
			Line: "served request " + string(rune('A'+i))})
	}
	entries = append(entries,
		logs.Entry{Labels: own, Level: logs.LevelError, TS: now.Add(-time.Second).UnixNano(), Line: `<script>alert(1)</script> postgres://app:s3cret@db/x`},
		// A long line without a space must wrap on a phone.
		logs.Entry{Labels: own, Level: logs.LevelInfo, TS: now.Add(-time.Second / 2).UnixNano(), Line: "trace=" + strings.Repeat("0123456789abcdef", 25)},
		logs.Entry{Labels: other, Level: logs.LevelInfo, TS: now.UnixNano(), Line: "from another container"})
	if err := store.Append(context.Background(), entries, nil); err != nil {
		t.Fatal(err)
	}
	return store
}

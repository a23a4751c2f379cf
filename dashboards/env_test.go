package dashboards

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/storage"
)

// testEnv is a UI over a real TSDB holding synthetic host, container and
// service series, a real PromQL engine, a real notifier with one firing
// alert, and access control requiring a login.
type testEnv struct {
	srv      *httptest.Server
	ui       *UI
	db       *tsdb.DB
	notifier *notify.Notifier
	alert    notify.Alert
	now      time.Time
}

const (
	testUser     = "alice"
	testPassword = "a long test password"
)

// synth appends span of samples every step for n containers, ending at end.
func synth(t testing.TB, db *tsdb.DB, n int, span, step time.Duration, end time.Time) {
	t.Helper()
	type series struct {
		ls labels.Labels
		f  func(i int) float64
	}
	ss := []series{
		{labels.FromStrings("__name__", "node_cpu_seconds_total", "cpu", "0", "mode", "idle"), func(i int) float64 { return float64(i) * step.Seconds() * 0.7 }},
		{labels.FromStrings("__name__", "node_memory_MemTotal_bytes"), func(int) float64 { return 8 << 30 }},
		{labels.FromStrings("__name__", "node_memory_MemAvailable_bytes"), func(i int) float64 { return float64(3<<30 + (i%60)<<24) }},
		{labels.FromStrings("__name__", "node_filesystem_avail_bytes", "fstype", "ext4", "mountpoint", "/"), func(i int) float64 { return 40 << 30 }},
		{labels.FromStrings("__name__", "node_filesystem_size_bytes", "fstype", "ext4", "mountpoint", "/"), func(i int) float64 { return 100 << 30 }},
		{labels.FromStrings("__name__", "node_network_receive_bytes_total", "device", "eth0"), func(i int) float64 { return float64(i) * 1e5 }},
		{labels.FromStrings("__name__", "vigie_service_replicas_running", "service", "web", "stack", "", "mode", "replicated"), func(int) float64 { return 2 }},
		{labels.FromStrings("__name__", "vigie_service_replicas_desired", "service", "web", "stack", "", "mode", "replicated"), func(int) float64 { return 3 }},
		{labels.FromStrings("__name__", "up", "job", "vigie", "instance", "h1"), func(int) float64 { return 1 }},
	}
	for c := range n {
		name := fmt.Sprintf("c%02d", c)
		svc := ""
		if c%5 == 0 {
			svc = "web"
		}
		ss = append(ss,
			series{labels.FromStrings("__name__", "container_cpu_usage_seconds_total", "name", name, "swarm_service", svc), func(i int) float64 { return float64(i) * step.Seconds() * 0.01 * float64(c%7+1) }},
			series{labels.FromStrings("__name__", "container_memory_working_set_bytes", "name", name, "swarm_service", svc), func(i int) float64 { return float64((50 + c + i%30) << 20) }},
			series{labels.FromStrings("__name__", "container_spec_memory_limit_bytes", "name", name, "swarm_service", svc), func(int) float64 { return 512 << 20 }},
			series{labels.FromStrings("__name__", "container_spec_cpu_quota", "name", name, "swarm_service", svc), func(int) float64 { return 50000 }},
			series{labels.FromStrings("__name__", "container_spec_cpu_period", "name", name, "swarm_service", svc), func(int) float64 { return 100000 }},
		)
	}
	steps := int(span / step)
	start := end.Add(-span)
	ctx := context.Background()
	for i0 := 0; i0 <= steps; i0 += 500 {
		app := db.Appender(ctx)
		for i := i0; i < min(i0+500, steps+1); i++ {
			ts := start.Add(time.Duration(i) * step).UnixMilli()
			for _, s := range ss {
				if _, err := app.Append(0, s.ls, ts, s.f(i)); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := app.Commit(); err != nil {
			t.Fatal(err)
		}
	}
}

func newTestEnv(t testing.TB, containers int, span, step time.Duration) *testEnv {
	t.Helper()
	dir := t.TempDir()
	opts := tsdb.DefaultOptions()
	db, err := tsdb.Open(filepath.Join(dir, "tsdb"), nil, nil, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	now := time.Now().Truncate(time.Second)
	synth(t, db, containers, span, step, now)
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})

	st, err := storage.OpenState(context.Background(), filepath.Join(dir, "vigie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	n, err := notify.New(notify.DefaultConfig(), notify.Options{State: st, Logger: slog.New(slog.DiscardHandler), ExternalURL: externalURL})
	if err != nil {
		t.Fatal(err)
	}
	alert := notify.Alert{Labels: map[string]string{"alertname": "ContainerHighCPU", "name": "c00", "severity": "warning"},
		Annotations: map[string]string{"summary": "c00 uses its whole CPU limit"},
		StartsAt:    now.Add(-10 * time.Minute), EndsAt: now.Add(time.Hour), GeneratorURL: "/graph?g0.expr=up"}
	if err := n.Put(context.Background(), alert); err != nil {
		t.Fatal(err)
	}
	store, err := auth.NewStore(context.Background(), st.DB, nil, st.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.AddUser(context.Background(), testUser, testPassword, auth.ScopeAdmin); err != nil {
		t.Fatal(err)
	}
	acfg := auth.DefaultConfig()
	acfg.Mode = auth.ModeRequired
	a := auth.New(acfg, auth.Options{Store: store, Listen: "127.0.0.1:0"})
	ui, err := New(Options{Query: EngineQuerier{Engine: engine, Queryable: db}, Alerting: n})
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(ui.Routes()...)
	mux.Handle(a.Routes()...)
	mux.Handle(n.Routes()...) // the API and the signed acknowledgement links
	srv := httptest.NewServer(web.SecureHeaders(a.Wrap(mux)))
	t.Cleanup(srv.Close)
	return &testEnv{srv: srv, ui: ui, db: db, notifier: n, alert: alert, now: now}
}

// externalURL is the notifier's; tests replace it with the server's.
const externalURL = "http://vigie.test"

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// login returns a client with a session, and the session's CSRF token.
func (e *testEnv) login(t testing.TB) (*http.Client, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	_, body := e.get(t, c, "/login")
	m := csrfRE.FindStringSubmatch(body)
	resp, err := c.PostForm(e.srv.URL+"/login", url.Values{"username": {testUser}, "password": {testPassword}, "csrf_token": {m[1]}, "next": {"/alerts"}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m = csrfRE.FindStringSubmatch(string(b))
	if resp.StatusCode != 200 || m == nil {
		t.Fatalf("login: %d %s", resp.StatusCode, b)
	}
	return c, m[1]
}

func (e *testEnv) get(t testing.TB, c *http.Client, path string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *testEnv) post(t testing.TB, c *http.Client, path string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(e.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func mustContain(t testing.TB, what, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("%s lacks %q", what, w)
		}
	}
}

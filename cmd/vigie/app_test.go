package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-dev/vigie/internal/vigietest"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/rules"
)

// testApp is a vigie running in this test process.
type testApp struct {
	vigietest.Client
	a       *app
	cfgFile string
	hup     chan os.Signal
	cancel  context.CancelFunc
	done    chan error
	log     *lockedBuffer

	stopOnce sync.Once
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testConfig is a quick configuration: no Docker, collections every second.
const testConfig = "collect:\n  interval: 1s\n  docker: {enabled: false}\n"

// startApp runs an app in-process on its own listener and data directory,
// and waits until it is ready. It stops when the test ends.
func startApp(t *testing.T, yaml string, opts appOptions) *testApp {
	t.Helper()
	ta := &testApp{cfgFile: writeConfig(t, yaml), hup: make(chan os.Signal), done: make(chan error, 1), log: &lockedBuffer{}}
	opts.flags = runFlags{configFile: ta.cfgFile, dataDir: filepath.Join(t.TempDir(), "data")}
	cfg, err := opts.flags.load()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts.listener, opts.reload = ln, ta.hup
	if opts.logger == nil {
		opts.logger = slog.New(slog.NewTextHandler(ta.log, nil))
	}
	ctx, cancel := context.WithCancel(context.Background())
	ta.cancel = cancel
	ta.a, err = newApp(ctx, cfg, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	ta.Client = vigietest.NewClient(t, ln.Addr().String())
	go func() { ta.done <- ta.a.run(ctx) }()
	t.Cleanup(func() {
		ta.stop(t)
		if t.Failed() {
			t.Logf("vigie log:\n%s", ta.log)
		}
	})
	vigietest.Eventually(t, 30*time.Second, "/-/ready", func() bool {
		resp, err := http.Get(ta.URL("/-/ready"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return ta
}

// stop cancels the app and waits for run to return (once).
func (ta *testApp) stop(t *testing.T) {
	ta.stopOnce.Do(func() {
		ta.cancel()
		select {
		case err := <-ta.done:
			if err != nil {
				t.Errorf("run: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("run did not return 20s after its context ended")
		}
	})
}

// Two apps run side by side in one process, each on its own listener and
// data directory, each answering readiness and queries.
func TestTwoAppsInOneProcess(t *testing.T) {
	one := startApp(t, testConfig, appOptions{})
	two := startApp(t, testConfig, appOptions{})
	if one.Addr == two.Addr || one.a.config().Global.DataDir == two.a.config().Global.DataDir {
		t.Fatal("the two apps share an address or a data directory")
	}
	for _, ta := range []*testApp{one, two} {
		vigietest.Eventually(t, 10*time.Second, "a collected sample on "+ta.Addr, func() bool {
			return len(ta.Query(`vigie_build_info{job="vigie"}`)) == 1
		})
	}
	// Each app's state is its own: a silence made on one is not on the other.
	if code, out, errOut := runArgs("silence", "add", "--url", one.URL(""), `alertname="Only1"`); code != 0 {
		t.Fatalf("silence add: exit %d %s %s", code, out, errOut)
	}
	for _, tc := range []struct {
		ta   *testApp
		want bool
	}{{one, true}, {two, false}} {
		code, out, errOut := runArgs("silence", "list", "--url", tc.ta.URL(""))
		if code != 0 || strings.Contains(out, "Only1") != tc.want {
			t.Errorf("silence list on %s: exit %d, %q %s", tc.ta.Addr, code, out, errOut)
		}
	}
}

// reloadConfigs are two valid configurations that differ in every
// component, and one that is invalid (its rule file does not parse).
func reloadConfigs(t *testing.T) (a, b, bad string) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ra := write("a.yml", "groups:\n  - name: a\n    rules:\n      - alert: A\n        expr: vector(1) > 2\n")
	rb := write("b.yml", "groups:\n  - name: b\n    rules:\n      - alert: B\n        expr: vector(1) > 3\n")
	rbad := write("bad.yml", "groups:\n  - name: bad\n    rules:\n      - alert: Bad\n        expr: rate(x[5m]\n")
	conf := func(interval, job, rules, receiver string) string {
		return fmt.Sprintf(`collect:
  interval: %s
  docker: {enabled: false}
  scrape:
    - job_name: %s
      targets: ["127.0.0.1:1"]
rules:
  files: [%q]
  builtin: {enabled: false}
notify:
  route: {receiver: %s}
  receivers:
    - name: %s
      webhook_configs: [{url: "http://127.0.0.1:1/hook"}]
`, interval, job, rules, receiver, receiver)
	}
	return conf("1s", "job_a", ra, "team_a"), conf("2s", "job_b", rb, "team_b"), conf("3s", "job_bad", rbad, "team_bad")
}

// replaceFile writes body to path atomically, so a reload never reads half a file.
func replaceFile(t *testing.T, path, body string) {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Error(err)
		return
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Error(err)
	}
}

// Twenty reloads at once, half from SIGHUP and half over HTTP, alternating
// two valid configurations and an invalid one: each ends applied or
// refused, and afterwards every component runs the configuration applied
// last, none half of one and half of another.
func TestConcurrentReloadsApplyWholeConfigs(t *testing.T) {
	cfgA, cfgB, bad := reloadConfigs(t)
	ta := startApp(t, cfgA, appOptions{})
	bodies := []string{cfgA, cfgB, bad}
	var wg sync.WaitGroup
	var mu sync.Mutex // one file write and its reload trigger at a time
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			replaceFile(t, ta.cfgFile, bodies[i%3])
			if i%2 == 0 {
				mu.Unlock()
				ta.hup <- os.Interrupt // the run loop's reload channel, as SIGHUP
				return
			}
			mu.Unlock()
			resp, err := http.Post(ta.URL("/-/reload"), "", nil)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 && resp.StatusCode != 500 {
				t.Errorf("reload answered %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	// The SIGHUP reloads run in the background: wait until all 20 ran.
	vigietest.Eventually(t, 20*time.Second, "20 reloads", func() bool {
		return testutil.ToFloat64(ta.a.reloads) == 20
	})
	ta.a.reloadMu.Lock() // no reload in flight from here
	defer ta.a.reloadMu.Unlock()
	checkEffective(t, ta.a)
}

// checkEffective checks that every component runs the app's configuration.
func checkEffective(t *testing.T, a *app) {
	t.Helper()
	cfg := a.config()
	job := cfg.Collect.Scrape[0].JobName
	if !slices.Contains([]string{"job_a", "job_b"}, job) {
		t.Fatalf("the running configuration is %q's", job)
	}
	interval, timeout := a.loop.effective()
	if interval != cfg.Collect.Interval.D() || timeout != cfg.collectTimeout() {
		t.Errorf("collect runs every %s (timeout %s); the configuration says %s", interval, timeout, cfg.Collect.Interval)
	}
	if jobs := a.scraper.Jobs(); !slices.Equal(jobs, []string{job}) {
		t.Errorf("scrape jobs %v; the configuration says %s", jobs, job)
	}
	if files := a.rules.effective().Files; !slices.Equal(files, cfg.Rules.Files) {
		t.Errorf("rules read %v; the configuration says %v", files, cfg.Rules.Files)
	}
	wantGroup := strings.TrimPrefix(job, "job_")
	data, err := a.rules.m.RulesData(url.Values{})
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, g := range data.(*rules.RuleDiscovery).RuleGroups {
		groups = append(groups, g.Name)
	}
	if !slices.Equal(groups, []string{wantGroup}) {
		t.Errorf("rule groups loaded: %v; want [%s]", groups, wantGroup)
	}
	if r := a.notifier.effective().Route.Receiver; r != cfg.Notify.Route.Receiver || r != "team_"+wantGroup {
		t.Errorf("notify routes to %q; the configuration says %q", r, cfg.Notify.Route.Receiver)
	}
}

// hangComponent's Run ignores its context until released.
type hangComponent struct {
	base
	release chan struct{}
}

func (hangComponent) Name() string          { return "hang" }
func (h hangComponent) Run(context.Context) { <-h.release }

// run returns within the shutdown timeout even when a component hangs.
func TestRunEndsWithinShutdownTimeout(t *testing.T) {
	hang := hangComponent{release: make(chan struct{})}
	t.Cleanup(func() { close(hang.release) })
	const timeout = time.Second
	ta := startApp(t, testConfig, appOptions{shutdownTimeout: timeout, extra: []component{hang}})
	start := time.Now()
	ta.stop(t)
	if d := time.Since(start); d > timeout+time.Second {
		t.Errorf("run returned %s after its context ended; the shutdown timeout is %s", d, timeout)
	}
	if !strings.Contains(ta.log.String(), "components did not stop within the shutdown timeout") {
		t.Errorf("the hanging component was not logged:\n%s", ta.log)
	}
}

// A reload stuck reading its file (a FIFO nobody writes) neither blocks
// other requests nor the shutdown.
func TestStuckReloadDoesNotBlockShutdown(t *testing.T) {
	ta := startApp(t, testConfig, appOptions{})
	if err := os.Remove(ta.cfgFile); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(ta.cfgFile, 0o600); err != nil {
		t.Fatal(err)
	}
	// Unblock the reader left behind when the test ends.
	t.Cleanup(func() {
		if f, err := os.OpenFile(ta.cfgFile, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
			f.Close()
		}
	})
	ta.hup <- syscall.SIGHUP
	vigietest.Eventually(t, 5*time.Second, "the reload started", func() bool {
		return testutil.ToFloat64(ta.a.reloads) == 1
	})
	if r := ta.Get("/api/v1/query", url.Values{"query": {"1"}}); r.Status != "success" {
		t.Errorf("query during a stuck reload: %+v", r)
	}
	start := time.Now()
	ta.stop(t)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("shutdown took %s with a reload stuck", d)
	}
}

// Every route is mounted once with the access its kind calls for, and every
// response carries the security headers.
func TestRoutesAccessAndHeaders(t *testing.T) {
	ta := startApp(t, testConfig, appOptions{})
	mux := ta.a.mux()
	for _, tc := range []struct {
		method, path string
		want         web.Access
	}{
		{"GET", "/-/healthy", web.Public},
		{"GET", "/-/ready", web.Public},
		{"GET", "/api/v1/alerts/abc/ack", web.Public},
		{"GET", "/api/v1/query", web.Read},
		{"POST", "/api/v1/query", web.Read},
		{"GET", "/metrics", web.Read},
		{"GET", "/api/v2/silences", web.Read},
		{"GET", "/api/v1/alerts/history", web.Read},
		{"GET", "/", web.Read},
		{"POST", "/-/reload", web.Admin},
		{"POST", "/api/v2/silences", web.Admin},
		{"DELETE", "/api/v2/silence/abc", web.Admin},
		{"POST", "/api/v1/alerts/abc/ack", web.Admin},
		{"POST", "/api/v2/alerts", web.Admin},
		{"GET", "/debug/pprof/", web.Admin},
	} {
		got, ok := mux.AccessFor(httptest.NewRequest(tc.method, tc.path, nil))
		if !ok || got != tc.want {
			t.Errorf("%s %s: access %v (mounted %v), want %v", tc.method, tc.path, got, ok, tc.want)
		}
	}
	for _, path := range []string{"/", "/-/ready", "/api/v1/query?query=1"} {
		resp, err := http.Get(ta.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		html := strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html")
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || html != (resp.Header.Get("Content-Security-Policy") == web.CSP) {
			t.Errorf("%s: headers %v", path, resp.Header)
		}
	}
}

package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

func getBody(t *testing.T, u string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	// Ask for gzip ourselves so the transport leaves the body compressed.
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func parseText(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	return mfs
}

// The whole app, in-process (no binary to build): /metrics and the query API.
func TestMetricsEndpointAndQueryAPI(t *testing.T) {
	p := startApp(t, "collect:\n  interval: 1s\n", appOptions{})

	// Text format, gzip.
	resp, b := getBody(t, p.URL("/metrics"), http.Header{"Accept-Encoding": {"gzip"}})
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatalf("/metrics not gzipped: %v", resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(zr)
	mfs := parseText(t, text)
	for _, name := range requiredFamilies {
		if _, ok := mfs[name]; !ok {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if mf := mfs["vigie_collector_success"]; mf != nil {
		for _, m := range mf.Metric {
			if m.GetGauge().GetValue() != 1 {
				t.Errorf("collector %v failed on this machine", m.Label)
			}
		}
	}
	// The Prometheus libraries' internals are on /metrics/internal, not /metrics.
	if _, ok := mfs["prometheus_tsdb_head_series"]; ok {
		t.Error("/metrics serves the TSDB's internals")
	}
	_, b = getBody(t, p.URL("/metrics/internal"), nil)
	if internal := parseText(t, b); internal["prometheus_tsdb_head_series"] == nil || internal["prometheus_engine_queries"] == nil {
		t.Error("/metrics/internal lacks the TSDB's or the engine's metrics")
	}
	// OpenMetrics when asked.
	resp, b = getBody(t, p.URL("/metrics"), http.Header{"Accept": {"application/openmetrics-text;version=1.0.0"}})
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/openmetrics-text") {
		t.Fatalf("OpenMetrics not negotiated: Content-Type %q", ct)
	}
	if !bytes.HasSuffix(bytes.TrimSpace(b), []byte("# EOF")) {
		t.Fatal("OpenMetrics exposition lacks # EOF")
	}
	// promtool's linter, when Debian's prometheus package is installed.
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(text)
		out, err := cmd.CombinedOutput()
		// Exit 3 is lint findings. The only ones allowed are those node_exporter
		// and Prometheus themselves get: meminfo's camelCase names (kept for
		// compatibility) and Prometheus's own internal metric names.
		if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 3) {
			t.Errorf("promtool check metrics: %v\n%s", err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if line == "" || strings.HasPrefix(line, "prometheus_") || nodeExporterLint(line) {
				continue
			}
			t.Errorf("promtool check metrics: %s", line)
		}
	} else if os.Getenv("CI") != "" {
		t.Error("promtool not installed in CI")
	}

	// After one collection, the query API has the value.
	vigietest.Eventually(t, 10*time.Second, "a collected sample", func() bool {
		return len(p.Query(queryProbe)) > 0
	})
	s := p.Query(queryProbe)[0]
	if s.Metric["job"] != "vigie" || s.Metric["instance"] == "" {
		t.Errorf("self-collected series lack job/instance: %v", s.Metric)
	}
	if s.Float() <= 0 {
		t.Errorf("%s = %v", queryProbe, s.Float())
	}

	// A bad expression is a 400 bad_data, as in Prometheus.
	r := p.Get("/api/v1/query", url.Values{"query": {"sum(rate(x[5m]"}})
	if r.Code != 400 || r.Status != "error" || r.ErrorType != "bad_data" {
		t.Errorf("bad expression: %d %s %s %s", r.Code, r.Status, r.ErrorType, r.Error)
	}
	// The 11,000 points limit on ranges.
	r = p.Get("/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"20000"}, "step": {"1"}})
	if r.Code != 400 || r.ErrorType != "bad_data" || !strings.Contains(r.Error, "11,000") {
		t.Errorf("range limit: %d %s %s", r.Code, r.ErrorType, r.Error)
	}
	// Form POST works as GET does.
	resp2, err := http.PostForm(p.URL("/api/v1/query"), url.Values{"query": {"1+1"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if !strings.Contains(string(body), `"resultType":"scalar"`) || !strings.Contains(string(body), `"2"`) {
		t.Errorf("POST query: %s", body)
	}
	// Series, labels, label values, metadata, buildinfo.
	r = p.Get("/api/v1/series", url.Values{"match[]": {queryProbe}})
	if r.Status != "success" || !strings.Contains(string(r.Data), queryProbe) {
		t.Errorf("series: %s %s", r.Status, r.Data)
	}
	r = p.Get("/api/v1/labels", nil)
	if r.Status != "success" || !strings.Contains(string(r.Data), `"job"`) {
		t.Errorf("labels: %s", r.Data)
	}
	r = p.Get("/api/v1/label/job/values", nil)
	if r.Status != "success" || !strings.Contains(string(r.Data), `"vigie"`) {
		t.Errorf("label values: %s", r.Data)
	}
	r = p.Get("/api/v1/metadata", url.Values{"metric": {queryProbe}})
	if r.Status != "success" || !strings.Contains(string(r.Data), `"gauge"`) {
		t.Errorf("metadata: %s", r.Data)
	}
	r = p.Get("/api/v1/status/buildinfo", nil)
	if r.Status != "success" || !strings.Contains(string(r.Data), `"goVersion"`) {
		t.Errorf("buildinfo: %s", r.Data)
	}
}

// nodeExporterLint reports the lint findings node_exporter's own names get
// (kept as they are so its dashboards and rules work).
func nodeExporterLint(line string) bool {
	for _, p := range []string{"node_memory_", "node_netstat_", "node_sockstat_", "node_vmstat_"} {
		if strings.HasPrefix(line, p) && strings.Contains(line, "camelCase") {
			return true
		}
	}
	return strings.HasPrefix(line, "node_entropy_") && strings.Contains(line, `instead of "bits"`)
}

// queryProbe is a family every vigie collects.
var queryProbe = "node_memory_MemAvailable_bytes"

// requiredFamilies are checked in /metrics; the node collector adds its own.
var requiredFamilies = []string{"node_cpu_seconds_total", "node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes", "node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_load1", "node_network_receive_bytes_total", "node_disk_read_bytes_total", "node_boot_time_seconds", "node_filefd_allocated", "node_uname_info", "vigie_collector_success", "go_goroutines", "process_resident_memory_bytes", "vigie_build_info"}

func TestKill9KeepsCommittedSamples(t *testing.T) {
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n"})
	// Wait for a few collections.
	var n int
	vigietest.Eventually(t, 20*time.Second, "three collections", func() bool {
		s := p.Query("vigie_collection_gathers_total")
		if len(s) == 0 {
			return false
		}
		n = int(s[0].Float())
		return n >= 3
	})
	before := rangeSamples(t, p, "vigie_collection_gathers_total")
	if len(before) < 3 {
		t.Fatalf("only %d samples before the kill", len(before))
	}
	p.Kill()
	if p.ExitCode() != -1 && p.ExitCode() == 0 {
		t.Fatal("kill -9 did not kill")
	}
	q := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n", DataDir: p.DataDir})
	after := rangeSamples(t, q, "vigie_collection_gathers_total")
	for ts, v := range before {
		if got, ok := after[ts]; !ok || got != v {
			t.Errorf("sample at %s = %v before the kill, %v (present %v) after restart", ts, v, got, ok)
		}
	}
	if !strings.Contains(q.Log(), "WAL") {
		t.Errorf("no WAL replay logged:\n%s", q.Log())
	}
}

// rangeSamples returns every raw sample of expr in the last 10 minutes, by timestamp.
func rangeSamples(t *testing.T, p *vigietest.Process, expr string) map[string]string {
	t.Helper()
	r := p.Get("/api/v1/query", url.Values{"query": {expr + "[10m]"}})
	if r.Status != "success" {
		t.Fatalf("range selector: %s", r.Error)
	}
	var d struct {
		Result []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, s := range d.Result {
		for _, v := range s.Values {
			out[fmt.Sprint(v[0])] = fmt.Sprint(v[1])
		}
	}
	return out
}

func TestScrapeJobs(t *testing.T) {
	const exposition = `# HELP app_requests_total Requests served.
# TYPE app_requests_total counter
app_requests_total{code="200"} 1027
app_requests_total{code="500"} 3
# HELP app_temperature_celsius A gauge.
# TYPE app_temperature_celsius gauge
app_temperature_celsius 21.5
`
	var gotAuth string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotAuth = r.Header.Get("Authorization")
		if r.URL.Path != "/custom/metrics" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		io.WriteString(w, exposition)
	}))
	defer srv.Close()
	om := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/openmetrics-text; version=1.0.0; charset=utf-8")
		io.WriteString(w, "# TYPE om_jobs counter\n# HELP om_jobs Jobs.\nom_jobs_total 42\n# EOF\n")
	}))
	defer om.Close()
	down := vigietest.FreeAddr(t) // nothing listens there
	target := strings.TrimPrefix(srv.URL, "http://")
	cfg := fmt.Sprintf(`collect:
  interval: 1s
  scrape:
    - job_name: app
      targets: [%q]
      metrics_path: /custom/metrics
      bearer_token: ${VIGIE_E2E_TOKEN}
      labels: {env: test}
    - job_name: openmetrics
      targets: [%q]
    - job_name: gone
      targets: [%q]
`, target, strings.TrimPrefix(om.URL, "http://"), down)
	p := vigietest.Start(t, vigietest.Options{Config: cfg, Env: []string{"VIGIE_E2E_TOKEN=tok-123456"}})
	vigietest.Eventually(t, 20*time.Second, "scraped samples", func() bool {
		return len(p.Query(`app_requests_total{job="app",env="test"}`)) == 2 && len(p.Query(`om_jobs_total`)) == 1 &&
			len(p.Query(`up{job="gone"}`)) == 1
	})
	if gotAuth != "Bearer tok-123456" {
		t.Errorf("Authorization header = %q", gotAuth)
	}
	for expr, want := range map[string]float64{
		`app_requests_total{code="200"}`:                  1027,
		`app_temperature_celsius`:                         21.5,
		`om_jobs_total`:                                   42,
		`up{job="app"}`:                                   1,
		`up{job="gone"}`:                                  0,
		`scrape_samples_scraped{job="app"}`:               3,
		`count(scrape_duration_seconds{job=~"app|gone"})`: 2,
	} {
		s := p.Query(expr)
		if len(s) != 1 || s[0].Float() != want {
			t.Errorf("%s = %v, want %v", expr, s, want)
		}
	}
	if s := p.Query(`up{job="app"}`); s[0].Metric["instance"] != target {
		t.Errorf("instance label = %q, want %q", s[0].Metric["instance"], target)
	}
	r := p.Get("/api/v1/targets", nil)
	if !strings.Contains(string(r.Data), `"health":"up"`) || !strings.Contains(string(r.Data), `"health":"down"`) {
		t.Errorf("targets: %s", r.Data)
	}
	// The token is in no API output nor log line.
	r = p.Get("/api/v1/status/config", nil)
	if strings.Contains(string(r.Data), "tok-123456") || !strings.Contains(string(r.Data), "\\u003csecret\\u003e") && !strings.Contains(string(r.Data), "<secret>") {
		t.Errorf("status/config leaks or lacks redaction: %s", r.Data)
	}
	if strings.Contains(p.Log(), "tok-123456") {
		t.Error("the bearer token appears in the log")
	}
}

func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n"})
	good := fmt.Sprintf("collect:\n  interval: 1s\n  scrape:\n    - job_name: added\n      targets: [%q]\n", vigietest.FreeAddr(t))
	bad := "collect:\n  interval: 1s\n  scrape:\n    - job_name: broken\n      targets: [\"a:1\"]\n      timeout: forever\n"

	if err := os.WriteFile(p.Config, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	code, body := p.Post("/-/reload")
	if code != 500 || !strings.Contains(body, p.Config+":6:16: collect.scrape[0].timeout: invalid duration \"forever\"") {
		t.Fatalf("bad reload: %d %s", code, body)
	}
	if s := p.Query("vigie_config_last_reload_successful"); len(s) == 0 {
		// Collected every second; wait for it.
		vigietest.Eventually(t, 5*time.Second, "reload metric", func() bool { return len(p.Query("vigie_config_last_reload_successful == 0")) == 1 })
	}
	// The old configuration is still in force and vigie still collects.
	r := p.Get("/api/v1/status/config", nil)
	if strings.Contains(string(r.Data), "broken") {
		t.Fatalf("refused configuration took effect: %s", r.Data)
	}
	if !strings.Contains(p.Log(), "configuration reload failed") {
		t.Errorf("refused reload not logged:\n%s", p.Log())
	}

	// SIGHUP with a good file applies it.
	if err := os.WriteFile(p.Config, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	p.Signal(syscall.SIGHUP)
	vigietest.Eventually(t, 10*time.Second, "the new scrape job", func() bool {
		return strings.Contains(string(p.Get("/api/v1/targets", nil).Data), `"scrapePool":"added"`)
	})
	code, body = p.Post("/-/reload")
	if code != 200 {
		t.Fatalf("good reload: %d %s", code, body)
	}
}

// SIGTERM ends `vigie check config` at once even while its input never
// ends (a FIFO nobody writes to).
func TestCheckConfigEndsOnSIGTERM(t *testing.T) {
	bin := vigietest.Binary(t)
	fifo := filepath.Join(t.TempDir(), "vigie.yml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "check", "config", fifo)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	// Wait until vigie is blocked opening the FIFO: a writer opening it
	// without blocking succeeds only once a reader is there. Don't write.
	vigietest.Eventually(t, 10*time.Second, "vigie reading the FIFO", func() bool {
		f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return false
		}
		// Keep it open so the reader sees no EOF; close at the end.
		t.Cleanup(func() { f.Close() })
		return true
	})
	start := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatalf("vigie check config still running 2s after SIGTERM:\n%s", out.String())
	}
	if code := cmd.ProcessState.ExitCode(); code == 0 {
		t.Errorf("exit %d after SIGTERM, want non-zero", code)
	}
	t.Logf("ended %s after SIGTERM: %s", time.Since(start), strings.TrimSpace(out.String()))
}

func TestCLI(t *testing.T) {
	bin := vigietest.Binary(t)
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	if code, out := run("version"); code != 0 || !strings.HasPrefix(out, "vigie ") {
		t.Errorf("version: %d %q", code, out)
	}
	for _, args := range [][]string{{"run", "--help"}, {"check", "--help"}, {"check", "config", "--help"}, {"--help"}} {
		if code, out := run(args...); code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("%v: exit %d, %q", args, code, out)
		}
	}
	if code, _ := run("frobnicate"); code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	good := writeConfig(t, "collect:\n  interval: 5s\n")
	if code, out := run("check", "config", good); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("check good config: %d %s", code, out)
	}
	bad := writeConfig(t, "collect:\n  interval: 5 minutes\n")
	if code, out := run("check", "config", bad); code != 1 || !strings.Contains(out, bad+`:2:13: collect.interval: invalid duration "5 minutes"`) {
		t.Errorf("check bad config: %d %s", code, out)
	}
}

func TestRulesCommands(t *testing.T) {
	bin := vigietest.Binary(t)
	run := func(args ...string) (int, string) {
		cmd := exec.Command(bin, args...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	// The built-in pack's own unit tests, through the command users run.
	tests, _ := filepath.Glob("../../rules/builtin/tests/*.yml")
	if len(tests) == 0 {
		t.Fatal("no built-in rule tests found")
	}
	if code, out := run(append([]string{"test", "rules"}, tests...)...); code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Errorf("vigie test rules on the built-in pack: exit %d\n%s", code, out)
	}
	dir := t.TempDir()
	if code, out := run("rules", "export", dir); code != 0 {
		t.Fatalf("rules export: %d %s", code, out)
	}
	exported, _ := filepath.Glob(filepath.Join(dir, "*.yml"))
	if code, out := run(append([]string{"check", "rules"}, exported...)...); code != 0 || !strings.Contains(out, "SUCCESS") {
		t.Errorf("check rules on the exported pack: exit %d\n%s", code, out)
	}
	bad := filepath.Join(dir, "bad.rules.yml")
	os.WriteFile(bad, []byte("groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: rate(x[5m]\n"), 0o644)
	if code, out := run("check", "rules", bad); code != 1 || !strings.Contains(out, bad+":5:") {
		t.Errorf("check rules on a bad file: exit %d, %s", code, out)
	}
	// A failing unit test fails the command.
	failing := filepath.Join(dir, "failing_test.yml")
	rulesFile := filepath.Join(dir, "r.yml")
	os.WriteFile(rulesFile, []byte("groups:\n  - name: g\n    rules:\n      - alert: High\n        expr: x > 1\n"), 0o644)
	os.WriteFile(failing, []byte("rule_files: [r.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n      - series: x\n        values: 0x5\n    alert_rule_test:\n      - eval_time: 5m\n        alertname: High\n        exp_alerts:\n          - exp_labels: {}\n"), 0o644)
	if code, out := run("test", "rules", failing); code != 1 {
		t.Errorf("a failing rule test: exit %d, want 1\n%s", code, out)
	}
}

func TestDefaultListenIsLoopback(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(cfg.Global.Listen)
	if host != "127.0.0.1" || port != strconv.Itoa(9753) {
		t.Fatalf("default listen %q", cfg.Global.Listen)
	}
}

// A scrape target that goes down is evaluated at once, not at the rule
// group's next scheduled evaluation: with a 30s evaluation interval the
// alert still fires within seconds.
func TestTargetDownEvaluatedAtOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "# TYPE ok gauge\nok 1\n")
	}))
	defer srv.Close()
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "down.yml")
	os.WriteFile(rulesFile, []byte("groups:\n  - name: down\n    rules:\n      - alert: AppDown\n        expr: up{job=\"app\"} == 0\n"), 0o644)
	cfg := fmt.Sprintf(`collect:
  interval: 30s
  docker: {enabled: false}
  scrape:
    - job_name: app
      targets: [%q]
      interval: 1s
rules:
  evaluation_interval: 30s
  files: [%q]
  builtin: {enabled: false}
`, strings.TrimPrefix(srv.URL, "http://"), rulesFile)
	p := vigietest.Start(t, vigietest.Options{Config: cfg})
	vigietest.Eventually(t, 20*time.Second, "the target up", func() bool {
		s := p.Query(`up{job="app"}`)
		return len(s) == 1 && s[0].Float() == 1
	})
	// Let the group's scheduled evaluation happen, so the next one is ~30s away.
	vigietest.Eventually(t, 20*time.Second, "the group evaluated once", func() bool {
		var d struct {
			Groups []struct {
				Name           string    `json:"name"`
				LastEvaluation time.Time `json:"lastEvaluation"`
			} `json:"groups"`
		}
		r := p.Get("/api/v1/rules", nil)
		if err := json.Unmarshal(r.Data, &d); err != nil {
			t.Fatal(err)
		}
		return len(d.Groups) == 1 && !d.Groups[0].LastEvaluation.IsZero()
	})
	srv.CloseClientConnections()
	srv.Close()
	down := time.Now()
	vigietest.Eventually(t, 25*time.Second, "AppDown firing", func() bool {
		_, ok := firing(t, p, "AppDown", nil)
		return ok
	})
	if d := time.Since(down); d > 6*time.Second {
		t.Errorf("AppDown fired %s after the target went down; want within a few scrape intervals, not the 30s evaluation interval", d)
	}
}

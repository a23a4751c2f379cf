package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// binaryOrSkip finds a Debian binary the remote-write tests run; CI
// installs them, so there it must exist.
func binaryOrSkip(t *testing.T, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (apt-get install %s)", path, pkg)
		}
		t.Skipf("%s is not installed (apt-get install %s)", path, pkg)
	}
	return path
}

// external is a real server the test runs (Prometheus, VictoriaMetrics).
type external struct {
	t    *testing.T
	name string
	base string
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// startExternal runs bin with args and waits until base+ready answers 200.
func startExternal(t *testing.T, name, base, ready, bin string, args ...string) *external {
	t.Helper()
	e := &external{t: t, name: name, base: base, log: &lockedBuffer{}, done: make(chan struct{})}
	e.cmd = exec.Command(bin, args...)
	e.cmd.Stdout, e.cmd.Stderr = e.log, e.log
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = e.cmd.Wait()
		close(e.done)
	}()
	t.Cleanup(func() {
		e.stop()
		if t.Failed() {
			t.Logf("%s log:\n%s", name, e.log.String())
		}
	})
	vigietest.Eventually(t, 60*time.Second, name+" ready", func() bool {
		select {
		case <-e.done:
			t.Fatalf("%s exited:\n%s", name, e.log.String())
		default:
		}
		resp, err := http.Get(base + ready)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return e
}

func (e *external) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(20 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// query runs an instant PromQL query against a Prometheus-compatible API.
func (e *external) query(expr string) []vigietest.Sample {
	e.t.Helper()
	return queryAPI(e.t, e.base, expr, time.Time{})
}

func queryAPI(t *testing.T, base, expr string, at time.Time) []vigietest.Sample {
	t.Helper()
	params := url.Values{"query": {expr}}
	if !at.IsZero() {
		params.Set("time", fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000))
	}
	resp, err := http.Get(base + "/api/v1/query?" + params.Encode())
	if err != nil {
		t.Fatalf("query %s: %v", expr, err)
	}
	defer resp.Body.Close()
	var r struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []vigietest.Sample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil || r.Status != "success" {
		t.Fatalf("query %s at %s: %v %s", expr, base, err, r.Error)
	}
	return r.Data.Result
}

// startPrometheus runs Debian's Prometheus with cfg; receive turns on its
// remote-write receiver.
func startPrometheus(t *testing.T, addr, cfg string, receive bool) *external {
	t.Helper()
	bin := binaryOrSkip(t, "/usr/bin/prometheus", "prometheus")
	dir := t.TempDir()
	file := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--config.file=" + file, "--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + addr, "--log.level=warn"}
	if receive {
		args = append(args, "--web.enable-remote-write-receiver")
	}
	return startExternal(t, "prometheus", "http://"+addr, "/-/ready", bin, args...)
}

// startVictoriaMetrics runs Debian's single-node VictoriaMetrics.
func startVictoriaMetrics(t *testing.T) *external {
	t.Helper()
	bin := binaryOrSkip(t, "/usr/bin/victoria-metrics", "victoria-metrics")
	addr := vigietest.FreeAddr(t)
	return startExternal(t, "victoria-metrics", "http://"+addr, "/health", bin,
		"-httpListenAddr="+addr, "-storageDataPath="+t.TempDir(), "-loggerLevel=WARN",
		// Queries see samples as soon as they are written.
		"-search.latencyOffset=0s", "-search.disableCache")
}

// labelsHave reports whether a series has every label of want.
func labelsHave(s vigietest.Sample, want map[string]string) bool {
	for k, v := range want {
		if s.Metric[k] != v {
			return false
		}
	}
	return true
}

// TestPrometheusRemoteWritesIntoVigie: Debian's Prometheus scrapes itself
// and remote-writes to a central vigie, where its series are queryable
// with their labels, external labels included.
func TestPrometheusRemoteWritesIntoVigie(t *testing.T) {
	central := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n"})
	addr := vigietest.FreeAddr(t)
	startPrometheus(t, addr, fmt.Sprintf(`global:
  scrape_interval: 1s
  external_labels: {source: debian-prometheus}
scrape_configs:
  - job_name: prom
    static_configs: [{targets: ["%s"]}]
remote_write:
  - url: %s
    queue_config: {batch_send_deadline: 1s}
`, addr, central.URL("/api/v1/write")), false)
	want := map[string]string{"job": "prom", "source": "debian-prometheus"}
	vigietest.Eventually(t, 60*time.Second, "Prometheus's series in vigie", func() bool {
		for _, s := range central.Query(`prometheus_build_info`) {
			if labelsHave(s, want) && s.Metric["version"] == "2.42.0+ds" && s.Metric["instance"] != "" {
				return true
			}
		}
		return false
	})
	// A counter keeps its samples: rate works over them.
	vigietest.Eventually(t, 30*time.Second, "a rate over received samples", func() bool {
		return len(central.Query(`rate(prometheus_http_requests_total{job="prom"}[10s]) >= 0`)) > 0
	})
}

// agentConfig is an agent collecting every second and sending to urls;
// an empty hostname leaves the machine's (os.Hostname).
func agentConfig(hostname string, urls ...string) string {
	var b strings.Builder
	b.WriteString("mode: agent\nglobal:\n")
	if hostname != "" {
		fmt.Fprintf(&b, "  hostname: %s\n", hostname)
	}
	b.WriteString("  external_labels: {cluster: e2e}\ncollect:\n  interval: 1s\n  docker: {enabled: false}\nremote_write:\n")
	for _, u := range urls {
		fmt.Fprintf(&b, "  - url: %s\n    queue_config: {batch_send_deadline: 1s, min_backoff: 100ms, max_backoff: 1s}\n", u)
	}
	return b.String()
}

// TestAgentRemoteWritesToVictoriaMetricsAndPrometheus: one vigie agent
// sends its node series to two real TSDBs at once, each series with the
// node's hostname as instance and the external labels.
func TestAgentRemoteWritesToVictoriaMetricsAndPrometheus(t *testing.T) {
	vm := startVictoriaMetrics(t)
	promAddr := vigietest.FreeAddr(t)
	prom := startPrometheus(t, promAddr, "global:\n  scrape_interval: 1m\n", true)
	agent := vigietest.Start(t, vigietest.Options{Config: agentConfig("agent-e2e",
		vm.base+"/api/v1/write", prom.base+"/api/v1/write")})

	want := map[string]string{"instance": "agent-e2e", "job": "vigie", "cluster": "e2e"}
	for _, db := range []*external{vm, prom} {
		vigietest.Eventually(t, 60*time.Second, "the agent's node_load1 in "+db.name, func() bool {
			s := db.query(`node_load1{instance="agent-e2e"}`)
			return len(s) == 1 && labelsHave(s[0], want)
		})
		vigietest.Eventually(t, 30*time.Second, "vigie_agent_info in "+db.name, func() bool {
			return len(db.query(`vigie_agent_info{instance="agent-e2e",cluster="e2e"}`)) == 1
		})
	}
	// An agent answers health and metrics, but has no query API.
	if r, err := http.Get(agent.URL("/api/v1/query?query=up")); err != nil || r.StatusCode != http.StatusNotFound {
		t.Fatalf("agent's /api/v1/query: %v %v, want 404", err, r)
	} else {
		r.Body.Close()
	}
	if _, err := os.Stat(filepath.Join(agent.DataDir, "wal")); err != nil {
		t.Fatalf("agent WAL: %v", err)
	}
}

// metricValue reads one unlabelled sample from a /metrics page.
func metricValue(t *testing.T, u, name string) float64 {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	for _, f := range parseText(t, mustRead(t, resp)) {
		if f.GetName() == name && len(f.Metric) > 0 {
			m := f.Metric[0]
			switch {
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Untyped != nil:
				return m.Untyped.GetValue()
			}
		}
	}
	return -1
}

func mustRead(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	var b strings.Builder
	if _, err := io.Copy(&b, resp.Body); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// TestServerRemoteWritesAFilteredSubset: a normal vigie keeps its TSDB
// and also sends what write_relabel_configs keep to VictoriaMetrics.
func TestServerRemoteWritesAFilteredSubset(t *testing.T) {
	vm := startVictoriaMetrics(t)
	central := vigietest.Start(t, vigietest.Options{Config: fmt.Sprintf(`global:
  hostname: central-e2e
  external_labels: {replica: a}
collect:
  interval: 1s
remote_write:
  - url: %s/api/v1/write
    queue_config: {batch_send_deadline: 1s}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: node_load1|vigie_build_info
        action: keep
`, vm.base)})
	vigietest.Eventually(t, 60*time.Second, "node_load1 in VictoriaMetrics", func() bool {
		s := vm.query(`node_load1{instance="central-e2e",replica="a"}`)
		return len(s) == 1
	})
	if s := vm.query(`{__name__=~"go_.*|vigie_collection_.*"}`); len(s) != 0 {
		t.Fatalf("series dropped by write_relabel_configs reached VictoriaMetrics: %v", s[0].Metric)
	}
	// The central keeps everything locally, without the external labels.
	if s := central.Query(`go_goroutines{instance="central-e2e"}`); len(s) != 1 || s[0].Metric["replica"] != "" {
		t.Fatalf("local go_goroutines = %v", s)
	}
}

// TestAgentReloadsRemoteWrite: a reload points the agent at another
// receiver; changing the mode is refused and the running one stays.
func TestAgentReloadsRemoteWrite(t *testing.T) {
	first, second := startVictoriaMetrics(t), startVictoriaMetrics(t)
	agent := vigietest.Start(t, vigietest.Options{Config: agentConfig("agent-reload", first.base+"/api/v1/write")})
	vigietest.Eventually(t, 60*time.Second, "the agent's series in the first receiver", func() bool {
		return len(first.query(`vigie_agent_info{instance="agent-reload"}`)) == 1
	})
	if err := os.WriteFile(agent.Config, []byte(agentConfig("agent-reload", second.base+"/api/v1/write")), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := agent.Post("/-/reload"); code != http.StatusOK {
		t.Fatalf("reload: %d %s", code, body)
	}
	vigietest.Eventually(t, 60*time.Second, "the agent's series in the second receiver", func() bool {
		return len(second.query(`vigie_agent_info{instance="agent-reload"}`)) == 1
	})
	server := strings.Replace(agentConfig("agent-reload", second.base+"/api/v1/write"), "mode: agent", "mode: server", 1)
	if err := os.WriteFile(agent.Config, []byte(server), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := agent.Post("/-/reload"); code != http.StatusInternalServerError || !strings.Contains(body, "mode: changes take effect at the next start only") {
		t.Fatalf("reload to server mode: %d %s, want 500 naming mode", code, body)
	}
}

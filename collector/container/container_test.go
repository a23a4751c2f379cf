package container

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/internal/testimage"
)

const mib = 1 << 20

func testConfig(key, value string) Config {
	cfg := DefaultConfig()
	cfg.Enabled = EnabledTrue
	cfg.Host = testSocket
	cfg.IncludeLabels = []string{key + "=" + value}
	return cfg
}

func TestMemoryAndLimits(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	k, v := runLabel(t)
	labels := map[string]string{k: v}
	limited := testimage.Run(t, img, testimage.RunOptions{Name: "limited", Labels: labels,
		Flags: []string{"--memory", "64m", "--memory-swap", "64m", "--cpus", "0.5"},
		Args:  []string{"-alloc", "58Mi"}})
	unlimited := testimage.Run(t, img, testimage.RunOptions{Name: "unlimited", Labels: labels,
		Args: []string{"-alloc", "4Mi"}})
	limited.WaitLog(t, "ready", 30*time.Second)
	unlimited.WaitLog(t, "ready", 30*time.Second)

	c := startCollector(t, testConfig(k, v))
	f := gather(t, c)
	if got, _ := f.get("vigie_collector_success", "collector", "docker"); got != 1 {
		t.Fatalf("vigie_collector_success = %v", got)
	}

	ws, ok := f.get("container_memory_working_set_bytes", "name", limited.Name)
	if !ok {
		t.Fatalf("no working set for %s:\n%s", limited.Name, f.dump("container_memory_working_set_bytes"))
	}
	t.Logf("working set of %s: %.2f MiB", limited.Name, ws/mib)
	const held = 58 * mib
	if d := (ws - held) / held; d < -0.10 || d > 0.10 {
		t.Errorf("working set %.1f MiB, holding %d MiB: off by %.0f%%", ws/mib, held/mib, d*100)
	}
	if usage, _ := f.get("container_memory_usage_bytes", "name", limited.Name); usage < ws {
		t.Errorf("usage %v < working set %v", usage, ws)
	}
	if rss, _ := f.get("container_memory_rss", "name", limited.Name); rss < 50*mib || rss > 64*mib {
		t.Errorf("rss %.1f MiB, want about 58", rss/mib)
	}
	if got, _ := f.get("container_spec_memory_limit_bytes", "name", limited.Name); got != 64*mib {
		t.Errorf("limit of %s = %v, want %v", limited.Name, got, 64*mib)
	}
	if got, ok := f.get("container_spec_memory_limit_bytes", "name", unlimited.Name); !ok || got != 0 {
		t.Errorf("limit of unlimited %s = %v (present %v), want 0", unlimited.Name, got, ok)
	}
	if q, _ := f.get("container_spec_cpu_quota", "name", limited.Name); q != 50000 {
		t.Errorf("cpu quota = %v, want 50000", q)
	}
	if p, _ := f.get("container_spec_cpu_period", "name", limited.Name); p != 100000 {
		t.Errorf("cpu period = %v, want 100000", p)
	}
	if ms := f.find("container_spec_cpu_quota", "name", unlimited.Name); len(ms) != 0 {
		t.Errorf("unlimited container has a cpu quota")
	}
	if cpu, _ := f.get("container_cpu_usage_seconds_total", "name", limited.Name); !(cpu > 0) {
		t.Errorf("cpu usage = %v, want > 0 (it touched 58 MiB)", cpu)
	}
	if st, _ := f.get("container_start_time_seconds", "name", limited.Name); time.Since(time.Unix(int64(st), 0)) > 2*time.Minute {
		t.Errorf("start time %v is not recent", time.Unix(int64(st), 0))
	}
	if got, _ := f.get("vigie_container_state", "name", limited.Name, "state", "running"); got != 1 {
		t.Errorf("state running = %v", got)
	}
	if got, _ := f.get("vigie_container_state", "name", limited.Name, "state", "exited"); got != 0 {
		t.Errorf("state exited = %v", got)
	}
	ms := f.find("container_last_seen", "name", limited.Name, "image", img, "id", strings.TrimSpace(limited.ID))
	if len(ms) != 1 {
		t.Errorf("container_last_seen with name, image and id labels: %s", f.dump("container_last_seen"))
	}
	if rx := f.find("container_network_receive_bytes_total", "name", limited.Name, "interface", "eth0"); len(rx) != 1 {
		t.Errorf("no network series for eth0: %s", f.dump("container_network_receive_bytes_total"))
	}
	// The engine's stats endpoint (used where the cgroup files are not
	// readable) gives the same working set.
	c.cgroups = nil
	f2 := gather(t, c)
	ws2, _ := f2.get("container_memory_working_set_bytes", "name", limited.Name)
	if d := (ws2 - held) / held; d < -0.10 || d > 0.10 {
		t.Errorf("working set from the engine's stats %.1f MiB, holding %d MiB", ws2/mib, held/mib)
	}
	if rx := f2.find("container_network_receive_bytes_total", "name", limited.Name, "interface", "eth0"); len(rx) != 1 {
		t.Errorf("engine stats: no network series for eth0")
	}
	// Only the test's own containers are collected.
	if n := len(f.find("container_last_seen")); n != 2 {
		t.Errorf("%d containers collected, want the 2 labelled %s=%s", n, k, v)
	}
}

func TestOOMAndRestarts(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	k, v := runLabel(t)
	labels := map[string]string{k: v}
	c := startCollector(t, testConfig(k, v))
	// A first gather before anything happens: what follows happens between two gathers.
	gather(t, c)

	oom := testimage.Run(t, img, testimage.RunOptions{Name: "oom", Labels: labels,
		Flags: []string{"--memory", "32m", "--memory-swap", "32m"},
		Args:  []string{"-alloc", "64Mi"}})
	crashy := testimage.Run(t, img, testimage.RunOptions{Name: "crashy", Labels: labels,
		Flags: []string{"--restart", "on-failure:2"},
		Args:  []string{"-crash-after", "200ms"}})
	oom.WaitInspect(t, "{{.State.Status}} {{.State.ExitCode}}", "exited 137", 30*time.Second)
	crashy.WaitInspect(t, "{{.State.Status}} {{.RestartCount}}", "exited 2", 60*time.Second)

	// The kernel killed it (137). Docker 20.10 on cgroup v1 can miss the OOM
	// event when the exit arrives first (a race in the engine, seen under
	// load): then the engine itself says OOMKilled=false and emits no oom
	// event, and vigie can only report what the engine says.
	var f families
	if oom.Inspect(t, "{{.State.OOMKilled}}") == "true" {
		f = waitMetric(t, c, 10*time.Second, "container_oom_events_total", func(v float64) bool { return v >= 1 }, "name", oom.Name)
		if got, _ := f.get("vigie_container_oom_killed", "name", oom.Name); got != 1 {
			t.Errorf("vigie_container_oom_killed = %v", got)
		}
	} else {
		t.Logf("the engine missed the OOM kill of %s (OOMKilled=false, exit 137): checking the exit only", oom.Name)
		f = waitMetric(t, c, 10*time.Second, "vigie_container_last_exit_code", func(v float64) bool { return v == 137 }, "name", oom.Name)
	}
	if got, _ := f.get("vigie_container_last_exit_code", "name", oom.Name); got != 137 {
		t.Errorf("exit code of the OOM-killed container = %v, want 137", got)
	}
	f = waitMetric(t, c, 10*time.Second, "vigie_container_exits_total", func(v float64) bool { return v == 3 }, "name", crashy.Name)
	if got, _ := f.get("vigie_container_restarts_total", "name", crashy.Name); got != 2 {
		t.Errorf("restarts of %s = %v, want 2", crashy.Name, got)
	}
	if got, _ := f.get("vigie_container_last_exit_code", "name", crashy.Name); got != 2 {
		t.Errorf("exit code of the crashing container = %v, want 2 (a Go panic)", got)
	}
	if got, _ := f.get("container_oom_events_total", "name", crashy.Name); got != 0 {
		t.Errorf("oom events of %s = %v, want 0", crashy.Name, got)
	}
	if got, _ := f.get("vigie_container_state", "name", crashy.Name, "state", "exited"); got != 1 {
		t.Errorf("state exited of %s = %v", crashy.Name, got)
	}

	// A container that dies and is removed between two gathers is still counted.
	gone := testimage.Run(t, img, testimage.RunOptions{Name: "gone", Labels: labels, Args: []string{"-exit-after", "100ms", "-code", "7"}})
	gone.WaitInspect(t, "{{.State.Status}}", "exited", 30*time.Second)
	testimage.Docker(t, "rm", gone.ID)
	f = waitMetric(t, c, 10*time.Second, "vigie_container_exits_total", func(v float64) bool { return v == 1 }, "name", gone.Name)
	if got, _ := f.get("vigie_container_last_exit_code", "name", gone.Name); got != 7 {
		t.Errorf("exit code of the removed container = %v, want 7", got)
	}
}

func TestComposeReplicas(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	k, v := runLabel(t)
	project := v
	compose := func(service string, n int) map[string]string {
		return map[string]string{k: v, composeProject: project, composeService: service,
			"com.docker.compose.container-number": string(rune('0' + n))}
	}
	health := []string{"--health-cmd", "check", "--health-interval", "500ms", "--health-retries", "1"}
	web1 := testimage.Run(t, img, testimage.RunOptions{Name: "web-1", Labels: compose("web", 1)})
	web2 := testimage.Run(t, img, testimage.RunOptions{Name: "web-2", Labels: compose("web", 2)})
	db := testimage.Run(t, img, testimage.RunOptions{Name: "db-1", Labels: compose("db", 1), Flags: health})
	sick := testimage.Run(t, img, testimage.RunOptions{Name: "api-1", Labels: compose("api", 1), Flags: health,
		Args: []string{"-unhealthy-after", "0s"}})
	loop := testimage.Run(t, img, testimage.RunOptions{Name: "worker-1", Labels: compose("worker", 1),
		Flags: []string{"--restart", "always"}, Args: []string{"-crash-after", "1s"}})
	cfg := testConfig(k, v)
	cfg.ExpectedReplicas = map[string]int{project + "/cron": 1, project + "/web": 2}
	c := startCollector(t, cfg)

	db.WaitInspect(t, "{{.State.Health.Status}}", "healthy", 30*time.Second)
	sick.WaitInspect(t, "{{.State.Health.Status}}", "unhealthy", 30*time.Second)
	testimage.Eventually(t, 30*time.Second, func() (bool, string) {
		out := loop.Inspect(t, "{{.RestartCount}}")
		return out != "0", "worker restarts: " + out
	})

	sel := func(service string) []string {
		return []string{"stack", project, "service", service, "mode", "compose"}
	}
	f := waitMetric(t, c, 10*time.Second, "vigie_service_replicas_running", func(v float64) bool { return v == 2 }, sel("web")...)
	want := map[string][2]float64{"web": {2, 2}, "db": {1, 1}, "api": {1, 0}, "worker": {1, 0}, "cron": {1, 0}}
	for svc, w := range want {
		d, _ := f.get("vigie_service_replicas_desired", sel(svc)...)
		r, _ := f.get("vigie_service_replicas_running", sel(svc)...)
		if d != w[0] || r != w[1] {
			t.Errorf("%s: desired %v running %v, want %v/%v", svc, d, r, w[0], w[1])
		}
	}
	if got, _ := f.get("vigie_container_health_status", "name", sick.Name, "status", "unhealthy"); got != 1 {
		t.Errorf("health status unhealthy of %s = %v", sick.Name, got)
	}
	if got, _ := f.get("container_last_seen", "name", web1.Name, "compose_project", project, "compose_service", "web"); got == 0 {
		t.Errorf("compose labels missing: %s", f.dump("container_last_seen"))
	}

	testimage.Docker(t, "stop", "-t", "1", web2.ID)
	f = waitMetric(t, c, 10*time.Second, "vigie_service_replicas_running", func(v float64) bool { return v == 1 }, sel("web")...)
	if d, _ := f.get("vigie_service_replicas_desired", sel("web")...); d != 2 {
		t.Errorf("web desired after a stop = %v, want 2", d)
	}
}

func TestSwarmReplicas(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	initSwarm(t)
	k, v := runLabel(t)
	svc := testimage.Name("svc")
	t.Cleanup(func() {
		_, _ = testimage.DockerErr("service", "rm", svc)
		// Wait for the task containers to go, so the image can be removed.
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			out, _ := testimage.DockerErr("ps", "-aq", "--filter", "label=com.docker.swarm.service.name="+svc)
			if out == "" {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	testimage.Docker(t, "service", "create", "--detach", "--name", svc, "--no-resolve-image",
		"--label", testimage.Label+"=1", "--label", "com.docker.stack.namespace=vigie-test-stack",
		"--container-label", testimage.Label+"=1", "--container-label", k+"="+v,
		// docker stack deploy labels the service and its containers with the stack.
		"--container-label", "com.docker.stack.namespace=vigie-test-stack",
		"--replicas", "2", "--restart-condition", "none", "--stop-grace-period", "1s",
		img, "-alloc", "1Mi")
	c := startCollector(t, testConfig(k, v))
	sel := []string{"service", svc, "stack", "vigie-test-stack", "mode", "replicated"}
	f := waitMetric(t, c, 60*time.Second, "vigie_service_replicas_running", func(v float64) bool { return v == 2 }, sel...)
	if d, _ := f.get("vigie_service_replicas_desired", sel...); d != 2 {
		t.Fatalf("desired = %v, want 2", d)
	}
	tasks := f.find("container_last_seen", "swarm_service", svc, "swarm_stack", "vigie-test-stack")
	if len(tasks) != 2 {
		t.Fatalf("want 2 task containers with swarm labels: %s", f.dump("container_last_seen"))
	}
	slots := map[string]bool{}
	for _, m := range tasks {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "swarm_task_slot" {
				slots[lp.GetValue()] = true
			}
		}
	}
	if !slots["1"] || !slots["2"] {
		t.Errorf("task slots %v, want 1 and 2", slots)
	}

	// Kill one task's container; restart-condition none keeps it down.
	ids := strings.Fields(testimage.Docker(t, "ps", "-q", "--filter", "label=com.docker.swarm.service.name="+svc))
	if len(ids) != 2 {
		t.Fatalf("task containers: %v", ids)
	}
	testimage.Docker(t, "kill", ids[0])
	testimage.Eventually(t, 30*time.Second, func() (bool, string) {
		out, _ := testimage.DockerErr("inspect", "-f", "{{.State.Running}}", ids[0])
		return out == "false", "killed container still running"
	})
	// The engine's task state follows the container within a moment; one
	// gather after that must show it.
	killed := time.Now()
	f = waitMetric(t, c, 15*time.Second, "vigie_service_replicas_running", func(v float64) bool { return v == 1 }, sel...)
	t.Logf("running dropped to 1 %v after the container stopped", time.Since(killed).Round(time.Millisecond))
	if d, _ := f.get("vigie_service_replicas_desired", sel...); d != 2 {
		t.Errorf("desired after the kill = %v, want 2", d)
	}
}

// initSwarm requires this engine to be an active swarm manager (.ci/run
// runs `docker swarm init` before the tests). It fails under CI and skips
// otherwise; it never joins or leaves a swarm itself, since leaving would
// tear down services that are not the test's.
func initSwarm(t *testing.T) {
	t.Helper()
	state, err := testimage.DockerErr("info", "-f", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}")
	if err != nil {
		t.Fatal(err)
	}
	if state == "active true" {
		return
	}
	msg := fmt.Sprintf("this Docker engine is not an active swarm manager (%s); run: docker swarm init --advertise-addr 127.0.0.1", state)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// otherCollector stands for the rest of vigie's collectors.
type otherCollector struct{}

func (otherCollector) Name() string { return "other" }
func (otherCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	ch <- prometheus.MustNewConstMetric(prometheus.NewDesc("vigie_test_other", "x", nil, nil), prometheus.GaugeValue, 1)
	return nil
}

// lockedBuffer collects log output from concurrent goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestEngineUnreachable(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled = EnabledTrue
	cfg.Host = "unix://" + t.TempDir() + "/docker.sock"
	var logs lockedBuffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	c, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewSet(5*time.Second, logger, c, otherCollector{}))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	var body string
	for i := 0; i < 3; i++ {
		start := time.Now()
		resp, err := http.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET /metrics: %s\n%s", resp.Status, b)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("gather %d took %v with the engine down", i, d)
		}
		body = string(b)
	}
	for _, want := range []string{`vigie_collector_success{collector="docker"} 0`, `vigie_collector_success{collector="other"} 1`, "vigie_test_other 1"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "container_") {
		t.Errorf("container series with the engine down:\n%s", body)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return when its context ended")
	}
	// One line for the failing collector, one for the event stream; not one per gather.
	if n := strings.Count(logs.String(), "collector failed"); n != 1 {
		t.Errorf("%d 'collector failed' lines, want 1:\n%s", n, logs.String())
	}
	if n := strings.Count(logs.String(), "event stream lost"); n > 1 {
		t.Errorf("%d 'event stream lost' lines, want at most 1:\n%s", n, logs.String())
	}
	if !strings.Contains(logs.String(), "docker.sock") {
		t.Errorf("the log does not say which socket failed:\n%s", logs.String())
	}
}

func TestAutoWithoutEngine(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Host = "unix://" + t.TempDir() + "/docker.sock"
	var logs lockedBuffer
	c, err := New(cfg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 2; i++ {
		f := gather(t, c)
		if ms := f.find("vigie_collector_success", "collector", "docker"); len(ms) != 0 {
			t.Errorf("auto mode without an engine reports success/failure: %s", f.dump("vigie_collector_success"))
		}
	}
	if n := strings.Count(logs.String(), "no docker engine"); n != 1 {
		t.Errorf("%d 'no docker engine' lines, want 1:\n%s", n, logs.String())
	}
}

func TestAutoFindsEngine(t *testing.T) {
	needDocker(t)
	cfg := DefaultConfig()
	cfg.Host = testSocket
	cfg.IncludeLabels = []string{"vigie-test-none=1"}
	c, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f := gather(t, c)
	if got, ok := f.get("vigie_collector_success", "collector", "docker"); !ok || got != 1 {
		t.Errorf("auto with an engine: success %v (present %v)", got, ok)
	}
}

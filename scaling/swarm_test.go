package scaling

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/rules"
	"github.com/prometheus/prometheus/tsdb"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/container"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/testimage"
)

// burner is the program of the CPU-burning test image: it spins until the
// unix time given by -until, then idles until stopped.
const burner = `package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

var sink uint64

func main() {
	until := flag.Int64("until", 0, "burn CPU until this unix time")
	flag.Parse()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		for time.Now().Unix() < *until {
			for i := 0; i < 1000000; i++ {
				sink += uint64(i)
			}
		}
	}()
	fmt.Println("ready")
	<-stop
}
`

// needSwarm skips (or fails, under CI) without a Docker engine in an active swarm.
func needSwarm(t *testing.T) {
	t.Helper()
	out, err := exec.Command("docker", "info", "-f", "{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}").Output()
	if err != nil || strings.TrimSpace(string(out)) != "active true" {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker swarm manager needed: %q %v", out, err)
		}
		t.Skipf("docker swarm manager needed: %q %v", out, err)
	}
}

// buildBurner builds the FROM-scratch image with the burner as its entrypoint.
func buildBurner(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{"go.mod": "module burner\n\ngo 1.22\n", "main.go": burner} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", "burner", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOFLAGS=", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build burner: %v\n%s", err, out)
	}
	prog, err := os.ReadFile(filepath.Join(dir, "burner"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "burner", Mode: 0o755, Size: int64(len(prog)), ModTime: time.Unix(0, 0)}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write(prog)
	_ = tw.Close()
	ref := testimage.Name("cpuburn") + ":test"
	imp := exec.Command("docker", "import", "-c", `ENTRYPOINT ["/burner"]`, "-c", "LABEL "+testimage.Label+"=1", "-", ref)
	imp.Stdin = &buf
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v\n%s", err, out)
	}
	t.Cleanup(func() { _, _ = testimage.DockerErr("image", "rm", "-f", ref) })
	return ref
}

// createService starts a Swarm service of the burner and removes it in t.Cleanup.
func createService(t *testing.T, image, name string, until time.Time, flags ...string) {
	t.Helper()
	t.Cleanup(func() { _, _ = testimage.DockerErr("service", "rm", name) })
	args := []string{"service", "create", "--detach", "--no-resolve-image", "--name", name,
		"--label", testimage.Label + "=1", "--container-label", testimage.Label + "=1", "--replicas", "1"}
	args = append(args, flags...)
	args = append(args, image, "-until", strconv.FormatInt(until.Unix(), 10))
	testimage.Docker(t, args...)
}

func replicasOf(t *testing.T, name string) int {
	t.Helper()
	out := testimage.Docker(t, "service", "inspect", "-f", "{{.Spec.Mode.Replicated.Replicas}}", name)
	n, err := strconv.Atoi(out)
	if err != nil {
		t.Fatalf("replicas of %s: %q", name, out)
	}
	return n
}

// pipeline is vigie's metric path for the test: the container collector,
// gathered every interval into a TSDB, read by a PromQL engine.
func pipeline(t *testing.T, ctx context.Context, include string, interval time.Duration) (*collector.Loop, QueryFunc) {
	t.Helper()
	logger := slog.New(slog.DiscardHandler)
	ccfg := container.DefaultConfig()
	ccfg.IncludeLabels = []string{include}
	cc, err := container.New(ccfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewSet(10*time.Second, logger, cc))
	db, err := tsdb.Open(t.TempDir(), logger, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	loop := collector.NewLoop(reg, collector.NewIngester(db, labels.FromStrings("job", "vigie", "instance", "test")), interval, logger, nil)
	eng := promql.NewEngine(promql.EngineOpts{MaxSamples: 1_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	return loop, QueryFunc(rules.EngineQueryFunc(eng, db))
}

// TestSwarmScalesUpAndDown runs the whole path on the Docker engine: a
// service burning CPU against a 0.1-core limit gets a higher recommendation,
// apply mode scales it up for real and, once the load stops, back down after
// the (shortened) scale-down stabilisation window. A service without a CPU
// limit gets a clear reason and no action.
func TestSwarmScalesUpAndDown(t *testing.T) {
	needSwarm(t)
	image := buildBurner(t)
	busy := testimage.Name("busy")
	free := testimage.Name("nolimit")
	burnUntil := time.Now().Add(40 * time.Second)
	createService(t, image, busy, burnUntil, "--limit-cpu", "0.1", "--reserve-cpu", "0.01", "--reserve-memory", "4m")
	createService(t, image, free, burnUntil, "--limit-cpu", "0", "--reserve-cpu", "0")

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	const interval = time.Second
	loop, query := pipeline(t, ctx, testimage.Label+"=1", interval)

	window := 5
	zero := config.Duration(0)
	cfg := DefaultConfig()
	cfg.RateWindow = config.Duration(4 * interval)
	cfg.Services = []ServiceConfig{
		// The burner gets less than its 0.1 core on a busy 2-core machine
		// (30-90% of the limit was seen): a 20% target keeps it above.
		{Service: busy, MinReplicas: 1, MaxReplicas: 3, Metrics: []MetricConfig{{CPU: f(20)}},
			Behavior: &BehaviorConfig{ScaleDown: &RulesConfig{StabilizationWindowSeconds: &window}},
			Apply:    ApplyConfig{Enabled: true, Cooldown: &zero}},
		{Service: free, MinReplicas: 1, MaxReplicas: 3, Metrics: []MetricConfig{{CPU: f(50)}}, Apply: ApplyConfig{Enabled: true}},
	}
	act, err := NewSwarmActuator(container.DefaultConfig().Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = act.Close() })
	s, err := New(Options{Config: cfg, Query: query, StateDB: openState(t), Actuator: act, Inventory: act})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []Result
	loop.OnCommit(func(ts time.Time) {
		if err := s.Evaluate(ctx, ts); err != nil && ctx.Err() == nil {
			t.Logf("evaluate: %v", err)
		}
		mu.Lock()
		seen = append(seen, s.Last())
		mu.Unlock()
	})
	go loop.Run(ctx)

	testimage.Eventually(t, 90*time.Second, func() (bool, string) {
		return replicasOf(t, busy) >= 2, fmt.Sprintf("%s has %d replicas; last: %+v", busy, replicasOf(t, busy), s.Last().Services)
	})
	testimage.Eventually(t, 120*time.Second, func() (bool, string) {
		return time.Now().After(burnUntil) && replicasOf(t, busy) == 1, fmt.Sprintf("%s has %d replicas; last: %+v", busy, replicasOf(t, busy), s.Last().Services)
	})
	cancel()

	mu.Lock()
	defer mu.Unlock()
	if r := seen[len(seen)-1].Capacity.Reservations; r == nil || r.Error != "" || r.Nodes < 1 || r.CPUCores <= 0 || r.Services[busy] != (Reservation{CPUCores: 0.01, MemoryBytes: 4 << 20}) {
		t.Errorf("swarm inventory: %+v", r)
	}
	var upReason, stabilised, noLimit bool
	running, raised := -1, -1 // first evaluations with the busy replica running, with a higher recommendation
	for i, r := range seen {
		if i < 4 {
			t.Logf("evaluation %d at %s: %s %d→%d %q", i, r.Time.Format(time.TimeOnly), r.Services[0].Service, r.Services[0].Current, r.Services[0].Desired, r.Services[0].Reasons)
		}
		if st := r.Services[0]; st.Known && !hasReason(st.Reasons, "no running replica") && running < 0 {
			running = i
		}
		if st := r.Services[0]; st.Desired > st.Current && raised < 0 {
			raised = i
		}
		for _, st := range r.Services {
			switch st.Service {
			case busy:
				upReason = upReason || (st.Desired > st.Current && hasReason(st.Reasons, "% of 20% target"))
				stabilised = stabilised || slices.Contains(st.Limits, LimitStabilisation)
			case free:
				noLimit = noLimit || hasReason(st.Reasons, "has no CPU limit")
			}
		}
	}
	// The rate of CPU usage needs two samples: the second collection with
	// the replica running has the recommendation.
	if running < 0 || raised < 0 || raised-running > 2 {
		t.Errorf("replica running at evaluation %d, higher recommendation at %d: want within two collection intervals", running, raised)
	}
	if !upReason || !stabilised || !noLimit {
		t.Errorf("reasons seen: scale-up with cpu %v, scale-down stabilised %v, no CPU limit %v", upReason, stabilised, noLimit)
	}
	acts, err := s.audit.list(context.Background(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	var ups, downs int
	for _, a := range acts {
		t.Logf("audit: %s %s %d→%d %s %q", a.Time.Format(time.TimeOnly), a.Service, a.From, a.To, a.Result, a.Reasons)
		if a.Service == free {
			t.Errorf("action on the service without a limit: %+v", a)
		}
		if a.Result != ResultApplied {
			t.Errorf("action not applied: %+v", a)
		}
		if a.To > a.From {
			ups++
		} else {
			downs++
		}
	}
	if ups == 0 || downs == 0 {
		t.Errorf("audit trail %+v: want scale-ups and a scale-down", acts)
	}
	if n := replicasOf(t, free); n != 1 {
		t.Errorf("%s has %d replicas, want 1 (untouched)", free, n)
	}
}

package logs

import (
	"context"
	"math"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/logs"
)

func needDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker is required in CI: %v", err)
		}
		t.Skipf("no docker engine: %v", err)
	}
}

// TestDockerLogs follows a real container with Compose labels that prints
// "ready", panics after 3 s and is restarted once. The collector is
// stopped before the first crash and started again after it: the lines
// written meanwhile are read from the saved position, none twice.
func TestDockerLogs(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	cfg := logs.DefaultConfig()
	cfg.Docker.Enabled = true
	cfg.PollInterval = config.Duration(100 * time.Millisecond)
	h := newHarness(t, cfg)

	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = h.c.Run(ctx) })
		return func() { cancel(); wg.Wait() }
	}
	stop := run()
	t.Cleanup(func() { stop() })
	c := testimage.Run(t, img, testimage.RunOptions{
		Name:   "logs",
		Flags:  []string{"--restart", "on-failure:1"},
		Labels: map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "api"},
		Args:   []string{"-crash-after", "3s"},
	})
	find := func(query string) []logs.Hit {
		q, err := logs.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		hits, err := h.store.Select(context.Background(), logs.Selection{Matchers: q.Matchers, End: math.MaxInt64, Contains: q.Contains(), Limit: 100}, q.Keep)
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	const ready, panics = `{compose_project="shop", compose_service="api", stream="stdout"} |= "ready"`, `{source="api", stream="stderr"} |= "panic: "`
	testimage.Eventually(t, 60*time.Second, func() (bool, string) {
		return len(find(ready)) == 1, "waiting for the ready line"
	})
	stop()
	c.WaitInspect(t, "{{.RestartCount}}", "1", 60*time.Second)
	stop = run()
	c.WaitInspect(t, "{{.State.Status}}", "exited", 60*time.Second)
	testimage.Eventually(t, 60*time.Second, func() (bool, string) {
		return len(find(panics)) == 2 && len(find(ready)) == 2, "waiting for two runs' lines"
	})
	stop()
	r, p := find(ready), find(panics)
	if len(r) != 2 || len(p) != 2 {
		t.Fatalf("%d ready lines, %d panics; want 2 and 2", len(r), len(p))
	}
	hit := p[0]
	if !strings.Contains(hit.Line, "\ngoroutine ") || hit.Labels.Get("container") != c.Name || hit.Labels.Get("level") != "critical" && hit.Labels.Get("level") != "error" {
		t.Errorf("panic entry %v:\n%s", hit.Labels, hit.Line)
	}
	if v := testutil.ToFloat64(h.c.metrics.matches.WithLabelValues("go_panic", "panic", "api")); v != 2 {
		t.Errorf("go_panic matches = %v, want 2", v)
	}
}

package testimage_test

import (
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/testimage"
)

func TestImage(t *testing.T) {
	img := testimage.Build(t)

	t.Run("hold", func(t *testing.T) {
		c := testimage.Run(t, img, testimage.RunOptions{Name: "hold", Args: []string{"-alloc", "8Mi"}})
		c.WaitLog(t, "ready 8388608", 30*time.Second)
		c.WaitInspect(t, "{{.State.Status}}", "running", 10*time.Second)
	})
	t.Run("exit", func(t *testing.T) {
		c := testimage.Run(t, img, testimage.RunOptions{Name: "exit", Args: []string{"-exit-after", "100ms", "-code", "3"}})
		c.WaitInspect(t, "{{.State.Status}} {{.State.ExitCode}}", "exited 3", 30*time.Second)
	})
	t.Run("crash", func(t *testing.T) {
		c := testimage.Run(t, img, testimage.RunOptions{Name: "crash", Args: []string{"-crash-after", "100ms"}})
		c.WaitInspect(t, "{{.State.Status}} {{.State.ExitCode}}", "exited 2", 30*time.Second)
	})
	t.Run("oom", func(t *testing.T) {
		c := testimage.Run(t, img, testimage.RunOptions{Name: "oom",
			Flags: []string{"--memory", "32m", "--memory-swap", "32m"}, Args: []string{"-alloc", "64Mi"}})
		c.WaitInspect(t, "{{.State.Status}} {{.State.OOMKilled}}", "exited true", 30*time.Second)
	})
	t.Run("health", func(t *testing.T) {
		c := testimage.Run(t, img, testimage.RunOptions{Name: "health",
			Flags: []string{"--health-cmd", "check", "--health-interval", "1s", "--health-retries", "1"},
			Args:  []string{"-unhealthy-after", "3s"}})
		c.WaitInspect(t, "{{.State.Health.Status}}", "healthy", 30*time.Second)
		c.WaitInspect(t, "{{.State.Health.Status}}", "unhealthy", 30*time.Second)
	})
	if out := testimage.Docker(t, "ps", "-aq", "--filter", "label=vigie-test=1", "--filter", "name=vigie-test-hold"); strings.TrimSpace(out) != "" {
		t.Errorf("container of a finished subtest still exists: %s", out)
	}
}

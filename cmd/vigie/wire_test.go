package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// A damaged state database stops `vigie run` at start: exit 1, and the
// message names the file and the recovery steps.
func TestRunRefusesDamagedStateDatabase(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		t.Fatal(err)
	}
	garbage := []byte(strings.Repeat("not a sqlite database, just damaged bytes\n", 200))
	if err := os.WriteFile(filepath.Join(dataDir, "vigie.db"), garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, testConfig)
	code, out, errOut := runArgs("run", "--config", cfg, "--data-dir", dataDir, "--listen", "127.0.0.1:0")
	if code != 1 || out != "" {
		t.Fatalf("exit %d, stdout %q, want exit 1", code, out)
	}
	if !strings.Contains(errOut, "state database") || !strings.Contains(errOut, "is damaged") || !strings.Contains(errOut, "recover") {
		t.Fatalf("stderr does not explain the damage:\n%s", errOut)
	}
}

// The state database's maintenance runs in the app: each pruner reports.
func TestStateMaintenanceRuns(t *testing.T) {
	ta := startApp(t, testConfig, appOptions{})
	vigietest.Eventually(t, 30*time.Second, "vigie_state_pruned_rows_total for notify and rules", func() bool {
		return len(ta.Query(`vigie_state_pruned_rows_total{component=~"notify|rules"}`)) == 2
	})
}

// The scaler evaluates after collections and answers on the app's API; a
// reload changes the services it recommends for.
func TestScalingThroughTheApp(t *testing.T) {
	ta := startApp(t, testConfig+`scaling:
  services:
    - service: backend
      min_replicas: 1
      max_replicas: 4
      metrics:
        - cpu: 70
`, appOptions{})
	services := func() []string {
		r := ta.Get("/api/v1/scaling", nil)
		var d struct {
			Time     time.Time `json:"time"`
			Services []struct {
				Service string `json:"service"`
			} `json:"services"`
		}
		if r.Code != 200 || json.Unmarshal(r.Data, &d) != nil || d.Time.IsZero() {
			return nil
		}
		var names []string
		for _, s := range d.Services {
			names = append(names, s.Service)
		}
		return names
	}
	vigietest.Eventually(t, 30*time.Second, "a scaling evaluation of backend", func() bool {
		return slices.Equal(services(), []string{"backend"})
	})
	if r := ta.Get("/api/v1/scaling/actions", nil); r.Code != 200 || r.Status != "success" {
		t.Fatalf("/api/v1/scaling/actions: %d %s %s", r.Code, r.Status, r.Error)
	}
	replaceFile(t, ta.cfgFile, testConfig+"scaling:\n  services:\n    - {service: frontend, min_replicas: 1, max_replicas: 2, metrics: [{cpu: 50}]}\n")
	if err := ta.a.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	vigietest.Eventually(t, 30*time.Second, "scaling evaluates frontend after the reload", func() bool {
		return slices.Equal(services(), []string{"frontend"})
	})
}

// collect.systemd.enabled adds the systemd collector to the collections; a
// reload that disables it takes it out. (No systemd runs here: it reports
// failure, which is what a host without D-Bus shows.)
func TestSystemdCollectorIsWired(t *testing.T) {
	ta := startApp(t, testConfig+"  systemd: {enabled: true, unit_include: 'ssh\\.service'}\n", appOptions{})
	vigietest.Eventually(t, 30*time.Second, `vigie_collector_success{collector="systemd"}`, func() bool {
		return len(ta.Query(`vigie_collector_success{collector="systemd"}`)) == 1
	})
	replaceFile(t, ta.cfgFile, testConfig)
	if err := ta.a.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	vigietest.Eventually(t, 30*time.Second, "the systemd collector gone after the reload", func() bool {
		return len(ta.Query(`vigie_collector_success{collector="systemd"} and timestamp(vigie_collector_success{collector="systemd"}) > time() - 1.5`)) == 0
	})
}

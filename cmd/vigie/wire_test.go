package main

import (
	"os"
	"path/filepath"
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

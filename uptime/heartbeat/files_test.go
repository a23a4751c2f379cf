package heartbeat

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// A backup directory (under the root path) with a stale file, a fresh
// empty one and a fresh good one.
func TestFileChecks(t *testing.T) {
	now := time.Date(2026, 5, 4, 4, 0, 0, 0, time.UTC)
	root, cfg := backupTree(t, now)
	reg := prometheus.NewPedanticRegistry()
	_, err := New(context.Background(), Options{Config: cfg, StateDB: openState(t, t.TempDir()), RootPath: root,
		Registerer: reg, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{reg: reg}
	secs := func(age time.Duration) float64 { return float64(now.Add(-age).Unix()) }
	for _, c := range []struct {
		check, metric string
		want          float64
		present       bool
	}{
		{"stale", "vigie_file_count", 2, true},
		{"stale", "vigie_file_newest_mtime_seconds", secs(72 * time.Hour), true},
		{"stale", "vigie_file_newest_size_bytes", 5000, true},
		{"stale", "vigie_file_max_age_seconds", 26 * 3600, true},
		{"stale", "vigie_file_min_size_bytes", 1000, true},
		{"empty", "vigie_file_newest_size_bytes", 0, true},
		{"empty", "vigie_file_previous_size_bytes", 4000, true},
		{"empty", "vigie_file_newest_mtime_seconds", secs(time.Hour), true},
		{"good", "vigie_file_count", 2, true},
		{"good", "vigie_file_newest_size_bytes", 4100, true},
		{"good", "vigie_file_previous_size_bytes", 4000, true},
		{"none", "vigie_file_count", 0, true},
		{"none", "vigie_file_newest_mtime_seconds", 0, false},
		{"none", "vigie_file_min_size_bytes", 0, false},
		{"none", "vigie_file_max_age_seconds", 26 * 3600, true},
	} {
		v, ok := f.metric(t, c.metric, map[string]string{"name": c.check})
		if ok != c.present || v != c.want {
			t.Errorf("%s{name=%q} = %v (present %v), want %v (present %v)", c.metric, c.check, v, ok, c.want, c.present)
		}
	}
	// The glob is under the root path, never outside it.
	if files, err := checkFiles(root, "/backup/good/../../../*"); err == nil || len(files) != 0 {
		t.Errorf("escaped the root: %v %v", files, err)
	}
}

// backupTree writes, under a new root, backup directories with a stale
// file, a fresh empty one and a fresh good one, and returns file checks
// of them (and of a directory with no file).
func backupTree(t *testing.T, now time.Time) (string, Config) {
	t.Helper()
	root := t.TempDir()
	write := func(rel string, size int, age time.Duration) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		mt := now.Add(-age)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	write("backup/stale/db-0501.dump", 5000, 72*time.Hour)
	write("backup/stale/db-0430.dump", 5000, 96*time.Hour)
	write("backup/empty/db-0503.dump", 4000, 25*time.Hour)
	write("backup/empty/db-0504.dump", 0, time.Hour)
	write("backup/good/db-0503.dump", 4000, 25*time.Hour)
	write("backup/good/db-0504.dump", 4100, time.Hour)
	write("backup/good/notes.txt", 10, 0)
	if err := os.MkdirAll(filepath.Join(root, "backup/good/old.dump"), 0o755); err != nil { // a directory is not a backup
		t.Fatal(err)
	}

	day := dur(26 * time.Hour)
	cfg := Config{Files: []FileConfig{
		{Name: "stale", Path: "/backup/stale/*.dump", MaxAge: day, MinSize: 1000},
		{Name: "empty", Path: "/backup/empty/*.dump", MaxAge: day, MinSize: 1000},
		{Name: "good", Path: "/backup/good/*.dump", MaxAge: day, MinSize: 1000},
		{Name: "none", Path: "/backup/none/*.dump", MaxAge: day},
	}}
	return root, cfg
}

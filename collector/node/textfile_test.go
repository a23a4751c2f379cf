package node

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// textfileCollector is a node collector running the textfile collector alone.
func textfileCollector(t *testing.T, dir string, logger *slog.Logger) *Collector {
	t.Helper()
	cfg := fixtureConfig(t)
	cfg.TextfileDirectory = dir
	c, err := New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	c.subs = slices.DeleteFunc(c.subs, func(s sub) bool { return s.name != "textfile" })
	if len(c.subs) != 1 {
		t.Fatalf("textfile sub-collector not registered: %v", c.subs)
	}
	return c
}

// copyFixtures copies testdata/textfile to a temporary directory with
// every file's mtime set to a known instant.
func copyFixtures(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	mtime := time.Unix(1700000000, 0)
	err := filepath.WalkDir("testdata/textfile", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("testdata/textfile", path)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if err := os.WriteFile(target, b, 0o644); err != nil {
			return err
		}
		return os.Chtimes(target, mtime, mtime)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestTextfileGolden gathers each case under testdata/textfile through a
// pedantic registry (which refuses inconsistent families) and compares
// with testdata/textfile/<case>.out (-update rewrites them).
func TestTextfileGolden(t *testing.T) {
	root := copyFixtures(t)
	for _, tc := range []struct{ name, dir string }{
		{"two_files", "two_files"},
		{"inconsistent_labels", "inconsistent_labels"},
		{"types", "types"},
		{"merge_same_help", "merge_same_help"},
		{"merge_no_help", "merge_no_help"},
		{"merge_different_help", "merge_different_help"},
		{"merge_different_type", "merge_different_type"},
		{"duplicate_series", "duplicate_series"},
		{"labels_across_files", "labels_across_files"},
		{"invalid", "invalid"},
		{"client_timestamp", "client_timestamp"},
		{"no_files", "no_files"},
		{"nonexistent_path", "nonexistent_path"},
		{"glob", "glob/d*"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			c := textfileCollector(t, filepath.Join(root, tc.dir), slog.New(slog.NewTextHandler(&logs, nil)))
			fams := gather(t, c)
			var names []string
			for n := range fams {
				if !strings.HasPrefix(n, "node_scrape_") && !strings.HasPrefix(n, "vigie_collector_") {
					names = append(names, n)
				}
			}
			slices.Sort(names)
			var buf bytes.Buffer
			for _, n := range names {
				if _, err := expfmt.MetricFamilyToText(&buf, fams[n]); err != nil {
					t.Fatal(err)
				}
			}
			got := strings.ReplaceAll(buf.String(), root, "testdata/textfile")
			golden := filepath.Join("testdata/textfile", tc.name+".out")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("exposition differs from %s (-update to accept):\n%s", golden, lineDiff(string(want), got))
			}
			failed := strings.Contains(got, "\nnode_textfile_scrape_error 1\n")
			if logged := strings.Contains(logs.String(), "level=ERROR"); logged != failed {
				t.Errorf("scrape_error %v but error logged %v:\n%s", failed, logged, logs.String())
			}
			if v, _ := find(t, fams, "node_scrape_collector_success", map[string]string{"collector": "textfile"}); v != 1 {
				t.Errorf("a bad textfile failed the collector")
			}
		})
	}
}

// An error is logged once while it lasts, and again once it came back.
func TestTextfileLogsOnce(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.prom")
	if err := os.WriteFile(bad, []byte("oops{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := textfileCollector(t, dir, slog.New(slog.NewTextHandler(&logs, nil)))
	gather(t, c)
	gather(t, c)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 1 {
		t.Errorf("logged %d times, want once:\n%s", n, logs.String())
	}
	if err := os.Remove(bad); err != nil {
		t.Fatal(err)
	}
	gather(t, c)
	if err := os.WriteFile(bad, []byte("oops{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gather(t, c)
	if n := strings.Count(logs.String(), "level=ERROR"); n != 2 {
		t.Errorf("logged %d times, want twice:\n%s", n, logs.String())
	}
}

// BenchmarkTextfile gathers a directory of 10 files of 1,000 series each.
func BenchmarkTextfile(b *testing.B) {
	dir := b.TempDir()
	for f := range 10 {
		var s strings.Builder
		fmt.Fprintf(&s, "# HELP app_%d_requests_total Requests.\n# TYPE app_%d_requests_total counter\n", f, f)
		for i := range 1000 {
			fmt.Fprintf(&s, "app_%d_requests_total{path=\"/p%d\",code=\"200\"} %d\n", f, i, i*7)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("app%d.prom", f)), []byte(s.String()), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	cfg := DefaultConfig()
	cfg.TextfileDirectory = dir
	c, err := New(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 1024)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	for b.Loop() {
		if err := c.updateTextfile(context.Background(), ch); err != nil {
			b.Fatal(err)
		}
	}
	close(ch)
	<-done
}

package logs

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestStoreFigures measures the store for docs/benchmarks/logs.md:
// VIGIE_LOGS_FIGURES=<lines> go test ./logs/ -run StoreFigures -v
// It writes the same lines to a raw file and compares a rare-term search
// with grep -c over that file.
func TestStoreFigures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VIGIE_LOGS_FIGURES"))
	if n == 0 {
		t.Skip("set VIGIE_LOGS_FIGURES=<lines> to measure the store")
	}
	dir := t.TempDir()
	if d := os.Getenv("VIGIE_LOGS_FIGURES_DIR"); d != "" {
		dir = d
	}
	s, err := OpenStore(context.Background(), StoreOptions{Path: filepath.Join(dir, "logs.db"), Retention: RetentionConfig{MaxSize: 1 << 40}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw, err := os.Create(filepath.Join(dir, "raw.log"))
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(raw, 1<<20)
	streams := make([]labels.Labels, 8)
	for i := range streams {
		streams[i] = labels.FromStrings("source", fmt.Sprintf("svc-%d", i), "job", "bench")
	}
	formats := []string{
		`{"time":"2026-12-02T00:00:00Z","level":"info","msg":"request served","path":"/api/v1/items/%d","duration_ms":12}`,
		`ts=2026-12-02T00:00:00Z level=warn msg="slow query" id=%d duration=1.2s`,
		`2026-12-02 00:00:00.000 UTC [%d] LOG:  checkpoint complete: wrote 12 buffers`,
		`10.0.0.1 - - [02/Dec/2026:00:00:00 +0000] "GET /index.html?id=%d HTTP/1.1" 200 5120 "-" "Mozilla/5.0"`,
	}
	t0 := time.Unix(1_800_000_000, 0).UnixNano()
	batch := make([]Entry, 0, 10000)
	var rawBytes int64
	var insertCPU time.Duration
	start := time.Now()
	for i := range n {
		line := fmt.Sprintf(formats[i%len(formats)], i)
		if i%1_000_003 == 500_000 {
			line += " needle-xyzzy"
		}
		rawBytes += int64(len(line) + 1)
		w.WriteString(line)
		w.WriteByte('\n')
		batch = append(batch, Entry{Labels: streams[i%len(streams)], Level: LevelInfo, TS: t0 + int64(i)*int64(time.Millisecond), Line: line})
		if len(batch) == cap(batch) || i == n-1 {
			c0 := cpuTime()
			if err := s.Append(context.Background(), batch, nil); err != nil {
				t.Fatal(err)
			}
			insertCPU += cpuTime() - c0
			batch = batch[:0]
		}
	}
	insert := time.Since(start)
	_ = w.Flush()
	_ = raw.Close()
	_, _ = s.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	used, _ := s.UsedBytes(context.Background())
	fi, _ := os.Stat(filepath.Join(dir, "logs.db"))
	t.Logf("%d lines, %.1f raw bytes/line; store: %d bytes used, file %d bytes: %.1f bytes/line (%.2fx raw); insert %.0f lines/s (%.0f lines per CPU-second of Append)",
		n, float64(rawBytes)/float64(n), used, fi.Size(), float64(used)/float64(n), float64(used)/float64(rawBytes), float64(n)/insert.Seconds(), float64(n)/insertCPU.Seconds())

	q, _ := ParseQuery(`{job="bench"} |= "needle-xyzzy"`)
	c0 := cpuTime()
	start = time.Now()
	hits, err := s.Select(context.Background(), Selection{Matchers: q.Matchers, End: math.MaxInt64, Contains: q.Contains(), Limit: 100}, q.Keep)
	if err != nil {
		t.Fatal(err)
	}
	search, searchCPU := time.Since(start), cpuTime()-c0
	start = time.Now()
	out, err := exec.Command("grep", "-c", "needle-xyzzy", filepath.Join(dir, "raw.log")).Output()
	grep := time.Since(start)
	t.Logf("search |= over all lines: %d hits in %v (%v CPU); grep -c: %s in %v (%v)", len(hits), search, searchCPU, strings.TrimSpace(string(out)), grep, err)
	q, _ = ParseQuery(`{source="svc-3"} |= "id=4"`)
	start = time.Now()
	hits, _ = s.Select(context.Background(), Selection{Matchers: q.Matchers, End: math.MaxInt64, Contains: q.Contains(), Limit: 100}, q.Keep)
	t.Logf("search of the newest 100 of one stream with a common term: %d hits in %v", len(hits), time.Since(start))
}

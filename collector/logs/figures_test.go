package logs

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/logs"
)

// TestBurstFigures tails a file of VIGIE_LOGS_BURST_MB megabytes into the
// real store and samples the process's resident memory on the way:
// VIGIE_LOGS_BURST_MB=1024 go test ./collector/logs -run BurstFigures -v
func TestBurstFigures(t *testing.T) {
	mb, _ := strconv.Atoi(os.Getenv("VIGIE_LOGS_BURST_MB"))
	if mb == 0 {
		t.Skip("set VIGIE_LOGS_BURST_MB to measure a burst")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "burst.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	corpus := benchCorpus(10000)
	lines := 0
	for written := 0; written < mb<<20; written += len(corpus) {
		_, _ = w.Write(corpus)
		lines += 10000
	}
	_ = w.Flush()
	_ = f.Close()
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(dir, "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	cs := &counting{Store: store}
	m := NewMetrics()
	p, _ := NewPipeline(m, nil)
	fs := newFileSource(cs, p, m, nil, time.Now)
	defer fs.close()
	cfg := fileConfig(filepath.Join(dir, "*.log"))
	cfg.MaxLineSize = logs.DefaultMaxLineSize

	var peak, atTenth atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			rss := rssKiB()
			if rss > peak.Load() {
				peak.Store(rss)
			}
			if atTenth.Load() == 0 && cs.n.Load() > int64(lines/10) {
				atTenth.Store(peak.Load())
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
	start, cpu0 := time.Now(), cpuTime()
	for cs.n.Load() < int64(lines) {
		fs.poll(context.Background(), cfg)
	}
	wall, cpu := time.Since(start), cpuTime()-cpu0
	close(done)
	wg.Wait()
	t.Logf("%d MiB, %d lines: %.0f lines/s wall, %.0f lines per CPU-second (tail, level, 5 patterns, SQLite); peak RSS %d MiB after 10%% of the lines, %d MiB at the end",
		mb, lines, float64(lines)/wall.Seconds(), float64(lines)/cpu.Seconds(), atTenth.Load()>>10, peak.Load()>>10)
}

func rssKiB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

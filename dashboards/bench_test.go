package dashboards

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// cpuTime is the process's user and system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkOverview is the overview page's server time with 50 containers
// and 7 days of samples every 15 s (about 10 M samples) in a real TSDB,
// through the access-control middleware with a session, for the 1h and 7d
// ranges. Target: under 300 ms. See docs/benchmarks/ui.md.
func BenchmarkOverview(b *testing.B) {
	start := time.Now()
	e := newTestEnv(b, 50, 7*24*time.Hour, 15*time.Second)
	// Compact the head into blocks first, as a running vigie has done
	// with all but its last hours.
	if err := e.db.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("7 days of samples for 50 containers appended and compacted in %s (%d blocks)", time.Since(start).Round(time.Millisecond), len(e.db.Blocks()))
	c, _ := e.login(b)
	for _, r := range []string{"1h", "24h", "7d"} {
		b.Run("range="+r, func(b *testing.B) {
			cpu0 := cpuTime()
			for b.Loop() {
				resp, body := e.get(b, c, "/?range="+r)
				if resp.StatusCode != 200 || len(body) < 1000 {
					b.Fatalf("overview: %d", resp.StatusCode)
				}
			}
			// CPU time per page, which a busy shared machine does not inflate
			// as it does the wall time.
			b.ReportMetric(float64((cpuTime()-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
		})
	}
}

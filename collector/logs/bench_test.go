package logs

import (
	"bytes"
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/logs"
)

// discard is a CursorStore that keeps nothing: the benchmark measures the
// pipeline, not SQLite.
type discard struct{ n int }

func (d *discard) Append(_ context.Context, e []logs.Entry, _ map[string]string) error {
	d.n += len(e)
	return nil
}
func (d *discard) Cursor(context.Context, string) (string, bool, error)       { return "", false, nil }
func (d *discard) Cursors(context.Context, string) (map[string]string, error) { return nil, nil }
func (d *discard) DeleteCursor(context.Context, string) error                 { return nil }

// benchCorpus is a mix of the formats the pipeline meets.
func benchCorpus(n int) []byte {
	formats := []string{
		`{"time":"2026-12-02T00:00:00Z","level":"info","msg":"request served","path":"/api/v1/items/%d","duration_ms":12}`,
		`ts=2026-12-02T00:00:00Z level=warn msg="slow query" id=%d duration=1.2s`,
		`2026-12-02 00:00:00.000 UTC [%d] LOG:  checkpoint complete: wrote 12 buffers`,
		`10.0.0.%d - - [02/Dec/2026:00:00:00 +0000] "GET /index.html HTTP/1.1" 200 5120 "-" "Mozilla/5.0"`,
		`2026-12-02T00:00:00Z ERROR [worker-%d] job failed: connection reset by peer`,
		`2026-12-02 00:00:00.000 UTC [%d] FATAL:  password authentication failed for user "app"`,
		`10.0.0.%d - - [02/Dec/2026:00:00:00 +0000] "POST /api HTTP/1.1" 502 157 "-" "curl/8.5"`,
		`I1202 00:00:00.000000       1 controller.go:%d] synced`,
	}
	var b bytes.Buffer
	for i := range n {
		fmt.Fprintf(&b, formats[i%len(formats)], i)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// BenchmarkTailPipeline: lines split from a file buffer, joined, given a
// level and matched against the 5 built-in patterns plus 1 user regexp.
func BenchmarkTailPipeline(b *testing.B) {
	data := benchCorpus(10000)
	lines := bytes.Count(data, []byte("\n"))
	p, err := NewPipeline(NewMetrics(), []logs.PatternConfig{{Name: "payment", Regex: `payment (declined|failed)`}})
	if err != nil {
		b.Fatal(err)
	}
	store := &discard{}
	fs := newFileSource(store, p, p.m, nil, time.Now)
	tf := &tailedFile{labels: labels.FromStrings("source", "bench"), src: p.Source("bench")}
	tf.join = joiner{maxLines: 500, timeout: time.Second, emit: func(line []byte, ts, cursor int64) { fs.emit(tf, line, ts, cursor) }}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	for b.Loop() {
		fs.split(tf, data, 64<<10)
		tf.join.flush()
		fs.entries = fs.entries[:0]
	}
	b.ReportMetric(float64(lines*b.N)/b.Elapsed().Seconds(), "lines/s")
	// On a shared machine wall time depends on the neighbours: lines per
	// second of this process's CPU time (all threads, GC included) is the
	// one-core figure.
	b.ReportMetric(float64(lines*b.N)/(cpuTime()-cpu0).Seconds(), "lines/cpu-s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDetectLevel is level detection alone.
func BenchmarkDetectLevel(b *testing.B) {
	lines := bytes.Split(bytes.TrimSpace(benchCorpus(64)), []byte("\n"))
	strs := make([]string, len(lines))
	for i, l := range lines {
		strs[i] = string(l)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		DetectLevel(strs[i%len(strs)])
	}
}

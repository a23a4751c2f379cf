package collector

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
)

// diskFull is an Appendable whose commits fail like a full disk while full is set.
type diskFull struct{ full bool }

func (d *diskFull) Appender(context.Context) storage.Appender { return &fullAppender{d: d} }

type fullAppender struct {
	storage.Appender // unused methods
	d                *diskFull
}

func (a *fullAppender) Append(ref storage.SeriesRef, _ labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	return ref + 1, nil
}

func (a *fullAppender) Commit() error {
	if a.d.full {
		return fmt.Errorf("write to WAL: %w", &pathError{"/data/wal/00000001", syscall.ENOSPC})
	}
	return nil
}
func (a *fullAppender) Rollback() error { return nil }
func (a *fullAppender) AppendExemplar(storage.SeriesRef, labels.Labels, exemplar.Exemplar) (storage.SeriesRef, error) {
	return 0, errors.ErrUnsupported
}
func (a *fullAppender) AppendHistogram(storage.SeriesRef, labels.Labels, int64, *histogram.Histogram, *histogram.FloatHistogram) (storage.SeriesRef, error) {
	return 0, errors.ErrUnsupported
}
func (a *fullAppender) UpdateMetadata(storage.SeriesRef, labels.Labels, metadata.Metadata) (storage.SeriesRef, error) {
	return 0, errors.ErrUnsupported
}

type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return "write " + e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

// A full disk fails every round with the same cause: it is logged once at
// warn, then at debug while it lasts, and once at info when it clears; the
// metric counts every failed round.
func TestLoopLogsRepeatedAppendErrorOnce(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	disk := &diskFull{full: true}
	reg := prometheus.NewRegistry()
	src := prometheus.NewRegistry()
	src.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_value", Help: "A value."}))
	loop := NewLoop(src, NewIngester(disk, labels.EmptyLabels()), 0, logger, reg)

	levels := func() []string {
		var out []string
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			if i := strings.Index(line, "level="); i >= 0 {
				out = append(out, strings.Fields(line[i:])[0])
			}
		}
		return out
	}
	for range 5 {
		loop.Once(context.Background())
	}
	want := []string{"level=WARN", "level=DEBUG", "level=DEBUG", "level=DEBUG", "level=DEBUG"}
	if got := levels(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("levels = %v, want %v\n%s", got, want, logs.String())
	}
	if !strings.Contains(logs.String(), "no space left on device") || !strings.Contains(logs.String(), "failed_rounds=5") {
		t.Fatalf("logs lack the cause or the count:\n%s", logs.String())
	}
	if got := testutil.ToFloat64(loop.gatherFails); got != 5 {
		t.Fatalf("vigie_collection_append_failures_total = %v, want 5", got)
	}

	disk.full = false
	loop.Once(context.Background())
	loop.Once(context.Background())
	want = append(want, "level=INFO")
	if got := levels(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after recovery levels = %v, want %v\n%s", got, want, logs.String())
	}
	if !strings.Contains(logs.String(), "works again") {
		t.Fatalf("no recovery line:\n%s", logs.String())
	}

	// A new failure after recovery warns again.
	disk.full = true
	loop.Once(context.Background())
	if got := levels(); got[len(got)-1] != "level=WARN" {
		t.Fatalf("new failure logged at %s", got[len(got)-1])
	}
}

func TestRootCause(t *testing.T) {
	base := errors.New("no space left on device")
	for _, err := range []error{
		base,
		fmt.Errorf("commit gather at 12:00:01: %w", base),
		fmt.Errorf("commit gather at 12:00:02: %w", fmt.Errorf("wal: %w", base)),
		errors.Join(fmt.Errorf("append x: %w", base), errors.New("other")),
	} {
		if got := rootCause(err); got != base.Error() {
			t.Errorf("rootCause(%q) = %q", err, got)
		}
	}
}

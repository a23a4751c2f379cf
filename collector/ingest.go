package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/storage"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Metadata is what /api/v1/metadata reports for one metric family.
type Metadata struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// Ingester appends gathered metric families into storage, one transaction a
// gather, with the gather's timestamp. Series that were in the previous
// gather and are missing from this one get a staleness marker, as Prometheus
// writes for a target's vanished series, so queries and alerts stop seeing
// them at once instead of five minutes later.
type Ingester struct {
	app         storage.Appendable
	extraLabels labels.Labels // added to every series that does not carry the label already

	mu       sync.Mutex
	refs     map[string]storage.SeriesRef // series key → ref, from the last gather
	prev     map[string]labels.Labels     // series key → labels, from the last gather
	metadata map[string]Metadata
	buf      []byte
	builder  *labels.Builder
}

// NewIngester returns an Ingester appending into app. extra labels (job,
// instance) are added to series that lack them.
func NewIngester(app storage.Appendable, extra labels.Labels) *Ingester {
	return &Ingester{
		app:         app,
		extraLabels: extra,
		refs:        map[string]storage.SeriesRef{},
		prev:        map[string]labels.Labels{},
		metadata:    map[string]Metadata{},
		builder:     labels.NewBuilder(labels.EmptyLabels()),
	}
}

// Metadata returns the metadata of the families seen in the last gather.
func (in *Ingester) Metadata() map[string]Metadata {
	in.mu.Lock()
	defer in.mu.Unlock()
	out := make(map[string]Metadata, len(in.metadata))
	for k, v := range in.metadata {
		out[k] = v
	}
	return out
}

// Append writes mfs at ts and commits. It returns the number of samples written.
func (in *Ingester) Append(ctx context.Context, ts time.Time, mfs []*dto.MetricFamily) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	t := ts.UnixMilli()
	app := in.app.Appender(ctx)
	seen := make(map[string]labels.Labels, len(in.prev))
	refs := make(map[string]storage.SeriesRef, len(in.refs))
	meta := make(map[string]Metadata, len(mfs))
	n := 0
	var errs []error
	add := func(name string, lbls []*dto.LabelPair, extraName, extraValue string, v float64) {
		in.builder.Reset(labels.EmptyLabels())
		for _, lp := range lbls {
			in.builder.Set(lp.GetName(), lp.GetValue())
		}
		if extraName != "" {
			in.builder.Set(extraName, extraValue)
		}
		in.extraLabels.Range(func(l labels.Label) {
			if in.builder.Get(l.Name) == "" {
				in.builder.Set(l.Name, l.Value)
			}
		})
		in.builder.Set(model.MetricNameLabel, name)
		ls := in.builder.Labels()
		in.buf = ls.Bytes(in.buf[:0])
		key := string(in.buf)
		if _, dup := seen[key]; dup {
			return // the same series twice in one gather: keep the first, as a scrape would
		}
		ref, err := app.Append(in.refs[key], ls, t, v)
		if err != nil {
			if len(errs) < 10 {
				errs = append(errs, fmt.Errorf("append %s: %w", ls, err))
			}
			return
		}
		seen[key] = ls
		refs[key] = ref
		n++
	}
	for _, mf := range mfs {
		name := mf.GetName()
		meta[name] = Metadata{Type: metricType(mf.GetType()), Help: mf.GetHelp(), Unit: mf.GetUnit()}
		for _, m := range mf.Metric {
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				add(name, m.Label, "", "", m.GetCounter().GetValue())
			case dto.MetricType_GAUGE:
				add(name, m.Label, "", "", m.GetGauge().GetValue())
			case dto.MetricType_UNTYPED:
				add(name, m.Label, "", "", m.GetUntyped().GetValue())
			case dto.MetricType_SUMMARY:
				s := m.GetSummary()
				for _, q := range s.Quantile {
					add(name, m.Label, "quantile", formatFloat(q.GetQuantile()), q.GetValue())
				}
				add(name+"_sum", m.Label, "", "", s.GetSampleSum())
				add(name+"_count", m.Label, "", "", float64(s.GetSampleCount()))
			case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
				h := m.GetHistogram()
				inf := false
				for _, b := range h.Bucket {
					if math.IsInf(b.GetUpperBound(), 1) {
						inf = true
					}
					add(name+"_bucket", m.Label, "le", formatFloat(b.GetUpperBound()), float64(b.GetCumulativeCount()))
				}
				if !inf {
					add(name+"_bucket", m.Label, "le", "+Inf", float64(h.GetSampleCount()))
				}
				add(name+"_sum", m.Label, "", "", h.GetSampleSum())
				add(name+"_count", m.Label, "", "", float64(h.GetSampleCount()))
			}
		}
	}
	// Series gone since the last gather are marked stale.
	stale := math.Float64frombits(value.StaleNaN)
	for key, ls := range in.prev {
		if _, ok := seen[key]; ok {
			continue
		}
		if _, err := app.Append(in.refs[key], ls, t, stale); err != nil && len(errs) < 10 {
			errs = append(errs, fmt.Errorf("append staleness marker for %s: %w", ls, err))
		}
	}
	if err := app.Commit(); err != nil {
		return 0, fmt.Errorf("commit gather at %s: %w", ts.Format(time.RFC3339), err)
	}
	in.prev, in.refs, in.metadata = seen, refs, meta
	return n, errors.Join(errs...)
}

func metricType(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_SUMMARY:
		return "summary"
	case dto.MetricType_HISTOGRAM:
		return "histogram"
	case dto.MetricType_GAUGE_HISTOGRAM:
		return "gaugehistogram"
	}
	return "unknown"
}

func formatFloat(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "+Inf"
	case math.IsInf(f, -1):
		return "-Inf"
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Loop gathers from a Gatherer every interval and appends the result.
type Loop struct {
	gatherer prometheus.Gatherer
	ingester *Ingester
	logger   *slog.Logger

	mu       sync.Mutex
	interval time.Duration
	reset    chan struct{}
	hooks    []func(time.Time)
	failing  repeatedError // the append error of the last rounds, logged once
	tracer   trace.Tracer  // a span per round; no-op unless SetTracer

	gathers     prometheus.Counter
	gatherFails prometheus.Counter
	samples     prometheus.Gauge
	duration    prometheus.Gauge
	last        prometheus.Gauge
}

// NewLoop returns a collection loop. Metrics about the loop itself are
// registered in reg.
func NewLoop(g prometheus.Gatherer, in *Ingester, interval time.Duration, logger *slog.Logger, reg prometheus.Registerer) *Loop {
	l := &Loop{
		gatherer: g, ingester: in, logger: logger, interval: interval, reset: make(chan struct{}, 1),
		tracer: noop.NewTracerProvider().Tracer(""),
		gathers: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_collection_gathers_total", Help: "Collection rounds run by vigie's collection loop."}),
		gatherFails: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_collection_append_failures_total", Help: "Collection rounds whose samples could not all be appended to storage."}),
		samples: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_collection_samples", Help: "Samples appended by the last collection round."}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_collection_duration_seconds", Help: "Duration of the last collection round (gather and append)."}),
		last: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_collection_last_timestamp_seconds", Help: "Time of the last committed collection round."}),
	}
	if reg != nil {
		reg.MustRegister(l.gathers, l.gatherFails, l.samples, l.duration, l.last)
	}
	return l
}

// SetTracer makes each round a "collect" span of t; call it before Run.
func (l *Loop) SetTracer(t trace.Tracer) { l.tracer = t }

// OnCommit registers f to run after every committed gather with its
// timestamp (rules evaluate right after the collection that feeds them).
func (l *Loop) OnCommit(f func(time.Time)) {
	l.mu.Lock()
	l.hooks = append(l.hooks, f)
	l.mu.Unlock()
}

// SetInterval changes the interval from the next round on.
func (l *Loop) SetInterval(d time.Duration) {
	l.mu.Lock()
	changed := d != l.interval
	l.interval = d
	l.mu.Unlock()
	if changed {
		select {
		case l.reset <- struct{}{}:
		default:
		}
	}
}

// Run gathers every interval until ctx ends; call Once first for a round
// right away.
func (l *Loop) Run(ctx context.Context) {
	for {
		l.mu.Lock()
		d := l.interval
		l.mu.Unlock()
		// Rounds fall on multiples of the interval so that every series is
		// evenly spaced and rules evaluated after a round see fresh data.
		wait := time.Until(time.Now().Truncate(d).Add(d))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-l.reset:
			t.Stop()
		case <-t.C:
		}
		l.Once(ctx)
	}
}

// Once runs one collection round now and returns its timestamp.
func (l *Loop) Once(ctx context.Context) time.Time {
	start := time.Now()
	ts := start
	ctx, span := l.tracer.Start(ctx, "collect", trace.WithTimestamp(start))
	defer span.End()
	mfs, err := l.gatherer.Gather()
	if err != nil {
		// A partial gather still holds everything that was collected.
		l.logger.Debug("gather reported errors", "err", err)
	}
	n, err := l.ingester.Append(ctx, ts, mfs)
	l.gathers.Inc()
	if err != nil {
		l.gatherFails.Inc()
	}
	l.logAppend(err)
	span.SetAttributes(attribute.Int("samples", n))
	if err != nil {
		span.SetStatus(codes.Error, rootCause(err))
	}
	l.samples.Set(float64(n))
	l.duration.Set(time.Since(start).Seconds())
	l.last.Set(float64(ts.UnixMilli()) / 1000)
	l.mu.Lock()
	hooks := l.hooks
	l.mu.Unlock()
	for _, h := range hooks {
		h(ts)
	}
	return ts
}

// repeatedError remembers an error that keeps coming back round after round.
type repeatedError struct {
	key   string // root cause's message; "" when the last round succeeded
	count int    // rounds failed in a row with that cause
}

// logAppend logs a round's append error without flooding: a full disk fails
// every round with the same cause, so a new cause is logged once at warn,
// its repeats at debug, and the recovery once at info.
// vigie_collection_append_failures_total counts every failed round.
func (l *Loop) logAppend(err error) {
	l.mu.Lock()
	prev := l.failing
	switch {
	case err == nil:
		l.failing = repeatedError{}
	case rootCause(err) == prev.key:
		l.failing.count++
	default:
		l.failing = repeatedError{key: rootCause(err), count: 1}
	}
	cur := l.failing
	l.mu.Unlock()
	switch {
	case err == nil && prev.key != "":
		l.logger.Info("appending collected samples works again", "failed_rounds", prev.count)
	case err == nil:
	case cur.count == 1:
		l.logger.Warn("append collected samples (repeats of this error are logged at debug level)", "err", err)
	default:
		l.logger.Debug("append collected samples", "err", err, "failed_rounds", cur.count)
	}
}

// rootCause is the message of the innermost error of err (the first of a
// join): "no space left on device", without the timestamps and series the
// wrapping messages carry, so repeats of one failure compare equal.
func rootCause(err error) string {
	for {
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			if next := u.Unwrap(); next != nil {
				err = next
				continue
			}
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 && errs[0] != nil {
				err = errs[0]
				continue
			}
		}
		return err.Error()
	}
}

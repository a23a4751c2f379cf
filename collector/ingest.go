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

	mu sync.Mutex
	// series of the last committed gather (and of the current one while it
	// runs), by the bytes of their label set. Kept from round to round and
	// updated in place, so that a round allocates nothing for a series
	// already known: a node's gather is the same few thousand series
	// every time.
	series   map[string]*ingested
	round    uint64 // the current gather's number
	metadata map[string]Metadata
	buf      []byte
	scratch  labels.ScratchBuilder
	lset     labels.Labels // scratch, overwritten for each sample
}

// ingested is a series appended by a past gather.
type ingested struct {
	lset  labels.Labels
	ref   storage.SeriesRef
	round uint64 // the last gather that appended it
}

// NewIngester returns an Ingester appending into app. extra labels (job,
// instance) are added to series that lack them.
func NewIngester(app storage.Appendable, extra labels.Labels) *Ingester {
	return &Ingester{
		app:         app,
		extraLabels: extra,
		series:      map[string]*ingested{},
		metadata:    map[string]Metadata{},
		scratch:     labels.NewScratchBuilder(8),
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
	in.round++
	r := &round{in: in, app: in.app.Appender(ctx), t: ts.UnixMilli()}
	meta := make(map[string]Metadata, len(mfs))
	for _, mf := range mfs {
		meta[mf.GetName()] = Metadata{Type: metricType(mf.GetType()), Help: mf.GetHelp(), Unit: mf.GetUnit()}
		r.family(mf)
	}
	// Series gone since the last gather are marked stale, and forgotten
	// once that is committed.
	stale := math.Float64frombits(value.StaleNaN)
	var gone []string
	for key, s := range in.series {
		if s.round == in.round {
			continue
		}
		if _, err := r.app.Append(s.ref, s.lset, r.t, stale); err != nil && len(r.errs) < 10 {
			r.errs = append(r.errs, fmt.Errorf("append staleness marker for %s: %w", s.lset, err))
		}
		gone = append(gone, key)
	}
	if err := r.app.Commit(); err != nil {
		return 0, fmt.Errorf("commit gather at %s: %w", ts.Format(time.RFC3339), err)
	}
	for _, key := range gone {
		delete(in.series, key)
	}
	in.metadata = meta
	return r.n, errors.Join(r.errs...)
}

// round is one gather being appended.
type round struct {
	in   *Ingester
	app  storage.Appender
	t    int64
	n    int
	errs []error
}

// family appends the samples of one metric family; the suffixed names and
// bucket bounds are formatted once for all its metrics.
func (r *round) family(mf *dto.MetricFamily) {
	name := mf.GetName()
	switch mf.GetType() {
	case dto.MetricType_COUNTER:
		for _, m := range mf.Metric {
			r.add(name, m.Label, "", "", m.GetCounter().GetValue())
		}
	case dto.MetricType_GAUGE:
		for _, m := range mf.Metric {
			r.add(name, m.Label, "", "", m.GetGauge().GetValue())
		}
	case dto.MetricType_UNTYPED:
		for _, m := range mf.Metric {
			r.add(name, m.Label, "", "", m.GetUntyped().GetValue())
		}
	case dto.MetricType_SUMMARY:
		sum, count := name+"_sum", name+"_count"
		var qs bounds
		for _, m := range mf.Metric {
			s := m.GetSummary()
			for i, q := range s.Quantile {
				r.add(name, m.Label, "quantile", qs.format(i, q.GetQuantile()), q.GetValue())
			}
			r.add(sum, m.Label, "", "", s.GetSampleSum())
			r.add(count, m.Label, "", "", float64(s.GetSampleCount()))
		}
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		bucket, sum, count := name+"_bucket", name+"_sum", name+"_count"
		var les bounds
		for _, m := range mf.Metric {
			h := m.GetHistogram()
			inf := false
			for i, b := range h.Bucket {
				if math.IsInf(b.GetUpperBound(), 1) {
					inf = true
				}
				r.add(bucket, m.Label, "le", les.format(i, b.GetUpperBound()), float64(b.GetCumulativeCount()))
			}
			if !inf {
				r.add(bucket, m.Label, "le", "+Inf", float64(h.GetSampleCount()))
			}
			r.add(sum, m.Label, "", "", h.GetSampleSum())
			r.add(count, m.Label, "", "", float64(h.GetSampleCount()))
		}
	}
}

// bounds formats the bucket bounds (or quantiles) of a family's metrics,
// which are almost always the same list: each is formatted once.
type bounds struct {
	vals []float64
	strs []string
}

func (b *bounds) format(i int, f float64) string {
	if i < len(b.vals) && b.vals[i] == f {
		return b.strs[i]
	}
	s := formatFloat(f)
	if i == len(b.vals) {
		b.vals, b.strs = append(b.vals, f), append(b.strs, s)
	}
	return s
}

// add appends one sample: the metric's labels, then extraName (quantile,
// le), then the Ingester's extra labels the series lacks, then the name.
// Empty values are no label, as in Prometheus.
func (r *round) add(name string, lbls []*dto.LabelPair, extraName, extraValue string, v float64) {
	in := r.in
	in.scratch.Reset()
	for _, lp := range lbls {
		if n := lp.GetName(); lp.GetValue() != "" && n != extraName && n != model.MetricNameLabel {
			in.scratch.Add(n, lp.GetValue())
		}
	}
	if extraValue != "" {
		in.scratch.Add(extraName, extraValue)
	}
	in.extraLabels.Range(func(l labels.Label) {
		if !has(lbls, extraName, extraValue, l.Name) {
			in.scratch.Add(l.Name, l.Value)
		}
	})
	in.scratch.Add(model.MetricNameLabel, name)
	in.scratch.Sort()
	in.scratch.Overwrite(&in.lset)
	in.buf = in.lset.Bytes(in.buf[:0])
	s, known := in.series[string(in.buf)] // no allocation for a lookup
	if known && s.round == in.round {
		return // the same series twice in one gather: keep the first, as a scrape would
	}
	if !known {
		// A copy: storage keeps the labels of a new series, and the
		// scratch ones are overwritten by the next sample.
		s = &ingested{lset: in.lset.Copy()}
	}
	ref, err := r.app.Append(s.ref, s.lset, r.t, v)
	if err != nil {
		if len(r.errs) < 10 {
			r.errs = append(r.errs, fmt.Errorf("append %s: %w", s.lset, err))
		}
		return
	}
	if !known {
		in.series[string(in.buf)] = s
	}
	s.ref, s.round = ref, in.round
	r.n++
}

// has reports whether a metric's labels, or its extra label, set name.
func has(lbls []*dto.LabelPair, extraName, extraValue, name string) bool {
	if extraName == name && extraValue != "" {
		return true
	}
	for _, lp := range lbls {
		if lp.GetName() == name && lp.GetValue() != "" {
			return true
		}
	}
	return false
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

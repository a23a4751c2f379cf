package collector

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

// refAppendable hands out a ref per new series and otherwise does nothing,
// so that the benchmark measures the Ingester alone.
type refAppendable struct{ next storage.SeriesRef }

func (r *refAppendable) Appender(context.Context) storage.Appender { return &refAppender{r: r} }

type refAppender struct {
	storage.Appender
	r *refAppendable
}

func (a *refAppender) Append(ref storage.SeriesRef, _ labels.Labels, _ int64, _ float64) (storage.SeriesRef, error) {
	if ref == 0 {
		a.r.next++
		ref = a.r.next
	}
	return ref, nil
}
func (a *refAppender) Commit() error { return nil }

// BenchmarkIngesterAppend is one collection round of a node's worth of
// series (1,000 gauges and a 10-bucket histogram per 20 label values) after
// the first: every series is known.
func BenchmarkIngesterAppend(b *testing.B) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "bench_gauge", Help: "h"}, []string{"device", "mode"})
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bench_seconds", Help: "h", Buckets: prometheus.LinearBuckets(0.1, 0.1, 10)}, []string{"handler"})
	reg.MustRegister(g, h)
	for i := range 1000 {
		g.WithLabelValues("dev"+strconv.Itoa(i/10), "m"+strconv.Itoa(i%10)).Set(float64(i))
	}
	for i := range 20 {
		h.WithLabelValues("/h" + strconv.Itoa(i)).Observe(float64(i) / 10)
	}
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	in := NewIngester(&refAppendable{}, labels.FromStrings("job", "vigie", "instance", "host"))
	ts := time.Now()
	if _, err := in.Append(context.Background(), ts, mfs); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		n, err := in.Append(context.Background(), ts.Add(time.Duration(i+1)*time.Second), mfs)
		if err != nil || n != 1000+20*13 {
			b.Fatalf("appended %d samples, err %v", n, err)
		}
	}
}

// recordAppendable keeps the labels of every sample of the last commit.
type recordAppendable struct {
	refAppendable
	got []string
}

func (r *recordAppendable) Appender(context.Context) storage.Appender {
	r.got = nil
	return &recordAppender{refAppender: refAppender{r: &r.refAppendable}, rec: r}
}

type recordAppender struct {
	refAppender
	rec *recordAppendable
}

func (a *recordAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	a.rec.got = append(a.rec.got, l.String())
	return a.refAppender.Append(ref, l, t, v)
}

// The labels a series gets: the metric's own (empty values dropped), then
// quantile or le, then job and instance unless the metric has them.
func TestIngesterLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "g", Help: "h"}, []string{"job", "empty"})
	g.WithLabelValues("own", "").Set(1)
	s := prometheus.NewSummary(prometheus.SummaryOpts{Name: "s", Help: "h", Objectives: map[float64]float64{0.5: 0.05}})
	s.Observe(1)
	reg.MustRegister(g, s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	rec := &recordAppendable{}
	in := NewIngester(rec, labels.FromStrings("job", "vigie", "instance", "host"))
	for round := range 2 { // the second round appends known series by ref
		if _, err := in.Append(context.Background(), time.UnixMilli(int64(1000*(round+1))), mfs); err != nil {
			t.Fatal(err)
		}
		want := []string{
			`{__name__="g", instance="host", job="own"}`,
			`{__name__="s", instance="host", job="vigie", quantile="0.5"}`,
			`{__name__="s_sum", instance="host", job="vigie"}`,
			`{__name__="s_count", instance="host", job="vigie"}`,
		}
		if strings.Join(rec.got, "\n") != strings.Join(want, "\n") {
			t.Errorf("round %d: got\n%s\nwant\n%s", round, strings.Join(rec.got, "\n"), strings.Join(want, "\n"))
		}
	}
}

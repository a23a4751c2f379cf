package collector

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/value"
	"github.com/prometheus/prometheus/tsdb"
)

type fakeCollector struct {
	name string
	run  func(ctx context.Context, ch chan<- prometheus.Metric) error
}

func (f fakeCollector) Name() string { return f.name }
func (f fakeCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return f.run(ctx, ch)
}

var okDesc = prometheus.NewDesc("test_ok", "A value.", []string{"from"}, nil)

func emit(from string) func(context.Context, chan<- prometheus.Metric) error {
	return func(_ context.Context, ch chan<- prometheus.Metric) error {
		ch <- prometheus.MustNewConstMetric(okDesc, prometheus.GaugeValue, 1, from)
		return nil
	}
}

// One failing, panicking or hung collector marks itself failed; the gather
// still succeeds with everything the others sent.
func TestSetIsolatesFailingCollectors(t *testing.T) {
	set := NewSet(300*time.Millisecond, slog.New(slog.DiscardHandler),
		fakeCollector{"good", emit("good")},
		fakeCollector{"failing", func(ctx context.Context, ch chan<- prometheus.Metric) error {
			ch <- prometheus.MustNewConstMetric(okDesc, prometheus.GaugeValue, 1, "failing")
			return errors.New("source unreachable")
		}},
		fakeCollector{"panicking", func(context.Context, chan<- prometheus.Metric) error { panic("boom") }},
		fakeCollector{"hung", func(ctx context.Context, ch chan<- prometheus.Metric) error {
			<-ctx.Done()
			return ctx.Err()
		}},
		fakeCollector{"off", func(context.Context, chan<- prometheus.Metric) error { return ErrNoData }},
	)
	reg := prometheus.NewRegistry()
	reg.MustRegister(set)
	start := time.Now()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather failed: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("a hung collector held the gather for %s (deadline 300ms)", d)
	}
	success := map[string]float64{}
	from := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			switch mf.GetName() {
			case "vigie_collector_success":
				success[m.Label[0].GetValue()] = m.GetGauge().GetValue()
			case "test_ok":
				from[m.Label[0].GetValue()] = true
			}
		}
	}
	want := map[string]float64{"good": 1, "failing": 0, "panicking": 0, "hung": 0}
	for name, v := range want {
		if got, ok := success[name]; !ok || got != v {
			t.Errorf("vigie_collector_success{collector=%q} = %v (present %v), want %v", name, got, ok, v)
		}
	}
	if _, ok := success["off"]; ok {
		t.Error("a collector with no data reported success or failure")
	}
	if !from["good"] || !from["failing"] {
		t.Errorf("metrics sent before a failure were lost: %v", from)
	}
}

// A series missing from a gather gets a staleness marker, so queries stop
// seeing it at once; the others are appended with the gather's timestamp.
func TestIngesterMarksVanishedSeriesStale(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	in := NewIngester(db, labels.FromStrings("job", "vigie", "instance", "host"))
	gather := func(names ...string) {
		reg := prometheus.NewRegistry()
		for _, n := range names {
			g := prometheus.NewGauge(prometheus.GaugeOpts{Name: n, Help: "h"})
			g.Set(1)
			reg.MustRegister(g)
		}
		mfs, _ := reg.Gather()
		if _, err := in.Append(context.Background(), time.Now(), mfs); err != nil {
			t.Fatal(err)
		}
	}
	gather("kept", "gone")
	time.Sleep(5 * time.Millisecond) // distinct millisecond timestamps
	gather("kept")
	q, _ := db.Querier(math.MinInt64, math.MaxInt64)
	defer q.Close()
	for name, wantStale := range map[string]bool{"kept": false, "gone": true} {
		set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", name))
		if !set.Next() {
			t.Fatalf("%s not stored", name)
		}
		ls := set.At().Labels()
		if ls.Get("job") != "vigie" || ls.Get("instance") != "host" {
			t.Errorf("%s lacks the extra labels: %s", name, ls)
		}
		it := set.At().Iterator(nil)
		var vals []float64
		for it.Next() != 0 {
			_, v := it.At()
			vals = append(vals, v)
		}
		last := vals[len(vals)-1]
		if value.IsStaleNaN(last) != wantStale || len(vals) != 2 {
			t.Errorf("%s: samples %v, want 2 with stale last = %v", name, vals, wantStale)
		}
	}
	if md := in.Metadata()["kept"]; md.Type != "gauge" || md.Help != "h" {
		t.Errorf("metadata of kept: %+v", md)
	}
}

package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

// BenchmarkQueryRange24h1000Series queries 24 hours of 1,000 series sampled
// every 15s (5.76M samples) through the HTTP handler, JSON included.
func BenchmarkQueryRange24h1000Series(b *testing.B) {
	db, err := tsdb.Open(b.TempDir(), slog.New(slog.DiscardHandler), nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	end := time.Now().Truncate(time.Minute)
	start := end.Add(-24 * time.Hour)
	const series = 1000
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "bench_requests_total", "instance", fmt.Sprintf("host%d", i%10), "series", fmt.Sprint(i))
	}
	refs := make([]storage.SeriesRef, series)
	for ts := start; !ts.After(end); ts = ts.Add(15 * time.Second) {
		app := db.Appender(context.Background())
		for j := range lsets {
			refs[j], err = app.Append(refs[j], lsets[j], ts.UnixMilli(), float64(ts.Unix()-start.Unix())*float64(j%7+1))
			if err != nil {
				b.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50_000_000, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	mux := http.NewServeMux()
	New(Options{Engine: engine, Queryable: db}).Register(mux)
	for _, bc := range []struct{ name, query, step string }{
		{"sum_by_instance_rate_step60s", "sum by (instance) (rate(bench_requests_total[5m]))", "60"},
		{"rate_each_series_step300s", "rate(bench_requests_total[5m])", "300"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			q := url.Values{"query": {bc.query}, "start": {fmt.Sprint(start.Unix())}, "end": {fmt.Sprint(end.Unix())}, "step": {bc.step}}
			for i := 0; i < b.N; i++ {
				rec := httptest.NewRecorder()
				mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/query_range?"+q.Encode(), nil))
				if rec.Code != 200 {
					b.Fatalf("%d %s", rec.Code, rec.Body.String())
				}
			}
		})
	}
}

package api

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

func TestScanQuery(t *testing.T) {
	for _, tc := range []struct {
		q          string
		depth, ops int
	}{
		{"up", 0, 0},
		{`sum(rate(up{job="a"}[5m]))`, 3, 1},
		{`up{job="(((((+"}`, 1, 1},
		{`up{job='[[[\'[['}`, 1, 1},
		{"up{job=`(((`}", 1, 1},
		{"up # ((((((\n+ (1)", 1, 1},
		{"a and b OR c unless d / atan2 e - f", 0, 6},
		{"android_or_not", 0, 0},
		{strings.Repeat("(", 10_000) + "1" + strings.Repeat(")", 10_000), 257, 0},
		{"1" + strings.Repeat("+1", 32_000), 0, 1001},
	} {
		if d, o := scanQuery(tc.q, 256, 1000); d != tc.depth || o != tc.ops {
			t.Errorf("scanQuery(%.40q) = %d, %d, want %d, %d", tc.q, d, o, tc.depth, tc.ops)
		}
	}
}

func TestQueryLimits(t *testing.T) {
	mux := testAPI(t)
	deep := strings.Repeat("(", 10_000) + "1" + strings.Repeat(")", 10_000)
	long := "up" + strings.Repeat(" ", DefaultMaxQueryLength)
	for _, tc := range []struct {
		path, query, want string
	}{
		{"/api/v1/query", deep, "deeper than the limit of 256 (api.max_query_depth)"},
		{"/api/v1/query_range", deep, "deeper than the limit of 256 (api.max_query_depth)"},
		{"/api/v1/parse_query", deep, "deeper than the limit of 256"},
		{"/api/v1/format_query", deep, "deeper than the limit of 256"},
		{"/api/v1/query_exemplars", deep, "deeper than the limit of 256"},
		{"/api/v1/query", long, "longer than the limit of 65536 bytes (api.max_query_length)"},
		{"/api/v1/query", "1" + strings.Repeat("+1", 32_000), "more than the limit of 1000 binary operators (api.max_query_operators)"},
	} {
		start := time.Now()
		rec := httptest.NewRecorder()
		body := url.Values{"query": {tc.query}, "start": {"0"}, "end": {"60"}, "step": {"15"}}.Encode()
		req := httptest.NewRequest(http.MethodPost, tc.path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"errorType":"bad_data"`) || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %.300s, want 400 bad_data with %q", tc.path, rec.Code, rec.Body, tc.want)
		}
		t.Logf("%s refused in %s", tc.path, time.Since(start))
	}
	// At the limit, a query still runs.
	ok := strings.Repeat("(", 256) + "1" + strings.Repeat(")", 256)
	if code, e := call(t, mux, "/api/v1/query", url.Values{"query": {ok}}); code != 200 {
		t.Errorf("depth 256: %d %s", code, e.Error)
	}
}

func TestConcurrentQueryLimit(t *testing.T) {
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	a := New(Options{
		Engine:               promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}),
		Queryable:            db,
		MaxConcurrentQueries: 1,
	})
	mux := http.NewServeMux()
	a.Register(mux)
	// Hold the only slot, as a long query would.
	slots := a.limits.Load().slots
	slots <- struct{}{}
	code, e := call(t, mux, "/api/v1/query", url.Values{"query": {"1"}, "timeout": {"0.05"}})
	if code != http.StatusServiceUnavailable || e.ErrorType != "timeout" || !strings.Contains(e.Error, "waiting for one of 1 query slots (api.max_concurrent_queries)") {
		t.Fatalf("busy: %d %+v", code, e)
	}
	<-slots
	if code, e := call(t, mux, "/api/v1/query", url.Values{"query": {"1"}}); code != 200 {
		t.Fatalf("free: %d %+v", code, e)
	}
	if len(slots) != 0 {
		t.Fatalf("slot not released: %d held", len(slots))
	}

	// A reload changes the limits for the next queries.
	c := DefaultConfig()
	c.MaxQueryDepth = 2
	c.MaxConcurrentQueries = 3
	a.ApplyConfig(c)
	if code, e := call(t, mux, "/api/v1/query", url.Values{"query": {"((1))"}}); code != 200 {
		t.Fatalf("depth 2 after reload: %d %+v", code, e)
	}
	if code, e := call(t, mux, "/api/v1/query", url.Values{"query": {"(((1)))"}}); code != 400 || !strings.Contains(e.Error, "limit of 2 (api.max_query_depth)") {
		t.Fatalf("depth 3 after reload: %d %+v", code, e)
	}
	if got := cap(a.limits.Load().slots); got != 3 {
		t.Fatalf("slots after reload = %d, want 3", got)
	}
}

func TestConfig(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.MaxQueryDepth = 0
	c.QueryTimeout = 0
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "max_query_depth: must be at least 1") || !strings.Contains(err.Error(), "query_timeout: must be at least 1s") {
		t.Fatalf("Validate = %v", err)
	}
	o := DefaultConfig().Apply(Options{})
	if o.MaxConcurrentQueries != 20 || o.QueryTimeout != 2*time.Minute || o.MaxQueryOperators != 1000 {
		t.Fatalf("Apply = %+v", o)
	}
}

package api

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/tsdb"
)

func testAPI(t *testing.T) *http.ServeMux {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), slog.New(slog.DiscardHandler), nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	app := db.Appender(context.Background())
	now := time.Now().UnixMilli()
	for _, ls := range []labels.Labels{
		labels.FromStrings("__name__", "up", "job", "node", "instance", "a"),
		labels.FromStrings("__name__", "up", "job", "node", "instance", "b"),
		labels.FromStrings("__name__", "up", "job", "pg", "instance", "c"),
		labels.FromStrings("__name__", "http_requests_total", "job", "api", "code", "200"),
	} {
		if _, err := app.Append(0, ls, now, 1); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	New(Options{
		Engine:    promql.NewEngine(promql.EngineOpts{MaxSamples: 1e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute}),
		Queryable: db,
		Metadata: func() map[string][]MetricMetadata {
			return map[string][]MetricMetadata{"up": {{Type: "gauge", Help: "Target up."}}}
		},
	}).Register(mux)
	return mux
}

type envelope struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
}

func call(t *testing.T, mux *http.ServeMux, path string, q url.Values) (int, envelope) {
	t.Helper()
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil))
	var e envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil {
		t.Fatalf("%s: not JSON: %s", path, rec.Body)
	}
	return rec.Code, e
}

func TestLabelsSeriesAndErrors(t *testing.T) {
	mux := testAPI(t)
	for _, tc := range []struct {
		path string
		q    url.Values
		code int
		want string // in data, or in error for failures
	}{
		{"/api/v1/labels", nil, 200, `["__name__","code","instance","job"]`},
		{"/api/v1/labels", url.Values{"match[]": {`{job="api"}`}}, 200, `["__name__","code","job"]`},
		{"/api/v1/label/job/values", nil, 200, `["api","node","pg"]`},
		{"/api/v1/label/instance/values", url.Values{"match[]": {`up{job="node"}`, `up{job="pg"}`}}, 200, `["a","b","c"]`},
		{"/api/v1/label/job/values", url.Values{"limit": {"2"}}, 200, `["api","node"]`},
		{"/api/v1/series", url.Values{"match[]": {`up{job="pg"}`}}, 200, `[{"__name__":"up","instance":"c","job":"pg"}]`},
		{"/api/v1/series", nil, 400, "no match[] parameter provided"},
		{"/api/v1/series", url.Values{"match[]": {`{job=~".*"}`}}, 400, "at least one non-empty matcher"},
		{"/api/v1/labels", url.Values{"match[]": {`up{`}}, 400, `invalid parameter "match[]"`},
		{"/api/v1/metadata", url.Values{"metric": {"up"}}, 200, `{"up":[{"type":"gauge","help":"Target up.","unit":""}]}`},
		{"/api/v1/query", url.Values{"query": {"sum(up)"}}, 200, `"resultType":"vector"`},
		{"/api/v1/query", url.Values{"query": {"up"}, "time": {"yesterday"}}, 400, `invalid parameter "time"`},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"10"}, "end": {"5"}, "step": {"1"}}, 400, "end timestamp must not be before start time"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"10"}, "step": {"0"}}, 400, "zero or negative query resolution step"},
		{"/api/v1/query_range", url.Values{"query": {"up"}, "start": {"0"}, "end": {"10"}}, 400, `invalid parameter "step"`},
		{"/api/v1/label/job/values", url.Values{"limit": {"-1"}}, 400, `invalid parameter "limit"`},
	} {
		code, e := call(t, mux, tc.path, tc.q)
		got := string(e.Data)
		if code >= 400 {
			got = e.Error
			if e.Status != "error" || e.ErrorType != "bad_data" {
				t.Errorf("%s %v: status %q errorType %q", tc.path, tc.q, e.Status, e.ErrorType)
			}
		}
		if code != tc.code || !strings.Contains(got, tc.want) {
			t.Errorf("%s %v: %d %s, want %d containing %s", tc.path, tc.q, code, got, tc.code, tc.want)
		}
	}
	// A truncated answer says so.
	_, e := call(t, mux, "/api/v1/label/job/values", url.Values{"limit": {"1"}})
	if len(e.Warnings) == 0 || !strings.Contains(e.Warnings[0], "truncated") {
		t.Errorf("limit without a warning: %+v", e)
	}
	// Only GET and POST.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodDelete, "/api/v1/query?query=up", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("DELETE: %d", rec.Code)
	}
}

package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/logs"
)

type harness struct {
	c     *Collector
	store *logs.Store
	reg   *prometheus.Registry
	srv   *httptest.Server
}

func newHarness(t *testing.T, cfg logs.Config) *harness {
	t.Helper()
	reg := prometheus.NewRegistry()
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(t.TempDir(), "logs.db"), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	c, err := New(Options{Config: cfg, Store: store, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(c.Routes()...)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &harness{c: c, store: store, reg: reg, srv: srv}
}

func (h *harness) post(t *testing.T, ct string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(h.srv.URL+"/loki/api/v1/push", ct, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (h *harness) get(t *testing.T, path string, q url.Values) (int, []byte) {
	t.Helper()
	resp, err := http.Get(h.srv.URL + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func snappyPush(t *testing.T, req *push.PushRequest) []byte {
	t.Helper()
	pb, err := req.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return snappy.Encode(nil, pb)
}

func TestRoutesAccess(t *testing.T) {
	h := newHarness(t, logs.DefaultConfig())
	for _, r := range h.c.Routes() {
		want := web.Read
		if strings.HasSuffix(r.Pattern, "/push") {
			want = web.Admin
		}
		if r.Access != want {
			t.Errorf("%s: %v, want %v", r.Pattern, r.Access, want)
		}
	}
}

func TestPushAndQuery(t *testing.T) {
	cfg := logs.DefaultConfig()
	cfg.Push.MaxBodySize = 4096
	cfg.Push.MaxStreams = 3
	h := newHarness(t, cfg)
	now := time.Now()
	req := &push.PushRequest{Streams: []push.Stream{
		{Labels: `{job="api", container="api-1"}`, Entries: []push.Entry{
			{Timestamp: now.Add(-2 * time.Second), Line: `level=info msg="started" port=8080`},
			{Timestamp: now.Add(-time.Second), Line: `level=error msg="db down" status=503`},
		}},
		{Labels: `{job="pg", level="warn"}`, Entries: []push.Entry{
			{Timestamp: now, Line: `FATAL:  sorry, too many clients already`},
		}},
	}}
	if code, body := h.post(t, "application/x-protobuf", snappyPush(t, req)); code != http.StatusNoContent {
		t.Fatalf("protobuf push: %d %s", code, body)
	}
	js := fmt.Sprintf(`{"streams":[{"stream":{"job":"web"},"values":[["%d","GET / 200"],["%d","GET /x 404"]]}]}`, now.UnixNano(), now.UnixNano()+1)
	if code, body := h.post(t, "application/json", []byte(js)); code != http.StatusNoContent {
		t.Fatalf("JSON push: %d %s", code, body)
	}

	code, body := h.get(t, "/loki/api/v1/query_range", url.Values{"query": {`{job="api"} | logfmt | status >= 500`}, "limit": {"10"}})
	var qr struct {
		Status string
		Data   struct {
			ResultType string
			Result     []struct {
				Stream map[string]string
				Values [][2]string
			}
		}
	}
	if err := json.Unmarshal(body, &qr); err != nil || code != 200 {
		t.Fatalf("query_range: %d %s %v", code, body, err)
	}
	if qr.Status != "success" || qr.Data.ResultType != "streams" || len(qr.Data.Result) != 1 ||
		qr.Data.Result[0].Values[0][1] != `level=error msg="db down" status=503` ||
		qr.Data.Result[0].Stream["level"] != "error" || qr.Data.Result[0].Stream["status"] != "503" {
		t.Fatalf("query_range result: %s", body)
	}
	// The pushed level label wins over detection; the pattern counts with its reason.
	_, body = h.get(t, "/loki/api/v1/query_range", url.Values{"query": {`{job="pg", level="warn"}`}})
	if !strings.Contains(string(body), "too many clients") {
		t.Fatalf("pg stream: %s", body)
	}
	if v := testutil.ToFloat64(h.c.metrics.matches.WithLabelValues("postgres_connection_error", "too_many_connections", "pg")); v != 1 {
		t.Errorf("postgres pattern counter = %v", v)
	}
	_, body = h.get(t, "/loki/api/v1/labels", nil)
	if want := `{"data":["container","job","level"],"status":"success"}`; strings.TrimSpace(string(body)) != want {
		t.Errorf("labels: %s", body)
	}
	_, body = h.get(t, "/loki/api/v1/label/job/values", nil)
	if want := `{"data":["api","pg","web"],"status":"success"}`; strings.TrimSpace(string(body)) != want {
		t.Errorf("label values: %s", body)
	}
	_, body = h.get(t, "/loki/api/v1/series", url.Values{"match[]": {`{job="web"}`}})
	if want := `{"data":[{"job":"web","level":"unknown"}],"status":"success"}`; strings.TrimSpace(string(body)) != want {
		t.Errorf("series: %s", body)
	}
	code, body = h.get(t, "/loki/api/v1/query_range", url.Values{"query": {`count_over_time({job="api"}[1m])`}})
	if code != 400 || !strings.Contains(string(body), "not supported") {
		t.Errorf("metric query: %d %s", code, body)
	}

	t.Run("errors", func(t *testing.T) {
		many := &push.PushRequest{}
		for i := range 4 {
			many.Streams = append(many.Streams, push.Stream{Labels: fmt.Sprintf(`{i="%d"}`, i), Entries: []push.Entry{{Timestamp: now, Line: "x"}}})
		}
		big := &push.PushRequest{Streams: []push.Stream{{Labels: `{a="b"}`, Entries: []push.Entry{{Timestamp: now, Line: strings.Repeat("z", 64<<10)}}}}}
		randomish := make([]byte, 8000) // incompressible
		rnd := rand.New(rand.NewPCG(1, 2))
		for i := range randomish {
			randomish[i] = byte(rnd.Uint32())
		}
		for _, tc := range []struct {
			name, ct string
			body     []byte
			code     int
			msg      string
		}{
			{"not snappy", "application/x-protobuf", []byte("hello"), 400, "snappy"},
			{"not protobuf", "application/x-protobuf", snappy.Encode(nil, []byte{0xff, 0xff, 0xff}), 400, "protobuf"},
			{"bad labels", "application/x-protobuf", snappyPush(t, &push.PushRequest{Streams: []push.Stream{{Labels: `{a=b}`}}}), 400, "labels"},
			{"bad JSON", "application/json", []byte(`{"streams":[`), 400, "JSON"},
			{"bad JSON timestamp", "application/json", []byte(`{"streams":[{"stream":{"a":"b"},"values":[["soon","x"]]}]}`), 400, "timestamp"},
			{"too many streams", "application/x-protobuf", snappyPush(t, many), 429, "4 streams"},
			{"body too large", "application/x-protobuf", snappy.Encode(nil, randomish), 413, "over the limit"},
			{"decodes too large", "application/x-protobuf", snappyPush(t, big), 413, "decodes to"},
			{"content type", "text/plain", []byte("x"), 415, "Content-Type"},
		} {
			code, body := h.post(t, tc.ct, tc.body)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Errorf("%s: %d %q, want %d with %q", tc.name, code, body, tc.code, tc.msg)
			}
		}
	})
}

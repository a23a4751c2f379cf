package api

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/tsdb"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/vigie-dev/vigie/internal/web"
)

// receiver serves the receiver routes over a real TSDB.
func receiver(t *testing.T, maxBody int64) (*tsdb.DB, *httptest.Server) {
	t.Helper()
	db, err := tsdb.Open(t.TempDir(), nil, nil, tsdb.DefaultOptions(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	mux := web.NewMux()
	mux.Handle(ReceiverRoutes(ReceiverOptions{Appendable: db, AppendableV2: db, MaxBodyBytes: maxBody})...)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return db, srv
}

// seriesOf returns the label sets of the series matching name=value.
func seriesOf(t *testing.T, db *tsdb.DB, name, value string) []labels.Labels {
	t.Helper()
	q, err := db.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	ss := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, name, value))
	var out []labels.Labels
	for ss.Next() {
		out = append(out, ss.At().Labels())
	}
	return out
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestRemoteWriteFromPrometheus: Debian's Prometheus scrapes a target and
// remote-writes into vigie's receiver; its series land in the TSDB with
// their labels.
func TestRemoteWriteFromPrometheus(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("prometheus (Debian's package) is needed: %v", err)
		}
		t.Skipf("prometheus not installed: %v", err)
	}
	db, srv := receiver(t, 0)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "# TYPE shop_orders_total counter\nshop_orders_total{payment=\"card\"} 42")
	}))
	t.Cleanup(target.Close)
	dir := t.TempDir()
	cfg := fmt.Sprintf(`global: {scrape_interval: 1s, external_labels: {cluster: test}}
scrape_configs:
  - job_name: shop
    static_configs: [{targets: [%q]}]
remote_write:
  - url: %s/api/v1/write
    queue_config: {batch_send_deadline: 200ms}
`, strings.TrimPrefix(target.URL, "http://"), srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=127.0.0.1:0")
	log, _ := os.Create(filepath.Join(dir, "log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	waitFor(t, 60*time.Second, "shop_orders_total written by Prometheus", func() bool {
		return len(seriesOf(t, db, "__name__", "shop_orders_total")) > 0
	})
	got := seriesOf(t, db, "__name__", "shop_orders_total")[0]
	for k, v := range map[string]string{"job": "shop", "payment": "card", "cluster": "test"} {
		if got.Get(k) != v {
			t.Errorf("label %s = %q, want %q (series %s)", k, got.Get(k), v, got)
		}
	}
}

// TestOTLPFromSDK: the OpenTelemetry Go SDK pushes metrics over OTLP/HTTP;
// they are stored under the names Prometheus's translator gives them, and
// the resource becomes target_info.
func TestOTLPFromSDK(t *testing.T) {
	db, srv := receiver(t, 0)
	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(srv.URL+"/otlp/v1/metrics"))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("service.instance.id", "i-1"),
		attribute.String("deployment.environment", "prod"))
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	c, err := mp.Meter("test").Int64Counter("http.server.requests", metric.WithUnit("{request}"))
	if err != nil {
		t.Fatal(err)
	}
	c.Add(ctx, 7, metric.WithAttributes(attribute.String("http.route", "/pay")))
	if err := reader.ForceFlush(ctx); err != nil {
		t.Fatalf("OTLP export: %v", err)
	}
	series := seriesOf(t, db, "__name__", "http_server_requests_total")
	if len(series) != 1 {
		t.Fatalf("http_server_requests_total: %d series, want 1", len(series))
	}
	s := series[0]
	if s.Get("job") != "checkout" || s.Get("instance") != "i-1" || s.Get("http_route") != "/pay" {
		t.Errorf("series %s: want job=checkout instance=i-1 http_route=/pay", s)
	}
	info := seriesOf(t, db, "__name__", "target_info")
	if len(info) != 1 || info[0].Get("deployment_environment") != "prod" {
		t.Errorf("target_info = %v, want one series with deployment_environment=prod", info)
	}
}

// TestReceiverBadAndOversizedBodies: Prometheus's status codes for a body
// that is not snappy protobuf, and 413 naming the cap for a large one.
func TestReceiverBadAndOversizedBodies(t *testing.T) {
	_, srv := receiver(t, 1024)
	post := func(path, ctype string, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Content-Encoding", "snappy")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return resp.StatusCode, string(b[:n])
	}
	if code, body := post("/api/v1/write", "application/x-protobuf", "not snappy"); code != http.StatusBadRequest {
		t.Errorf("garbage remote write: %d %q, want 400", code, body)
	}
	if code, body := post("/api/v1/write", "application/x-protobuf", strings.Repeat("x", 2048)); code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "1024-byte limit") {
		t.Errorf("oversized remote write: %d %q, want 413 naming the 1024-byte limit", code, body)
	}
	if code, body := post("/otlp/v1/metrics", "application/x-protobuf", "\xff\xff"); code != http.StatusBadRequest {
		t.Errorf("garbage OTLP: %d %q, want 400", code, body)
	}
}

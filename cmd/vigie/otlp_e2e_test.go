package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// TestOTLPMetricsIntoVigie: an application instrumented with the
// OpenTelemetry Go SDK pushes metrics to a running vigie; they are
// queryable under Prometheus's translated names, the resource in target_info.
func TestOTLPMetricsIntoVigie(t *testing.T) {
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n  docker: {enabled: false}\n"})
	ctx := context.Background()
	exp, err := otlpmetrichttp.New(ctx, otlpmetrichttp.WithEndpointURL(p.URL("/otlp/v1/metrics")))
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "checkout"), attribute.String("service.instance.id", "i-1"),
		attribute.String("deployment.environment", "prod"))
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(time.Hour))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithResource(res), sdkmetric.WithReader(reader))
	t.Cleanup(func() { _ = mp.Shutdown(context.Background()) })
	meter := mp.Meter("shop")
	orders, err := meter.Int64Counter("shop.orders", metric.WithUnit("{order}"))
	if err != nil {
		t.Fatal(err)
	}
	latency, err := meter.Float64Histogram("http.server.duration", metric.WithUnit("s"))
	if err != nil {
		t.Fatal(err)
	}
	orders.Add(ctx, 3, metric.WithAttributes(attribute.String("payment", "card")))
	latency.Record(ctx, 0.25)
	if err := reader.ForceFlush(ctx); err != nil {
		t.Fatalf("OTLP export to vigie: %v", err)
	}
	s := p.Query(`shop_orders_total{job="checkout",instance="i-1",payment="card"}`)
	if len(s) != 1 || s[0].Float() != 3 {
		t.Fatalf("shop_orders_total = %v, want one series at 3", s)
	}
	if s := p.Query(`http_server_duration_seconds_count{job="checkout"}`); len(s) != 1 || s[0].Float() != 1 {
		t.Fatalf("http_server_duration_seconds_count = %v, want 1", s)
	}
	if s := p.Query(`target_info{job="checkout",deployment_environment="prod"}`); len(s) != 1 {
		t.Fatalf("target_info = %v, want the resource's attributes", s)
	}
}

// TestOTLPJSONMetricsIntoVigie: OTLP/HTTP's JSON encoding, as the
// specification writes it (lowerCamelCase fields, 64-bit integers as
// strings, hex-free nanosecond timestamps) and as curl users or the
// Collector's otlphttp exporter with encoding: json send it.
func TestOTLPJSONMetricsIntoVigie(t *testing.T) {
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n  docker: {enabled: false}\n"})
	now := time.Now().UnixNano()
	body := fmt.Sprintf(`{"resourceMetrics": [{
  "resource": {"attributes": [
    {"key": "service.name", "value": {"stringValue": "billing"}},
    {"key": "service.instance.id", "value": {"stringValue": "b-7"}},
    {"key": "host.arch", "value": {"stringValue": "amd64"}}]},
  "scopeMetrics": [{"scope": {"name": "billing"}, "metrics": [
    {"name": "queue.depth", "unit": "{job}", "gauge": {"dataPoints": [
      {"asInt": "42", "timeUnixNano": "%[1]d", "attributes": [{"key": "queue", "value": {"stringValue": "invoices"}}]}]}},
    {"name": "payment.amount", "unit": "By", "sum": {"aggregationTemporality": 2, "isMonotonic": true, "dataPoints": [
      {"asDouble": 1536.5, "startTimeUnixNano": "%[2]d", "timeUnixNano": "%[1]d"}]}}]}]}]}`, now, now-int64(time.Minute))
	resp, err := http.Post(p.URL("/otlp/v1/metrics"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("OTLP JSON: status %d: %s", resp.StatusCode, out)
	}
	if s := p.Query(`queue_depth{job="billing",instance="b-7",queue="invoices"}`); len(s) != 1 || s[0].Float() != 42 {
		t.Fatalf("queue_depth = %v, want one series at 42", s)
	}
	if s := p.Query(`payment_amount_bytes_total{job="billing"}`); len(s) != 1 || s[0].Float() != 1536.5 {
		t.Fatalf("payment_amount_bytes_total = %v, want 1536.5", s)
	}
	if s := p.Query(`target_info{job="billing",instance="b-7",host_arch="amd64"}`); len(s) != 1 {
		t.Fatalf("target_info = %v, want the resource's attributes", s)
	}

	// A body that is not OTLP JSON is refused with a client error.
	resp, err = http.Post(p.URL("/otlp/v1/metrics"), "application/json", strings.NewReader(`{"resourceMetrics": 7}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("malformed OTLP JSON: status %d, want 400", resp.StatusCode)
	}
}

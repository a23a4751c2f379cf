package main

import (
	"context"
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

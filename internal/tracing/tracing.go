// Package tracing builds vigie's OpenTelemetry tracer provider: spans
// exported over OTLP/HTTP when tracing.endpoint is set, and a no-op
// provider (no allocation, no goroutine) when it is not.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/vigie-dev/vigie/config"
)

// Config is the tracing section.
type Config struct {
	// Endpoint is the OTLP/HTTP traces URL (http://collector:4318/v1/traces;
	// a URL without a path gets /v1/traces). Empty turns tracing off.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (an API key).
	Headers map[string]config.Secret `yaml:"headers,omitempty"`
	// SampleRatio is the fraction of root spans kept (default 1).
	SampleRatio float64 `yaml:"sample_ratio"`
}

// DefaultConfig is tracing off, every span kept once it is on.
func DefaultConfig() Config { return Config{SampleRatio: 1} }

// Validate checks the endpoint and the ratio.
func (c Config) Validate() error {
	var errs []error
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Errorf("endpoint", "invalid URL %q: want http(s)://host:port[/v1/traces]", c.Endpoint))
		}
	}
	if c.SampleRatio < 0 || c.SampleRatio > 1 {
		errs = append(errs, config.Errorf("sample_ratio", "must be between 0 and 1, got %g", c.SampleRatio))
	}
	return errors.Join(errs...)
}

// Options name what the spans come from.
type Options struct {
	ServiceName, Version, Hostname string
	// BatchTimeout is how long spans wait before an export (default 5s).
	BatchTimeout time.Duration
}

// Provider is vigie's tracer provider.
type Provider struct {
	trace.TracerProvider
	shutdown func(context.Context) error
}

// Shutdown exports the spans still buffered and stops.
func (p *Provider) Shutdown(ctx context.Context) error { return p.shutdown(ctx) }

// Enabled reports whether spans are exported.
func (p *Provider) Enabled() bool {
	_, off := p.TracerProvider.(noop.TracerProvider)
	return !off
}

// New returns the provider for cfg: a no-op one when no endpoint is set.
func New(cfg Config, o Options) (*Provider, error) {
	if cfg.Endpoint == "" {
		return &Provider{TracerProvider: noop.NewTracerProvider(), shutdown: func(context.Context) error { return nil }}, nil
	}
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("tracing.endpoint: %w", err)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	headers := map[string]string{}
	for k, v := range cfg.Headers {
		headers[k] = v.Value()
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(u.String()), otlptracehttp.WithHeaders(headers)}
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	if o.ServiceName == "" {
		o.ServiceName = "vigie"
	}
	if o.BatchTimeout <= 0 {
		o.BatchTimeout = 5 * time.Second
	}
	res := resource.NewWithAttributes(semconv.SchemaURL,
		semconv.ServiceName(o.ServiceName), semconv.ServiceVersion(o.Version),
		attribute.String("host.name", o.Hostname))
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithBatchTimeout(o.BatchTimeout)),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Provider{TracerProvider: tp, shutdown: tp.Shutdown}, nil
}

// TraceID is the trace id of ctx's span, or "" when it has none (tracing
// off): for log lines that must be found in the traces.
func TraceID(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.HasTraceID() {
		return ""
	}
	return sc.TraceID().String()
}

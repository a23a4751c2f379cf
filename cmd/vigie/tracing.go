package main

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/tracing"
)

// newTracing builds vigie's tracer provider from the tracing section, and
// the component that flushes it at shutdown. When tracing.endpoint is set
// it is also made OpenTelemetry's global provider: Prometheus's rules
// manager ("rule group", "rule") and scrape loops ("scrape",
// "scrapeRequest") trace through the global one only. Off, nothing global
// is touched and every tracer is a no-op.
func (a *app) newTracing(cfg *Config) (*tracing.Provider, component, error) {
	tp, err := tracing.New(cfg.Tracing, tracing.Options{Version: version, Hostname: cfg.Global.Hostname})
	if err != nil {
		return nil, nil, err
	}
	if tp.Enabled() {
		otel.SetTracerProvider(tp)
		a.log.Info("exporting traces", "endpoint", cfg.Tracing.Endpoint)
	}
	running := cfg.Tracing
	return tp, &tracingComponent{tp: tp, running: running}, nil
}

// tracingComponent flushes the spans at shutdown; the tracing section
// takes effect at the next start.
type tracingComponent struct {
	base
	tp      *tracing.Provider
	running tracing.Config
}

func (*tracingComponent) Name() string { return "tracing" }

func (c *tracingComponent) Prepare(cfg *Config) (func(), error) {
	if err := cfg.Tracing.Validate(); err != nil {
		return nil, config.Prefix("tracing", err)
	}
	return nil, nil
}

func (c *tracingComponent) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.tp.Shutdown(ctx)
}

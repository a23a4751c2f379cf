package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/scrape"
	"github.com/vigie-dev/vigie/internal/web"
)

// loopComponent is the collection loop: collect.interval and collect.timeout.
type loopComponent struct {
	base
	loop  *collector.Loop
	set   *collector.Set
	ready chan struct{} // closed after the first collection

	mu       sync.Mutex
	interval time.Duration // as last committed
	timeout  time.Duration
}

func (c *loopComponent) Name() string { return "collect" }

func (c *loopComponent) Prepare(cfg *Config) (func(), error) {
	interval, timeout := cfg.Collect.Interval.D(), cfg.collectTimeout()
	return func() {
		c.set.SetTimeout(timeout)
		c.loop.SetInterval(interval)
		c.mu.Lock()
		c.interval, c.timeout = interval, timeout
		c.mu.Unlock()
	}, nil
}

// Run collects once, then says the app is ready (so a query right after
// /-/ready answers has data), then collects on schedule.
func (c *loopComponent) Run(ctx context.Context) {
	c.loop.Once(ctx)
	close(c.ready)
	c.loop.Run(ctx)
}

func (c *loopComponent) effective() (interval, timeout time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.interval, c.timeout
}

// scrapeComponent runs the scrape jobs of collect.scrape.
type scrapeComponent struct {
	base
	s   *scrape.Scraper
	log *slog.Logger
}

func (c *scrapeComponent) Name() string { return "collect.scrape" }

// Prepare validates; at commit Prometheus's manager swaps the jobs (and
// keeps the previous ones if that fails).
func (c *scrapeComponent) Prepare(cfg *Config) (func(), error) {
	interval := cfg.Collect.Interval.D()
	return applyLater(cfg.Collect.Scrape, func(sc scrape.Config) error { return c.s.ApplyConfig(sc, interval) }, c.log, c.Name())
}

func (c *scrapeComponent) Run(ctx context.Context) { c.s.Run(ctx) }

// funcs is a component made of functions, for a package whose value
// already has the methods (New, ApplyConfig or Prepare, Run, Routes,
// Close): wiring it takes one literal in newApp. Nil functions do nothing.
type funcs struct {
	name    string
	prepare func(cfg *Config) (commit func(), err error)
	run     func(ctx context.Context)
	routes  func() []web.Route
	close   func() error
}

func (f funcs) Name() string { return f.name }

func (f funcs) Prepare(cfg *Config) (func(), error) {
	if f.prepare == nil {
		return nil, nil
	}
	return f.prepare(cfg)
}

func (f funcs) Run(ctx context.Context) {
	if f.run != nil {
		f.run(ctx)
	}
}

func (f funcs) Routes() []web.Route {
	if f.routes == nil {
		return nil
	}
	return f.routes()
}

func (f funcs) Close() error {
	if f.close == nil {
		return nil
	}
	return f.close()
}

// applyLater adapts an ApplyConfig-style method to Prepare: validate now,
// apply at commit (for a package whose ApplyConfig cannot fail once its
// configuration validated).
func applyLater[T interface{ Validate() error }](section T, apply func(T) error, log *slog.Logger, name string) (func(), error) {
	if err := section.Validate(); err != nil {
		return nil, err
	}
	return func() {
		if err := apply(section); err != nil {
			log.Error("configuration validated but not applied", "component", name, "err", err)
		}
	}, nil
}

// selfComponent serves vigie's own endpoints: metrics, health, readiness,
// reload, the profiler and the index page.
type selfComponent struct {
	base
	a *app
}

func (*selfComponent) Name() string { return "self" }

func (c *selfComponent) Routes() []web.Route {
	a := c.a
	errLog := slog.NewLogLogger(a.log.Handler(), slog.LevelWarn)
	routes := []web.Route{
		{Pattern: "/metrics", Access: web.Read, Handler: promhttp.HandlerFor(a.snapshot.Last(), promhttp.HandlerOpts{
			EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError, ErrorLog: errLog,
		})},
		{Pattern: "/metrics/internal", Access: web.Read, Handler: promhttp.HandlerFor(a.internal, promhttp.HandlerOpts{
			EnableOpenMetrics: true, ErrorHandling: promhttp.ContinueOnError, ErrorLog: errLog,
		})},
		web.R("GET /-/healthy", web.Public, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintln(w, "vigie is Healthy.")
		}),
		web.R("GET /-/ready", web.Public, c.readyHandler),
		web.R("POST /-/reload", web.Admin, c.reloadHandler),
		web.R("PUT /-/reload", web.Admin, c.reloadHandler),
		// Go's profiler, as Prometheus and node_exporter serve it.
		web.R("/debug/pprof/", web.Admin, pprof.Index),
		web.R("/debug/pprof/cmdline", web.Admin, pprof.Cmdline),
		web.R("/debug/pprof/profile", web.Admin, pprof.Profile),
		web.R("/debug/pprof/symbol", web.Admin, pprof.Symbol),
		web.R("/debug/pprof/trace", web.Admin, pprof.Trace),
	}
	return routes
}

func (c *selfComponent) readyHandler(w http.ResponseWriter, r *http.Request) {
	select {
	case <-c.a.ready:
		fmt.Fprintln(w, "vigie is Ready.")
	default:
		http.Error(w, "vigie is not ready.", http.StatusServiceUnavailable)
	}
}

func (c *selfComponent) reloadHandler(w http.ResponseWriter, r *http.Request) {
	if err := c.a.reload(r.Context()); err != nil {
		http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, "configuration reloaded")
}

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

	"github.com/vigie-dev/vigie/api"
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

func (c *scrapeComponent) Prepare(cfg *Config) (func(), error) {
	sc, interval := cfg.Collect.Scrape, cfg.Collect.Interval.D()
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return func() {
		// Validated above: what remains is Prometheus's manager swapping
		// jobs, which keeps the previous jobs if it fails.
		if err := c.s.ApplyConfig(sc, interval); err != nil {
			c.log.Error("scrape configuration validated but not applied", "err", err)
		}
	}, nil
}

func (c *scrapeComponent) Run(ctx context.Context) { c.s.Run(ctx) }

// apiComponent serves the Prometheus-compatible HTTP API.
type apiComponent struct {
	base
	api *api.API
}

func (apiComponent) Name() string          { return "api" }
func (c apiComponent) Routes() []web.Route { return c.api.Routes() }

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
		{Pattern: "/metrics", Access: web.Read, Handler: promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
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

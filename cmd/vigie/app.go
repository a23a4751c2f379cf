package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigie-dev/vigie/api"
	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/scrape"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/logs"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// component is one part of a running vigie, as the composition root sees it.
type component interface {
	// Name tags the component's errors ("rules: …").
	Name() string
	// Prepare checks cfg and returns the function that makes it take
	// effect. Reloads are all or nothing: no commit runs unless every
	// component prepared. A nil commit means nothing to do.
	Prepare(cfg *Config) (commit func(), err error)
	// Run does the component's background work until ctx ends.
	Run(ctx context.Context)
	// Routes are the HTTP routes it serves, each with its Access.
	Routes() []web.Route
	// Close releases what it holds, after Run returned.
	Close() error
}

// base gives a component the methods it has nothing to do in.
type base struct{}

func (base) Prepare(*Config) (func(), error) { return nil, nil }
func (base) Run(context.Context)             {}
func (base) Routes() []web.Route             { return nil }
func (base) Close() error                    { return nil }

// appOptions are what the command line (or a test) hands to an app.
type appOptions struct {
	// flags say where the configuration is read again on reload.
	flags  runFlags
	logger *slog.Logger
	// listener is where the HTTP server serves; nil listens on global.listen.
	listener net.Listener
	// reload delivers SIGHUP (or a test's fake signals).
	reload <-chan os.Signal
	// shutdownTimeout bounds the whole shutdown (default 10s).
	shutdownTimeout time.Duration
	// extra components run after the built-in ones (tests use it).
	extra []component
}

// app is a running vigie: every component, wired.
type app struct {
	opts  appOptions
	log   *slog.Logger
	start time.Time
	ready chan struct{}

	mu  sync.RWMutex // guards cfg
	cfg *Config

	reloadMu sync.Mutex // one reload at a time
	closed   bool       // shutting down: reloads are refused

	reg      *prometheus.Registry // the collectors and vigie's own metrics: /metrics and storage
	internal *prometheus.Registry // Prometheus libraries' internals: /metrics/internal and storage
	store    *storage.Storage
	// snapshot is what the last collection round gathered from reg: /metrics serves it
	snapshot *collector.Snapshot

	reloads       prometheus.Counter
	reloadSuccess prometheus.Gauge

	// components, in the order they are built, prepared, committed, run and
	// (in reverse) closed.
	components []component
	// the components tests look into
	loop       *loopComponent
	scraper    *scrape.Scraper
	rules      *rulesComponent
	notifier   *notifyComponent
	heartbeats *heartbeat.Heartbeats
	logStore   *logs.Store
	// auth wraps the whole mux (dashboards/auth).
	auth *authComponent
}

// newApp is the composition root: it builds every component of vigie, top
// to bottom in dependency order, hands each the interfaces it needs from
// the ones above, and lists them in one slice. A new component is built
// here, and added to that slice, and nowhere else: its routes, reloads,
// background work and shutdown follow from the component interface.
func newApp(ctx context.Context, cfg *Config, opts appOptions) (_ *app, err error) {
	if opts.logger == nil {
		opts.logger = slog.New(slog.DiscardHandler)
	}
	if opts.shutdownTimeout <= 0 {
		opts.shutdownTimeout = 10 * time.Second
	}
	logger := opts.logger
	a := &app{opts: opts, log: logger, cfg: cfg, start: time.Now(), ready: make(chan struct{})}

	// Registries: /metrics is what an external Prometheus scrapes vigie for;
	// Prometheus's libraries (TSDB, PromQL, scrape, rules) register many
	// internal series, served on /metrics/internal. Both are stored.
	a.reg, a.internal = prometheus.NewRegistry(), prometheus.NewRegistry()
	a.registerSelfMetrics()
	tp, tracingComp, err := a.newTracing(cfg) // tracing.go
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tracingComp.Close()
		}
	}()
	if cfg.isAgent() {
		return a.buildAgent(cfg, tp, tracingComp) // agent.go: no TSDB, rules or API
	}

	// Storage: the TSDB and the state database.
	a.store, err = storage.Open(ctx, cfg.Global.DataDir, cfg.Storage, logger, a.internal)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = a.store.Close()
		}
	}()

	// Access control: users, sessions and tokens in the state database.
	if a.auth, err = newAuthComponent(ctx, a, cfg); err != nil {
		return nil, err
	}

	// Remote write out (remote.go): what is appended goes to the TSDB, and
	// remote_write's queues send it on from the TSDB's WAL.
	remoteOut, out := a.remoteOut(logger)

	// Collection: built-in collectors in a Set, gathered by the Loop into the TSDB.
	set := collector.NewSet(cfg.collectTimeout(), logger)
	a.reg.MustRegister(set)
	ingester := collector.NewIngester(out, labels.FromStrings("job", "vigie", "instance", cfg.Global.Hostname))
	a.snapshot = collector.NewSnapshot(a.reg)
	loop := collector.NewLoop(prometheus.Gatherers{a.snapshot, a.internal}, ingester, cfg.Collect.Interval.D(), logger.With("component", "collect"), a.reg)
	loop.SetTracer(tp.Tracer("vigie/collect"))

	// Scrape jobs append through a hook that wakes the rules.
	scrapeApp := &commitHook{Appendable: out}
	a.scraper, err = scrape.New(scrapeApp, logger, a.internal)
	if err != nil {
		return nil, err
	}

	// One PromQL engine for the API and the rules.
	engine := newEngine(logger, a.internal)

	// Uptime: probes, and heartbeats and file checks, before notify: their
	// context (a job's last output) goes into the notifications.
	up, upComp, err := newUptime(cfg, a)
	if err != nil {
		return nil, err
	}
	hb, hbComp, err := newHeartbeats(ctx, cfg, a)
	if err != nil {
		return nil, err
	}
	a.heartbeats = hb
	// The status page shows probes and heartbeats, and sees the rules'
	// alerts before notify (incidents, scheduled maintenance).
	page, err := newStatusComponent(ctx, cfg, up, hb, a.store.State, a.reg, logger, time.Now)
	if err != nil {
		return nil, err
	}

	// Logs before notify too: alerts about a log source carry its last lines.
	logStore, logsComp, err := newLogs(ctx, cfg, a)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = logStore.Close()
		}
	}()
	a.logStore = logStore

	// Notify before rules: the rules' alerts go to it.
	n, err := notify.New(cfg.Notify, notify.Options{
		State:       a.store.State,
		Logger:      logger.With("component", "notify"),
		Registerer:  a.reg,
		ExternalURL: cfg.externalURL(),
		Tracer:      tp.Tracer("vigie/notify"),
	})
	if err != nil {
		return nil, err
	}
	rm, err := rules.New(rules.Options{
		Queryable:   a.store.TSDB,
		Appendable:  out,
		Engine:      engine,
		State:       a.store.State,
		Sink:        page.sink(notifySink(n, logger, heartbeatAnnotator(hb), logLinesAnnotator(logStore))),
		Logger:      logger,
		Registerer:  a.internal,
		ExternalURL: cfg.externalURL(),
	})
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}

	// The state database stays bounded: each component that keeps history
	// in it prunes what is older than storage.state_retention.
	maint := storage.NewMaintenance(storage.MaintenanceOptions{
		Retention:  cfg.Storage.StateRetention.D(),
		Logger:     logger.With("component", "storage.maintenance"),
		Registerer: a.reg,
	})
	maint.Add("notify", n)
	maint.Add("rules", rm)

	// Scaling recommends (and in apply mode sets) replicas from the TSDB.
	scaler, scalerComp, err := newScalingComponent(cfg, engine, a.store, loop, a)
	if err != nil {
		return nil, err
	}

	// The HTTP API reads through the engine, the TSDB, the scraper and the rules.
	apiHandler := api.New(cfg.API.Apply(api.Options{
		Engine:    engine,
		Queryable: a.store.TSDB,
		Targets:   func() api.TargetRetriever { return a.scraper },
		Metadata:  func() map[string][]api.MetricMetadata { return apiMetadata(ingester) },
		Rules:     func() api.RulesSource { return rm },
		Config:    func() string { return a.config().redacted() },
		BuildInfo: api.BuildInfo{Version: version, Revision: revision, Branch: "main"},
		StartTime: a.start,
		Logger:    logger,
	}))

	// The web UI reads through the same interfaces as the API.
	ui, err := newUIComponent(a, engine, n, rm, scaler, up)
	if err != nil {
		return nil, err
	}

	a.loop = &loopComponent{loop: loop, set: set, ready: a.ready}
	a.rules = newRulesComponent(rm, loop, scrapeApp, logger)
	a.rules.generated = generatedRuleFiles
	a.notifier = &notifyComponent{n: n, log: logger.With("component", "notify")}
	a.components = append([]component{
		tracingComp, // closed last: flushes the spans of the others
		a.loop,
		newCollectorsComponent(set, logger, up.Collector()),
		&scrapeComponent{s: a.scraper, log: logger},
		page,
		a.notifier,
		a.rules,
		funcs{name: "api", routes: apiHandler.Routes, prepare: func(cfg *Config) (func(), error) {
			return func() { apiHandler.ApplyConfig(cfg.API) }, nil
		}},
		scalerComp,
		upComp,
		hbComp,
		logsComp,
		funcs{name: "storage.maintenance", run: func(ctx context.Context) { _ = maint.Run(ctx) },
			prepare: func(cfg *Config) (func(), error) {
				return func() { maint.SetRetention(cfg.Storage.StateRetention.D()) }, nil
			}},
		a.newReceiverComponent(logger), // remote.go: POST /api/v1/write, /otlp/v1/metrics
		remoteOut,
		&selfComponent{a: a},
		&trimComponent{ready: a.ready, after: 30 * time.Second, log: logger}, // footprint.go
		a.auth,
		ui,
	}, opts.extra...)

	if err := a.apply(cfg); err != nil {
		_ = a.closeComponents() // storage closes in the deferred function
		return nil, err
	}
	return a, nil
}

func (a *app) registerSelfMetrics() {
	a.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigie_build_info", Help: "A metric with a constant '1' value labelled by vigie's version and Go version.",
			ConstLabels: prometheus.Labels{"version": version, "revision": revision, "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	a.reloads = prometheus.NewCounter(prometheus.CounterOpts{Name: "vigie_config_reloads_total", Help: "Configuration reloads attempted."})
	a.reloadSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigie_config_last_reload_successful", Help: "Whether the last configuration reload succeeded."})
	a.reloadSuccess.Set(1)
	a.reg.MustRegister(a.reloads, a.reloadSuccess)
}

func newEngine(logger *slog.Logger, reg prometheus.Registerer) *promql.Engine {
	return promql.NewEngine(promql.EngineOpts{
		Logger:               logger.With("component", "promql"),
		Reg:                  reg,
		MaxSamples:           50_000_000,
		Timeout:              2 * time.Minute,
		LookbackDelta:        5 * time.Minute,
		EnableAtModifier:     true,
		EnableNegativeOffset: true,
	})
}

func apiMetadata(in *collector.Ingester) map[string][]api.MetricMetadata {
	out := map[string][]api.MetricMetadata{}
	for k, m := range in.Metadata() {
		out[k] = []api.MetricMetadata{{Type: m.Type, Help: m.Help, Unit: m.Unit}}
	}
	return out
}

func (a *app) config() *Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// apply makes cfg take effect in every component, or in none.
func (a *app) apply(cfg *Config) error {
	var commits []func()
	var errs []error
	for _, c := range a.components {
		commit, err := c.Prepare(cfg)
		if err != nil {
			if !strings.HasPrefix(err.Error(), c.Name()+": ") {
				err = fmt.Errorf("%s: %w", c.Name(), err)
			}
			errs = append(errs, err)
			continue
		}
		if commit != nil {
			commits = append(commits, commit)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	for _, commit := range commits {
		commit()
	}
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	return nil
}

// reload reads the configuration file again and applies it. SIGHUP and
// POST /-/reload both call it; reloads run one at a time, and each ends
// applied everywhere or refused with the running configuration in force.
// Reading the file is abandoned when ctx ends.
func (a *app) reload(ctx context.Context) error {
	a.reloadMu.Lock()
	defer a.reloadMu.Unlock()
	if a.closed {
		return errors.New("vigie is shutting down")
	}
	a.reloads.Inc()
	cfg, err := await(ctx, a.opts.flags.load)
	if err == nil {
		running := a.config().Global
		if cfg.Global.DataDir != running.DataDir || cfg.Global.Listen != running.Listen {
			a.log.Warn("global.data_dir and global.listen take effect at the next start only")
			cfg.Global.DataDir, cfg.Global.Listen = running.DataDir, running.Listen
		}
		err = a.apply(cfg)
	}
	if err != nil {
		a.reloadSuccess.Set(0)
		a.log.Error("configuration reload failed; the running configuration stays in force", "err", err)
		return err
	}
	a.reloadSuccess.Set(1)
	a.log.Info("configuration reloaded", "file", a.opts.flags.configFile)
	return nil
}

// mux mounts every component's routes, each with its Access, in one place.
func (a *app) mux() *web.Mux {
	mux := web.NewMux()
	for _, c := range a.components {
		mux.Handle(c.Routes()...)
	}
	return mux
}

// handler is the mux wrapped once with the middleware every response goes
// through (access control, then the security headers).
func (a *app) handler() http.Handler {
	if a.auth == nil { // an agent keeps no users: it serves metrics and health
		return web.SecureHeaders(a.mux())
	}
	return web.SecureHeaders(a.auth.a.Wrap(a.mux()))
}

// run serves HTTP and runs every component until ctx ends, then shuts down
// within opts.shutdownTimeout: the HTTP server drains, the components' Run
// return, then they close. Whatever hangs past the timeout is logged and
// left behind.
func (a *app) run(ctx context.Context) error {
	ln := a.opts.listener
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", a.config().Global.Listen); err != nil {
			_ = a.close()
			return fmt.Errorf("listen on %s: %w", a.config().Global.Listen, err)
		}
	}
	srv := &http.Server{
		Handler:           a.handler(),
		ReadHeaderTimeout: 10 * time.Second,
		// Requests in flight see the shutdown and end quickly.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	a.log.Info("vigie started", "version", version, "listen", ln.Addr().String(), "data_dir", a.config().Global.DataDir,
		"config", orDefault(a.opts.flags.configFile, "<embedded default>"))
	warnExposure(a.log, ln.Addr(), a.config())

	// Components stop after the HTTP server, so they get their own context.
	compCtx, stopComponents := context.WithCancel(context.WithoutCancel(ctx))
	defer stopComponents()
	var wg sync.WaitGroup
	for _, c := range a.components {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Run(compCtx)
		}()
	}
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-a.opts.reload:
			// A reload reading a file that never ends must not hold the loop.
			go func() { _ = a.reload(ctx) }()
		case err := <-srvErr:
			runErr = fmt.Errorf("HTTP server: %w", err)
			break loop
		}
	}
	return errors.Join(runErr, a.shutdown(srv, stopComponents, &wg))
}

// shutdown stops everything within the shutdown timeout.
func (a *app) shutdown(srv *http.Server, stopComponents func(), wg *sync.WaitGroup) error {
	a.log.Info("vigie stopping")
	ctx, cancel := context.WithTimeout(context.Background(), a.opts.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
	stopComponents()
	if !waitOrDone(ctx, wg.Wait) {
		a.log.Error("components did not stop within the shutdown timeout; exiting anyway", "timeout", a.opts.shutdownTimeout)
		return nil
	}
	// No reload may commit into closing components: wait for the one in
	// flight (unless it is stuck past the timeout) and refuse the next ones.
	if !waitOrDone(ctx, func() { a.reloadMu.Lock(); a.closed = true; a.reloadMu.Unlock() }) {
		a.log.Error("a configuration reload did not end within the shutdown timeout; exiting anyway")
		return nil
	}
	var err error
	if !waitOrDone(ctx, func() { err = a.close() }) {
		a.log.Error("closing did not end within the shutdown timeout; exiting anyway")
		return nil
	}
	a.log.Info("vigie stopped")
	return err
}

// waitOrDone runs f and reports whether it returned before ctx ended.
func waitOrDone(ctx context.Context, f func()) bool {
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		return false
	}
}

// close closes the components in reverse order, then storage.
func (a *app) close() error {
	err := a.closeComponents()
	if a.store != nil { // an agent has no TSDB
		err = errors.Join(err, a.store.Close())
	}
	return err
}

func (a *app) closeComponents() error {
	var errs []error
	for i := len(a.components) - 1; i >= 0; i-- {
		if err := a.components[i].Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", a.components[i].Name(), err))
		}
	}
	return errors.Join(errs...)
}

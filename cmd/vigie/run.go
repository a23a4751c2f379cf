package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"

	"github.com/vigie-dev/vigie/api"
	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/scrape"
	"github.com/vigie-dev/vigie/storage"
)

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("run", "vigie run [--config FILE] [--data-dir DIR] [--listen ADDR] [--log-level LEVEL]", stderr)
	configFile := fs.String("config", "", "configuration file (default: the embedded default configuration)")
	dataDir := fs.String("data-dir", "", "data directory, overrides global.data_dir (default ./data)")
	listen := fs.String("listen", "", "HTTP listen address, overrides global.listen (default 127.0.0.1:9753)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error; overrides global.log_level")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	flags := runFlags{configFile: *configFile, dataDir: *dataDir, listen: *listen, logLevel: *logLevel}
	cfg, err := flags.load()
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.Global)
	a, err := newApp(ctx, cfg, flags, logger)
	if err != nil {
		return err
	}
	return a.run(ctx)
}

type runFlags struct {
	configFile, dataDir, listen, logLevel string
}

// load reads the configuration and applies the command-line overrides.
func (f runFlags) load() (*Config, error) {
	cfg, err := loadConfig(f.configFile)
	if err != nil {
		return nil, err
	}
	if f.dataDir != "" {
		cfg.Global.DataDir = f.dataDir
	}
	if f.listen != "" {
		cfg.Global.Listen = f.listen
	}
	if f.logLevel != "" {
		cfg.Global.LogLevel = f.logLevel
	}
	resolveRuleFiles(cfg, f.configFile)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("command-line flags: %w", err)
	}
	if err := checkConfigDeep(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(w io.Writer, g GlobalConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(g.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// app is a running vigie: every component, wired.
type app struct {
	flags  runFlags
	logger *slog.Logger
	start  time.Time

	mu  sync.RWMutex
	cfg *Config

	reg      *prometheus.Registry // the collectors and vigie's own metrics: /metrics and storage
	internal *prometheus.Registry // Prometheus libraries' internals: /metrics/internal and storage
	store    *storage.Storage
	set      *collector.Set
	ingester *collector.Ingester
	loop     *collector.Loop
	scraper  *scrape.Scraper
	// scrapeApp is the storage the scrapes append to; its commits can wake the rules.
	scrapeApp *commitHook
	engine    *promql.Engine
	api       *api.API
	ready     chan struct{}

	reloads       prometheus.Counter
	reloadSuccess prometheus.Gauge

	// components added by the other files (collectors, rules, notify)
	parts []part
}

// part is one optional component: it applies configuration (at start and
// on reload, all-or-nothing with the others) and may run in the background.
type part interface {
	name() string
	// prepare checks cfg and returns a function that makes it take effect;
	// nothing changes if any part's prepare fails.
	prepare(cfg *Config) (commit func(), err error)
	run(ctx context.Context)
	close() error
}

// partFactories build the optional parts; files add themselves in init.
var partFactories []func(a *app) (part, error)

func newApp(ctx context.Context, cfg *Config, flags runFlags, logger *slog.Logger) (*app, error) {
	a := &app{flags: flags, logger: logger, cfg: cfg, start: time.Now(), ready: make(chan struct{})}
	a.reg = prometheus.NewRegistry()
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

	// Prometheus's libraries (TSDB, PromQL engine, scrape manager, rules
	// manager) register many internal series; they are stored and queryable
	// like everything else, and served on /metrics/internal, while /metrics
	// stays what an external Prometheus scrapes vigie for.
	a.internal = prometheus.NewRegistry()
	store, err := storage.Open(ctx, cfg.Global.DataDir, cfg.Storage, logger, a.internal)
	if err != nil {
		return nil, err
	}
	a.store = store
	fail := func(err error) (*app, error) {
		for _, p := range a.parts {
			_ = p.close()
		}
		_ = store.Close()
		return nil, err
	}

	a.set = collector.NewSet(cfg.collectTimeout(), logger)
	a.reg.MustRegister(a.set)
	a.ingester = collector.NewIngester(store.TSDB, labels.FromStrings("job", "vigie", "instance", cfg.Global.Hostname))
	a.loop = collector.NewLoop(prometheus.Gatherers{a.reg, a.internal}, a.ingester, cfg.Collect.Interval.D(), logger.With("component", "collect"), a.reg)

	a.scrapeApp = &commitHook{Appendable: store.TSDB}
	a.scraper, err = scrape.New(a.scrapeApp, logger, a.internal)
	if err != nil {
		return fail(err)
	}
	a.engine = promql.NewEngine(promql.EngineOpts{
		Logger:                   logger.With("component", "promql"),
		Reg:                      a.internal,
		MaxSamples:               50_000_000,
		Timeout:                  2 * time.Minute,
		LookbackDelta:            5 * time.Minute,
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		EnableDelayedNameRemoval: false,
	})
	for _, f := range partFactories {
		p, err := f(a)
		if err != nil {
			return fail(err)
		}
		a.parts = append(a.parts, p)
	}
	if err := a.apply(cfg, true); err != nil {
		return fail(err)
	}
	a.api = api.New(api.Options{
		Engine:    a.engine,
		Queryable: store.TSDB,
		Targets:   func() api.TargetRetriever { return a.scraper },
		Metadata: func() map[string][]api.MetricMetadata {
			out := map[string][]api.MetricMetadata{}
			for k, m := range a.ingester.Metadata() {
				out[k] = []api.MetricMetadata{{Type: m.Type, Help: m.Help, Unit: m.Unit}}
			}
			return out
		},
		Rules:     func() api.RulesSource { return rulesSource(a) },
		Config:    func() string { return a.config().redacted() },
		BuildInfo: api.BuildInfo{Version: version, Revision: revision, Branch: "main"},
		StartTime: a.start,
		Logger:    logger,
	})
	return a, nil
}

// onScrapeCommit calls f after every committed scrape.
func (a *app) onScrapeCommit(f func(time.Time)) {
	a.scrapeApp.mu.Lock()
	a.scrapeApp.hooks = append(a.scrapeApp.hooks, f)
	a.scrapeApp.mu.Unlock()
}

// onScrapeHealthChange calls f after a committed scrape in which a target's
// `up` changed.
func (a *app) onScrapeHealthChange(f func(time.Time)) {
	a.scrapeApp.mu.Lock()
	a.scrapeApp.health = append(a.scrapeApp.health, f)
	a.scrapeApp.mu.Unlock()
}

// rulesSource is set by the rules wiring.
var rulesSource = func(*app) api.RulesSource { return nil }

func (a *app) config() *Config {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.cfg
}

// apply makes cfg take effect everywhere, or nowhere.
func (a *app) apply(cfg *Config, initial bool) error {
	var commits []func()
	var errs []error
	for _, p := range a.parts {
		c, err := p.prepare(cfg)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.name(), err))
			continue
		}
		commits = append(commits, c)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if err := a.scraper.ApplyConfig(cfg.Collect.Scrape, cfg.Collect.Interval.D()); err != nil {
		return err
	}
	for _, c := range commits {
		if c != nil {
			c()
		}
	}
	a.set.SetTimeout(cfg.collectTimeout())
	a.loop.SetInterval(cfg.Collect.Interval.D())
	a.mu.Lock()
	a.cfg = cfg
	a.mu.Unlock()
	if !initial {
		a.logger.Info("configuration reloaded", "file", a.flags.configFile)
	}
	return nil
}

// reload reads the configuration file again; a bad file leaves the running one in force.
func (a *app) reload() error {
	a.reloads.Inc()
	cfg, err := a.flags.load()
	if err == nil {
		if cfg.Global.DataDir != a.config().Global.DataDir || cfg.Global.Listen != a.config().Global.Listen {
			a.logger.Warn("global.data_dir and global.listen take effect at the next start only")
			cfg.Global.DataDir, cfg.Global.Listen = a.config().Global.DataDir, a.config().Global.Listen
		}
		err = a.apply(cfg, false)
	}
	if err != nil {
		a.reloadSuccess.Set(0)
		a.logger.Error("configuration reload failed; the running configuration stays in force", "err", err)
		return err
	}
	a.reloadSuccess.Set(1)
	return nil
}

func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}))
	mux.Handle("/metrics/internal", promhttp.HandlerFor(a.internal, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.ContinueOnError,
	}))
	a.api.Register(mux)
	mux.HandleFunc("/-/healthy", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "vigie is Healthy.")
	})
	mux.HandleFunc("/-/ready", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-a.ready:
			fmt.Fprintln(w, "vigie is Ready.")
		default:
			http.Error(w, "vigie is not ready.", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("/-/reload", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost && r.Method != http.MethodPut {
			w.Header().Set("Allow", "POST, PUT")
			http.Error(w, "use POST to reload the configuration", http.StatusMethodNotAllowed)
			return
		}
		if err := a.reload(); err != nil {
			http.Error(w, "failed to reload config: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "configuration reloaded")
	})
	for _, h := range handlers {
		h(a, mux)
	}
	// Go's profiler, as Prometheus and node_exporter serve it.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/{$}", a.index)
	return mux
}

// handlers lets other files mount their endpoints.
var handlers []func(a *app, mux *http.ServeMux)

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprintf(w, `<!doctype html><html><head><meta charset="utf-8"><title>vigie</title></head><body>
<h1>vigie</h1><p>%s, up since %s.</p>
<ul><li><a href="/metrics">/metrics</a></li><li><a href="/api/v1/targets">/api/v1/targets</a></li>
<li><a href="/api/v1/rules">/api/v1/rules</a></li><li><a href="/api/v1/alerts">/api/v1/alerts</a></li></ul></body></html>`,
		versionString(), a.start.Format(time.RFC3339))
}

func (a *app) run(ctx context.Context) error {
	cfg := a.config()
	ln, err := net.Listen("tcp", cfg.Global.Listen)
	if err != nil {
		_ = a.close()
		return fmt.Errorf("listen on %s: %w", cfg.Global.Listen, err)
	}
	srv := &http.Server{Handler: a.handler(), ReadHeaderTimeout: 10 * time.Second}
	a.logger.Info("vigie started", "version", version, "listen", ln.Addr().String(), "data_dir", cfg.Global.DataDir,
		"config", orDefault(a.flags.configFile, "<embedded default>"))

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	goRun := func(f func(context.Context)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f(ctx)
		}()
	}
	for _, p := range a.parts {
		goRun(p.run)
	}
	goRun(a.scraper.Run)
	// The first collection happens before readiness, so a query right after
	// /-/ready answers has data.
	a.loop.Once(ctx)
	close(a.ready)
	goRun(func(ctx context.Context) {
		// Once already ran: wait for the next aligned round.
		a.loop.Run(ctx)
	})
	srvErr := make(chan error, 1)
	go func() { srvErr <- srv.Serve(ln) }()

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var runErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-hup:
			_ = a.reload()
		case err := <-srvErr:
			runErr = fmt.Errorf("HTTP server: %w", err)
			break loop
		}
	}
	a.logger.Info("vigie stopping")
	shutCtx, shutCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer shutCancel()
	_ = srv.Shutdown(shutCtx)
	cancel()
	wg.Wait()
	if err := a.close(); err != nil {
		return errors.Join(runErr, err)
	}
	a.logger.Info("vigie stopped")
	return runErr
}

func (a *app) close() error {
	var errs []error
	for _, p := range a.parts {
		errs = append(errs, p.close())
	}
	errs = append(errs, a.store.Close())
	return errors.Join(errs...)
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

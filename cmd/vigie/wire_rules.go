package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigie-dev/vigie/api"
	"github.com/vigie-dev/vigie/rules"
)

// rulesPart evaluates the rules; its alerts go to alertSink.
type rulesPart struct {
	a *app
	m *rules.Manager

	mu  sync.Mutex
	ctx context.Context // while run runs
}

func (p *rulesPart) runCtx() context.Context {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ctx == nil || p.ctx.Err() != nil {
		return nil
	}
	return p.ctx
}

// alertSinks receive every alert the rules send (the notify wiring adds itself).
var alertSinks []func(a *app) rules.Sink

func init() {
	partFactories = append(partFactories, func(a *app) (part, error) {
		var sinks []rules.Sink
		for _, f := range alertSinks {
			sinks = append(sinks, f(a))
		}
		m, err := rules.New(rules.Options{
			Queryable:   a.store.TSDB,
			Appendable:  a.store.TSDB,
			Engine:      a.engine,
			State:       a.store.State,
			Sink:        fanOut(sinks, a),
			Logger:      a.logger,
			Registerer:  a.internal,
			ExternalURL: a.cfg.externalURL(),
		})
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		p := &rulesPart{a: a, m: m}
		// Evaluate right after the collections and scrapes that feed the rules.
		a.loop.OnCommit(m.Collected)
		a.onScrapeCommit(m.Collected)
		// A target that goes down (or comes back) is evaluated at once,
		// whatever the groups' schedule: the evaluation runs at the commit's
		// time, so `for` and staleness keep their meaning; only the wait for
		// the next scheduled evaluation goes.
		a.onScrapeHealthChange(func(ts time.Time) {
			if ctx := p.runCtx(); ctx != nil {
				go m.Evaluate(ctx, ts)
			}
		})
		rulesSource = func(*app) api.RulesSource { return m }
		handlers = append(handlers, func(a *app, mux *http.ServeMux) {
			mux.HandleFunc("GET /api/v1/alerts/history", p.history)
		})
		return p, nil
	})
	commands["test"] = cmdTest
	commands["rules"] = cmdRules
	checkRules = cmdCheckRules
	checkConfigDeep = func(cfg *Config) error {
		files, err := expandRuleFiles(cfg.Rules.Files)
		if err != nil {
			return err
		}
		return rules.CheckFiles(files...)
	}
}

func fanOut(sinks []rules.Sink, a *app) rules.Sink {
	if len(sinks) == 0 {
		return rules.LogSink{Logger: a.logger.With("component", "rules")}
	}
	return rules.SinkFunc(func(ctx context.Context, alerts []rules.Alert) {
		for _, s := range sinks {
			s.Send(ctx, alerts)
		}
	})
}

// history serves the alert history: GET /api/v1/alerts/history
// [?alertname=…][&since=RFC3339|unix][&firing=true][&limit=N], newest first.
func (p *rulesPart) history(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := rules.HistoryFilter{Alertname: q.Get("alertname"), FiringOnly: q.Get("firing") == "true"}
	writeErr := func(msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "bad_data", "error": msg})
	}
	if s := q.Get("since"); s != "" {
		t, err := parseAPITime(s)
		if err != nil {
			writeErr("invalid parameter \"since\": " + err.Error())
			return
		}
		f.Since = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			writeErr("invalid parameter \"limit\": want a non-negative integer")
			return
		}
		f.Limit = n
	}
	entries, err := p.m.History(r.Context(), f)
	if err != nil {
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": "internal", "error": err.Error()})
		return
	}
	if entries == nil {
		entries = []rules.HistoryEntry{}
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": entries})
}

func parseAPITime(s string) (time.Time, error) {
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.UnixMilli(int64(f * 1000)), nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

func (p *rulesPart) name() string { return "rules" }

func (p *rulesPart) prepare(cfg *Config) (func(), error) { return p.m.Prepare(cfg.Rules) }

func (p *rulesPart) run(ctx context.Context) {
	p.mu.Lock()
	p.ctx = ctx
	p.mu.Unlock()
	if err := p.m.Run(ctx); err != nil {
		p.a.logger.Error("rule evaluation stopped", "err", err)
	}
}

func (p *rulesPart) close() error { return nil }

// expandRuleFiles returns the files the globs match, for checks.
func expandRuleFiles(globs []string) ([]string, error) {
	var out []string
	for _, g := range globs {
		m, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("rules.files: invalid pattern %q: %w", g, err)
		}
		out = append(out, m...)
	}
	return out, nil
}

// resolveRuleFiles makes relative rule file patterns relative to the
// configuration file's directory, as Prometheus does.
func resolveRuleFiles(cfg *Config, configFile string) {
	if configFile == "" {
		return
	}
	dir := filepath.Dir(configFile)
	for i, f := range cfg.Rules.Files {
		if !filepath.IsAbs(f) {
			cfg.Rules.Files[i] = filepath.Join(dir, f)
		}
	}
}

func cmdCheckRules(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("check rules", "vigie check rules FILE...", stderr)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	if err := rules.CheckFiles(fs.Args()...); err != nil {
		return err
	}
	for _, f := range fs.Args() {
		n, _ := rules.CountRules(f)
		fmt.Fprintf(stdout, "%s: SUCCESS: %d rules found\n", f, n)
	}
	return nil
}

func cmdTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if done, err := expectVerb(args, "rules", "Usage: vigie test rules TEST_FILE...\n", stderr); done {
		return err
	}
	fs := newFlagSet("test rules", "vigie test rules TEST_FILE...  (promtool's rule unit-test format)", stderr)
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return errUsage
	}
	ok, err := rules.RunTests(stdout, fs.Args()...)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("rule tests failed")
	}
	return nil
}

func cmdRules(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if done, err := expectVerb(args, "export", "Usage: vigie rules export [--config FILE] DIR\n  writes the built-in rule pack, with the configuration's overrides, as rule files\n", stderr); done {
		return err
	}
	fs := newFlagSet("rules export", "vigie rules export [--config FILE] DIR", stderr)
	configFile := fs.String("config", "", "configuration whose rules.builtin overrides apply (default: none)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}
	if err := rules.ExportBuiltin(fs.Arg(0), cfg.Rules); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "built-in rules written to %s\n", fs.Arg(0))
	return nil
}

// commitHook wraps the Appendable the scrapes write to: every commit calls
// the commit hooks with the commit time, and a commit in which a target's
// `up` changed (it went down, or came back) also calls the health hooks.
type commitHook struct {
	storage.Appendable
	mu      sync.RWMutex
	hooks   []func(time.Time)
	health  []func(time.Time)
	lastUp  map[string]float64 // target (up's labels) → last up value
	upMutex sync.Mutex
}

func (c *commitHook) Appender(ctx context.Context) storage.Appender {
	return &hookedAppender{Appender: c.Appendable.Appender(ctx), h: c}
}

type hookedAppender struct {
	storage.Appender
	h             *commitHook
	healthChanged bool
}

// Append notes a change of `up` on the way through.
func (a *hookedAppender) Append(ref storage.SeriesRef, l labels.Labels, t int64, v float64) (storage.SeriesRef, error) {
	if l.Get(model.MetricNameLabel) == "up" {
		key := l.String()
		a.h.upMutex.Lock()
		if a.h.lastUp == nil {
			a.h.lastUp = map[string]float64{}
		}
		if prev, ok := a.h.lastUp[key]; ok && prev != v {
			a.healthChanged = true
		}
		a.h.lastUp[key] = v
		a.h.upMutex.Unlock()
	}
	return a.Appender.Append(ref, l, t, v)
}

func (a *hookedAppender) Commit() error {
	if err := a.Appender.Commit(); err != nil {
		return err
	}
	a.h.mu.RLock()
	hooks, health := a.h.hooks, a.h.health
	a.h.mu.RUnlock()
	now := time.Now()
	for _, f := range hooks {
		f(now)
	}
	if a.healthChanged {
		for _, f := range health {
			f(now)
		}
	}
	return nil
}

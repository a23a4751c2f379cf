package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/rules"
)

// rulesComponent evaluates the rules; its alerts go to the sink given to
// the rules manager (notify).
type rulesComponent struct {
	m   *rules.Manager
	log *slog.Logger
	// generated writes the rule files vigie derives from the
	// configuration (log pattern alerts) and returns their paths.
	generated func(cfg *Config) ([]string, error)

	mu      sync.Mutex
	ctx     context.Context // while Run runs
	applied rules.Config    // as last committed
}

// newRulesComponent wires the rules to the collections and scrapes that feed them.
func newRulesComponent(m *rules.Manager, loop *collector.Loop, scrapes *commitHook, log *slog.Logger) *rulesComponent {
	c := &rulesComponent{m: m, log: log}
	// Evaluate right after the collections and scrapes that feed the rules.
	loop.OnCommit(m.Collected)
	scrapes.onCommit(m.Collected)
	// A target that goes down (or comes back) is evaluated at once,
	// whatever the groups' schedule: the evaluation runs at the commit's
	// time, so `for` and staleness keep their meaning; only the wait for
	// the next scheduled evaluation goes.
	scrapes.onHealthChange(func(ts time.Time) {
		if ctx := c.runCtx(); ctx != nil {
			go m.Evaluate(ctx, ts)
		}
	})
	return c
}

func (c *rulesComponent) runCtx() context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ctx == nil || c.ctx.Err() != nil {
		return nil
	}
	return c.ctx
}

func (*rulesComponent) Name() string { return "rules" }

func (c *rulesComponent) Prepare(cfg *Config) (func(), error) {
	rc := cfg.Rules
	if c.generated != nil {
		files, err := c.generated(cfg)
		if err != nil {
			return nil, err
		}
		rc.Files = append(slices.Clone(rc.Files), files...)
	}
	commit, err := c.m.Prepare(rc)
	if err != nil {
		return nil, err
	}
	return func() {
		commit()
		c.mu.Lock()
		c.applied = cfg.Rules
		c.mu.Unlock()
	}, nil
}

func (c *rulesComponent) Run(ctx context.Context) {
	c.mu.Lock()
	c.ctx = ctx
	c.mu.Unlock()
	if err := c.m.Run(ctx); err != nil {
		c.log.Error("rule evaluation stopped", "err", err)
	}
}

func (c *rulesComponent) Routes() []web.Route {
	return []web.Route{web.R("GET /api/v1/alerts/history", web.Read, c.history)}
}

func (*rulesComponent) Close() error { return nil }

func (c *rulesComponent) effective() rules.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

// history serves the alert history: GET /api/v1/alerts/history
// [?alertname=…][&since=RFC3339|unix][&firing=true][&limit=N], newest first.
func (c *rulesComponent) history(w http.ResponseWriter, r *http.Request) {
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
	entries, err := c.m.History(r.Context(), f)
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

// checkRuleFiles checks the rule files a configuration names.
func checkRuleFiles(cfg *Config) error {
	files, err := expandRuleFiles(cfg.Rules.Files)
	if err != nil {
		return err
	}
	return rules.CheckFiles(files...)
}

func setupCheckRules(*flag.FlagSet) runFunc {
	return func(ctx context.Context, files []string, stdout, _ io.Writer) error {
		if _, err := await(ctx, func() (struct{}, error) { return struct{}{}, rules.CheckFiles(files...) }); err != nil {
			return err
		}
		for _, f := range files {
			n, _ := rules.CountRules(f)
			fmt.Fprintf(stdout, "%s: SUCCESS: %d rules found\n", f, n)
		}
		return nil
	}
}

func setupTestRules(*flag.FlagSet) runFunc {
	return func(ctx context.Context, files []string, stdout, _ io.Writer) error {
		ok, err := await(ctx, func() (bool, error) { return rules.RunTests(stdout, files...) })
		if err != nil {
			return err
		}
		if !ok {
			return errors.New("rule tests failed")
		}
		return nil
	}
}

func setupRulesExport(fs *flag.FlagSet) runFunc {
	configFile := fs.String("config", "", "configuration whose rules.builtin overrides apply (default: none)")
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		cfg, err := await(ctx, func() (*Config, error) { return loadConfig(*configFile) })
		if err != nil {
			return err
		}
		if err := rules.ExportBuiltin(args[0], cfg.Rules); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "built-in rules written to %s\n", args[0])
		return nil
	}
}

// commitHook wraps the Appendable the scrapes write to: every commit calls
// the commit hooks with the commit time, and a commit in which a target's
// `up` changed (it went down, or came back) also calls the health hooks.
type commitHook struct {
	storage.Appendable
	mu      sync.RWMutex // guards hooks and health
	hooks   []func(time.Time)
	health  []func(time.Time)
	lastUp  map[string]float64 // target (up's labels) → last up value
	upMutex sync.Mutex
}

// onCommit calls f after every committed scrape.
func (c *commitHook) onCommit(f func(time.Time)) {
	c.mu.Lock()
	c.hooks = append(c.hooks, f)
	c.mu.Unlock()
}

// onHealthChange calls f after a committed scrape in which a target's `up` changed.
func (c *commitHook) onHealthChange(f func(time.Time)) {
	c.mu.Lock()
	c.health = append(c.health, f)
	c.mu.Unlock()
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

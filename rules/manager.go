// Package rules evaluates Prometheus alerting and recording rules over
// vigie's TSDB with Prometheus's own rules engine, ships a built-in rule
// pack, records alert history in SQLite and hands alerts to the
// notification layer through a Sink.
//
// Prometheus's rules.Manager runs each group on its own timer. vigie owns
// collection too, so the Manager here keeps Prometheus's groups (parsing,
// Eval, `for`, keep_firing_for, templates, ALERTS and ALERTS_FOR_STATE,
// staleness) but schedules them itself: a group is evaluated right after the
// collection that feeds it has committed, at that collection's timestamp,
// with a timer as fallback when no collection arrives. See docs/rules.md.
package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promrules "github.com/prometheus/prometheus/rules"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/strutil"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
)

// Options wire a Manager to storage and to the notification layer.
type Options struct {
	// Queryable and Appendable are the TSDB (*tsdb.DB is both).
	Queryable  promstorage.Queryable
	Appendable promstorage.Appendable
	// Engine evaluates rule expressions. Nil builds one with Prometheus's
	// defaults (5m lookback, 2m timeout); pass the API's engine to share it.
	Engine promql.QueryEngine
	// State holds the alert history. Required.
	State *storage.State
	// Sink receives firing and resolved alerts; nil discards them (the
	// Manager logs every transition anyway).
	Sink       Sink
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// ExternalURL is vigie's public URL, for generator URLs and templates.
	ExternalURL string
	// Now is the clock used for timers, pruning and reload times (default time.Now).
	Now func() time.Time
}

// Manager evaluates the rule groups of the running configuration.
type Manager struct {
	o       Options
	logger  *slog.Logger
	prom    *promrules.Manager // used for LoadGroups only; never Run
	opts    *promrules.ManagerOptions
	metrics *metrics
	hist    *history

	applyMu sync.Mutex // one ApplyConfig at a time
	evalMu  sync.Mutex // evaluations and group swaps

	mu      sync.RWMutex // guards groups, cfg for readers
	groups  []*group     // sorted by file, then name
	cfg     Config
	applied bool

	sigMu         sync.Mutex
	pendingTS     time.Time // latest collection timestamp not yet handled
	lastCollected time.Time // wall time of the last Collected call
	signal        chan struct{}

	// afterCollected, when set (by tests, before Run), is called once Run
	// has handled the collection at ts, evaluated or not.
	afterCollected func(ts time.Time)
}

// group is one Prometheus rule group and vigie's schedule for it.
type group struct {
	g        *promrules.Group
	key      string
	interval time.Duration
	added    time.Time // wall time the group was loaded
	last     time.Time // last evaluation timestamp
	evals    int
	restore  bool // `for` state still to be restored from ALERTS_FOR_STATE
	settled  bool // restore done and evaluated once after: history reconciled
}

// New returns a Manager with no rules; ApplyConfig loads them and Run
// evaluates them.
func New(o Options) (*Manager, error) {
	if o.Queryable == nil || o.Appendable == nil {
		return nil, errors.New("rules: Queryable and Appendable are required")
	}
	if o.State == nil {
		return nil, errors.New("rules: State is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Engine == nil {
		o.Engine = promql.NewEngine(promql.EngineOpts{
			Logger:               o.Logger.With("component", "promql"),
			MaxSamples:           50_000_000,
			Timeout:              2 * time.Minute,
			LookbackDelta:        5 * time.Minute,
			EnableAtModifier:     true,
			EnableNegativeOffset: true,
		})
	}
	logger := o.Logger.With("component", "rules")
	var extURL *url.URL
	if o.ExternalURL != "" {
		u, err := url.Parse(o.ExternalURL)
		if err != nil {
			return nil, fmt.Errorf("rules: external URL: %w", err)
		}
		extURL = u
	}
	m := &Manager{o: o, logger: logger, signal: make(chan struct{}, 1)}
	m.metrics = newMetrics(o.Registerer, m)
	def := DefaultConfig()
	m.opts = &promrules.ManagerOptions{
		NameValidationScheme: model.UTF8Validation,
		ExternalURL:          extURL,
		QueryFunc:            promrules.EngineQueryFunc(o.Engine, o.Queryable),
		NotifyFunc:           m.notify,
		Context:              context.Background(),
		Appendable:           o.Appendable,
		Queryable:            o.Queryable,
		Logger:               logger,
		OutageTolerance:      def.OutageTolerance.D(),
		ForGracePeriod:       def.ForGracePeriod.D(),
		ResendDelay:          def.ResendDelay.D(),
		GroupLoader:          newLoader(nil),
		Metrics:              promrules.NewGroupMetrics(o.Registerer),
	}
	m.prom = promrules.NewManager(m.opts)
	h, err := openHistory(context.Background(), o.State, logger)
	if err != nil {
		return nil, err
	}
	m.hist = h
	return m, nil
}

// Engine returns the PromQL engine rules are evaluated with.
func (m *Manager) Engine() promql.QueryEngine { return m.o.Engine }

// Files resolves the rule files cfg names: the built-in pack's files
// (BuiltinPrefix + name) then every file matched by the globs, made absolute.
func resolveFiles(cfg Config) (builtin []builtinFile, user []string, err error) {
	builtin, err = renderBuiltin(cfg.Builtin)
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, pat := range cfg.Files {
		matches, err := filepath.Glob(pat)
		if err != nil {
			return nil, nil, fmt.Errorf("rule files %q: %w", pat, err)
		}
		sort.Strings(matches)
		for _, f := range matches {
			if abs, err := filepath.Abs(f); err == nil {
				f = abs
			}
			if !seen[f] {
				seen[f] = true
				user = append(user, f)
			}
		}
	}
	return builtin, user, nil
}

// ApplyConfig loads the rules cfg names, all or nothing: every file (the
// built-in pack with its overrides, then the globs' files) is parsed and
// checked first, and on any error the errors are returned (each with its
// file:line) and the running rules keep evaluating. Groups whose content
// did not change keep their state; changed groups keep their alerts' state
// (Prometheus's Manager.Update semantics).
func (m *Manager) ApplyConfig(cfg Config) error {
	commit, err := m.Prepare(cfg)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare does the checking half of ApplyConfig: it loads and checks every
// file and returns a function that makes the new rules take effect. Nothing
// changes until commit is called (for an all-or-nothing reload across
// components); a commit whose Prepare is superseded is still safe to call.
func (m *Manager) Prepare(cfg Config) (commit func(), err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m.applyMu.Lock()
	defer m.applyMu.Unlock()

	builtin, user, err := resolveFiles(cfg)
	if err != nil {
		return nil, err
	}
	for _, pat := range cfg.Files {
		if ms, _ := filepath.Glob(pat); len(ms) == 0 {
			m.logger.Warn("rule file pattern matches no file", "pattern", pat)
		}
	}
	loader := newLoader(builtin)
	files := make([]string, 0, len(builtin)+len(user))
	for _, b := range builtin {
		files = append(files, b.Name)
	}
	files = append(files, user...)
	var errs []error
	for _, f := range files {
		if _, es := loader.Load(f, false, model.UTF8Validation); len(es) > 0 {
			errs = append(errs, es...)
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("rules not loaded, the previous rules keep running:\n%w", errors.Join(errs...))
	}
	m.opts.GroupLoader = loader
	loaded, es := m.prom.LoadGroups(cfg.EvaluationInterval.D(), labels.EmptyLabels(), m.o.ExternalURL, nil, false, files...)
	if len(es) > 0 {
		return nil, fmt.Errorf("rules not loaded, the previous rules keep running:\n%w", errors.Join(es...))
	}
	return func() { m.commit(cfg, loaded, len(files)) }, nil
}

func (m *Manager) commit(cfg Config, loaded map[string]*promrules.Group, nfiles int) {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	now := m.o.Now()
	m.opts.ResendDelay = cfg.ResendDelay.D()
	m.opts.OutageTolerance = cfg.OutageTolerance.D()
	m.opts.ForGracePeriod = cfg.ForGracePeriod.D()

	m.mu.RLock()
	old := make(map[string]*group, len(m.groups))
	for _, g := range m.groups {
		old[g.key] = g
	}
	first := !m.applied
	m.mu.RUnlock()

	next := make([]*group, 0, len(loaded))
	for key, ng := range loaded {
		og, ok := old[key]
		delete(old, key)
		if ok && og.g.Equals(ng) {
			next = append(next, og)
			continue
		}
		g := &group{g: ng, key: key, interval: ng.Interval(), added: now, restore: first, settled: !first}
		if ok {
			ng.CopyState(og.g)
			g.last, g.evals, g.restore, g.settled = og.last, og.evals, og.restore, og.settled
		}
		if !g.restore {
			for _, r := range ng.AlertingRules() {
				r.SetRestored(true)
			}
		}
		next = append(next, g)
	}
	sort.Slice(next, func(i, j int) bool {
		if next[i].g.File() != next[j].g.File() {
			return next[i].g.File() < next[j].g.File()
		}
		return next[i].g.Name() < next[j].g.Name()
	})
	// Removed groups: write staleness markers for what they produced, as
	// Prometheus does, and forget their metrics.
	for key, og := range old {
		tomb := promrules.NewGroup(promrules.GroupOptions{Name: og.g.Name(), File: og.g.File(), Interval: og.interval, Opts: m.opts})
		tomb.CopyState(og.g)
		tomb.Eval(m.opts.Context, now)
		m.metrics.forget(m.opts.Metrics, key)
	}
	keys := make(map[string]bool, len(next))
	for _, g := range next {
		keys[g.key] = true
	}
	m.hist.closeMissing(context.Background(), keys, now)

	m.mu.Lock()
	m.groups = next
	m.cfg = cfg
	m.applied = true
	m.mu.Unlock()
	m.wake()
	m.logger.Info("rules loaded", "groups", len(next), "files", nfiles)
}

// Collected tells the Manager that a collection has committed samples at
// ts. Groups that are due are evaluated at ts right away (by Run). It never blocks.
func (m *Manager) Collected(ts time.Time) {
	m.sigMu.Lock()
	if ts.After(m.pendingTS) {
		m.pendingTS = ts
	}
	m.lastCollected = m.o.Now()
	m.sigMu.Unlock()
	m.wake()
}

func (m *Manager) wake() {
	select {
	case m.signal <- struct{}{}:
	default:
	}
}

// Run evaluates the groups until ctx ends: after each Collected, and on a
// timer when no collection arrives. It also prunes the alert history.
func (m *Manager) Run(ctx context.Context) error {
	m.prune(ctx)
	pruneTick := time.NewTicker(time.Hour)
	defer pruneTick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := time.Hour
		if d, ok := m.nextDeadline(); ok {
			wait = max(time.Until(d), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return nil
		case <-m.signal:
			m.sigMu.Lock()
			ts := m.pendingTS
			m.pendingTS = time.Time{}
			m.sigMu.Unlock()
			if !ts.IsZero() {
				m.evalDue(ctx, ts, true)
				if m.afterCollected != nil {
					m.afterCollected(ts)
				}
			}
		case <-timer.C:
			m.evalDue(ctx, m.o.Now(), false)
		case <-pruneTick.C:
			m.prune(ctx)
		}
	}
}

func (m *Manager) prune(ctx context.Context) {
	m.mu.RLock()
	retention := m.cfg.HistoryRetention.D()
	m.mu.RUnlock()
	if retention <= 0 {
		retention = DefaultConfig().HistoryRetention.D()
	}
	if n, err := m.hist.prune(ctx, m.o.Now().Add(-retention)); err != nil {
		m.logger.Warn("pruning alert history failed", "err", err)
	} else if n > 0 {
		m.logger.Debug("alert history pruned", "entries", n)
	}
}

// slack is how early a collection may come, relative to a group's
// interval, and still trigger its evaluation (collections jitter).
func slack(interval time.Duration) time.Duration { return min(interval/10, time.Second) }

// deadline is when the timer evaluates g if no collection did. While
// collections flow, the timer waits half an interval more for one.
func (m *Manager) deadline(g *group, collecting bool) time.Time {
	base := g.last
	if base.IsZero() {
		base = g.added
	}
	d := base.Add(g.interval)
	if collecting {
		d = d.Add(g.interval / 2)
	}
	return d
}

func (m *Manager) collecting(g *group, now time.Time) bool {
	m.sigMu.Lock()
	lc := m.lastCollected
	m.sigMu.Unlock()
	return !lc.IsZero() && now.Sub(lc) < 2*g.interval
}

func (m *Manager) nextDeadline() (time.Time, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	now := m.o.Now()
	var next time.Time
	for _, g := range m.groups {
		d := m.deadline(g, m.collecting(g, now))
		if next.IsZero() || d.Before(next) {
			next = d
		}
	}
	if next.IsZero() {
		return next, false
	}
	// The timer runs on the wall clock; Now may be another clock in tests.
	return time.Now().Add(next.Sub(now)), true
}

// evalDue evaluates, at ts, the groups that are due: after a collection,
// those whose interval has elapsed (less a small slack) since their last
// evaluation; on the timer, those past their deadline.
func (m *Manager) evalDue(ctx context.Context, ts time.Time, byCollection bool) {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	m.mu.RLock()
	groups := m.groups
	m.mu.RUnlock()
	now := m.o.Now()
	for _, g := range groups {
		if ctx.Err() != nil {
			return
		}
		var due bool
		if byCollection {
			due = g.last.IsZero() || !ts.Before(g.last.Add(g.interval-slack(g.interval)))
		} else {
			due = !now.Before(m.deadline(g, m.collecting(g, now)))
		}
		if due {
			m.evalGroup(ctx, g, ts, byCollection)
		}
	}
}

// Evaluate evaluates every group at ts now, whatever its schedule, and
// returns when done. Groups already evaluated at ts or later are skipped.
// Tests and an "evaluate now" hook use it; Run does not need it.
func (m *Manager) Evaluate(ctx context.Context, ts time.Time) {
	m.evalMu.Lock()
	defer m.evalMu.Unlock()
	m.mu.RLock()
	groups := m.groups
	m.mu.RUnlock()
	for _, g := range groups {
		m.evalGroup(ctx, g, ts, false)
	}
}

// evalGroup runs one iteration of g at ts. Caller holds evalMu.
func (m *Manager) evalGroup(ctx context.Context, g *group, ts time.Time, byCollection bool) {
	if !g.last.IsZero() && !ts.After(g.last) {
		return
	}
	start := time.Now()
	if byCollection {
		m.metrics.delay.Observe(max(m.o.Now().Sub(ts), 0).Seconds())
	}
	promrules.DefaultEvalIterationFunc(ctx, g.g, ts)
	m.metrics.observe(g, time.Since(start))
	g.last = ts
	g.evals++
	switch {
	case g.restore && g.evals >= 2:
		// As Prometheus does: restore after the second evaluation, so the
		// alerts' current state is known and recording rules have run.
		g.g.RestoreForState(ts)
		g.restore = false
	case !g.restore && !g.settled:
		g.settled = true
	}
	m.hist.observe(ctx, g, ts)
}

// notify adapts Prometheus's alerts to Sink.
func (m *Manager) notify(ctx context.Context, expr string, alerts ...*promrules.Alert) {
	if len(alerts) == 0 {
		return
	}
	out := make([]Alert, 0, len(alerts))
	for _, a := range alerts {
		x := Alert{
			Labels:       a.Labels,
			Annotations:  a.Annotations,
			State:        "firing",
			Value:        a.Value,
			ActiveAt:     a.ActiveAt,
			FiredAt:      a.FiredAt,
			StartsAt:     a.FiredAt,
			EndsAt:       a.ValidUntil,
			ValidUntil:   a.ValidUntil,
			ResolvedAt:   a.ResolvedAt,
			GeneratorURL: m.o.ExternalURL + strutil.TableLinkForExpression(expr),
		}
		if start, ok := m.hist.startOf(a.Labels.Hash()); ok && start.Before(x.StartsAt) {
			x.StartsAt = start
		}
		if !a.ResolvedAt.IsZero() {
			x.State = "resolved"
			x.EndsAt = a.ResolvedAt
		}
		out = append(out, x)
	}
	if m.o.Sink != nil {
		m.o.Sink.Send(ctx, out)
	}
}

// loader serves the built-in files from memory and the others from disk,
// and reports every error as file:line:col.
type loader struct {
	builtin map[string][]byte
	parser  parser.Parser
}

func newLoader(files []builtinFile) *loader {
	l := &loader{builtin: map[string][]byte{}, parser: parser.NewParser(parser.Options{})}
	for _, f := range files {
		l.builtin[f.Name] = f.Content
	}
	return l
}

// Load implements promrules.GroupLoader.
func (l *loader) Load(identifier string, ignoreUnknownFields bool, scheme model.ValidationScheme) (*rulefmtGroups, []error) {
	content, ok := l.builtin[identifier]
	if !ok {
		b, err := config.ReadFile(identifier)
		if errors.As(err, new(*config.LimitError)) {
			return nil, []error{err}
		}
		if err != nil {
			return nil, []error{fmt.Errorf("%s: %w", identifier, err)}
		}
		content = b
	}
	return parseRuleFile(identifier, content, ignoreUnknownFields, scheme, l.parser)
}

// Parse implements promrules.GroupLoader.
func (l *loader) Parse(query string) (parser.Expr, error) { return l.parser.ParseExpr(query) }

// Package notify routes alerts to receivers with Alertmanager's semantics
// (routing tree, grouping, inhibition, silences, time intervals) and
// delivers them through a durable outbox in SQLite: every notification is
// written before it is sent and retried until delivered or too old, across
// restarts.
package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"

	"github.com/vigie-dev/vigie/internal/logonce"
	"github.com/vigie-dev/vigie/storage"

	"go.opentelemetry.io/otel/trace"
)

// Options are the notifier's collaborators.
type Options struct {
	// State is the SQLite state database (required).
	State *storage.State
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives vigie_notifications_* metrics when set.
	Registerer prometheus.Registerer
	// ExternalURL is how people reach vigie: links in messages and ack links.
	ExternalURL string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// AckSecret signs acknowledgement links; by default a random key is
	// generated once and kept in the state database.
	AckSecret []byte
	// Tracer makes each delivery attempt a span (outbox.go); nil is off.
	Tracer trace.Tracer
}

// Notifier routes, groups, deduplicates and delivers notifications.
type Notifier struct {
	db          *sql.DB
	logger      *slog.Logger
	now         func() time.Time
	externalURL string
	ackKey      []byte
	metrics     *metrics
	logRepeats  *logonce.Logger
	tracer      trace.Tracer // nil: no spans

	// flushMu keeps flushes one at a time; mu guards the state below and
	// is never held across a database write by a flush.
	flushMu  sync.Mutex
	mu       sync.Mutex
	rc       *runtimeConfig
	alerts   map[model.Fingerprint]*alertEntry
	groups   map[string]*aggrGroup
	nflog    map[string]*logEntry
	silences map[string]*Silence // every silence kept, for the API
	live     map[string]*Silence // pending or active: what flushes look at
	acks     map[string]*Ack

	wakeDispatch chan struct{}
	wakeOutbox   chan struct{}

	sendMu   sync.Mutex
	inflight map[int64]bool
	sends    sync.WaitGroup

	// onDispatchWait, when set (by tests, before Run), is called each
	// time the dispatcher is about to wait, with how long it will wait.
	onDispatchWait func(wait time.Duration)
}

// alertEntry is the latest state of one alert.
type alertEntry struct {
	Alert
	fp        model.Fingerprint
	fpStr     string
	updatedAt time.Time
}

// aggrGroup is one group of one route: the alerts that share the route's
// group_by labels, flushed at group_wait, then every group_interval.
type aggrGroup struct {
	key       string
	route     *routeNode
	labels    map[string]string
	fps       map[model.Fingerprint]bool
	nextFlush time.Time
	flushed   bool
}

// runtimeConfig is a validated configuration compiled for use.
type runtimeConfig struct {
	cfg          Config
	root         *routeNode
	routes       map[string]*routeNode
	inhibit      []inhibitRule
	intervals    map[string]compiledInterval
	integrations map[string][]*integration
}

func compileConfig(cfg Config) (*runtimeConfig, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	rc := &runtimeConfig{cfg: cfg, routes: map[string]*routeNode{}, intervals: map[string]compiledInterval{}, integrations: map[string][]*integration{}}
	root, err := compileRoute(cfg.Route, nil, "{}", rc.routes)
	if err != nil {
		return nil, err
	}
	rc.root = root
	rules := cfg.InhibitRules
	if boolOr(cfg.DependencyInhibition, true) {
		rules = append(append([]InhibitRule{}, rules...), DependencyInhibitRules()...)
	}
	for _, ir := range rules {
		src, tgt, err := ir.compile()
		if err != nil {
			return nil, err
		}
		rc.inhibit = append(rc.inhibit, inhibitRule{source: src, target: tgt, equal: ir.Equal})
	}
	for _, ti := range cfg.TimeIntervals {
		var ci compiledInterval
		for _, s := range ti.TimeIntervals {
			c, err := compileTimeSpec(s)
			if err != nil {
				return nil, fmt.Errorf("time interval %q: %w", ti.Name, err)
			}
			ci = append(ci, c)
		}
		rc.intervals[ti.Name] = ci
	}
	var errs []error
	for _, r := range cfg.Receivers {
		ints, err := buildIntegrations(r)
		errs = append(errs, err)
		rc.integrations[r.Name] = ints
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rc, nil
}

func (rc *runtimeConfig) integration(receiver, name string) *integration {
	for _, i := range rc.integrations[receiver] {
		if i.name == name {
			return i
		}
	}
	return nil
}

// routeMuted reports whether the route's time intervals keep it quiet at t.
func (rc *runtimeConfig) routeMuted(r *routeNode, t time.Time) bool {
	for _, name := range r.mute {
		if rc.intervals[name].contains(t) {
			return true
		}
	}
	if len(r.active) == 0 {
		return false
	}
	for _, name := range r.active {
		if rc.intervals[name].contains(t) {
			return false
		}
	}
	return true
}

// New builds a notifier from a valid configuration, migrates its tables
// and loads its durable state (notification log, silences, acks).
func New(cfg Config, opts Options) (*Notifier, error) {
	if opts.State == nil {
		return nil, errors.New("notify: Options.State is required")
	}
	rc, err := compileConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	n := &Notifier{
		db:           opts.State.DB,
		logger:       opts.Logger,
		now:          opts.Now,
		externalURL:  strings.TrimRight(opts.ExternalURL, "/"),
		tracer:       opts.Tracer,
		rc:           rc,
		alerts:       map[model.Fingerprint]*alertEntry{},
		groups:       map[string]*aggrGroup{},
		silences:     map[string]*Silence{},
		live:         map[string]*Silence{},
		acks:         map[string]*Ack{},
		wakeDispatch: make(chan struct{}, 1),
		wakeOutbox:   make(chan struct{}, 1),
		inflight:     map[int64]bool{},
	}
	if n.logger == nil {
		n.logger = slog.Default()
	}
	if n.now == nil {
		n.now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := opts.State.Migrate(ctx, "notify", migrations); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if n.nflog, err = loadLog(ctx, n.db); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if err := n.loadSilences(ctx); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	if err := n.loadAcks(ctx); err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	n.ackKey = opts.AckSecret
	if len(n.ackKey) == 0 {
		if n.ackKey, err = ackSecret(ctx, n.db); err != nil {
			return nil, fmt.Errorf("notify: ack secret: %w", err)
		}
	}
	n.metrics = newMetrics(opts.Registerer, n)
	n.logRepeats = logonce.New(n.logger, n.metrics.logRepeats)
	return n, nil
}

// ApplyConfig switches to a new configuration. Groups whose route and
// labels still exist keep their timers; the outbox, the notification log,
// silences and acks are untouched. On error the running configuration stays.
func (n *Notifier) ApplyConfig(cfg Config) error {
	commit, err := n.Prepare(cfg)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// Prepare checks cfg and returns the function that makes it take effect,
// so that a reload can check every component before changing any.
func (n *Notifier) Prepare(cfg Config) (commit func(), err error) {
	rc, err := compileConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("notify: %w", err)
	}
	return func() { n.apply(cfg, rc) }, nil
}

func (n *Notifier) apply(cfg Config, rc *runtimeConfig) {
	now := n.now()
	n.mu.Lock()
	old := n.groups
	n.rc = rc
	n.groups = map[string]*aggrGroup{}
	for _, a := range n.alerts {
		n.route(a, now)
	}
	for k, g := range n.groups {
		if o, ok := old[k]; ok {
			g.nextFlush, g.flushed = o.nextFlush, o.flushed
		}
	}
	n.mu.Unlock()
	n.wake(n.wakeDispatch)
	n.wake(n.wakeOutbox)
	n.logger.Info("notify configuration applied", "receivers", len(cfg.Receivers), "routes", len(rc.routes))
}

func (n *Notifier) wake(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// ErrActiveLimit is a Put refused, in part, by limits.max_active_alerts.
// The notifier logs it itself (once at warn while it lasts): a caller such
// as the rules adapter can test for it with errors.Is and not log it again.
var ErrActiveLimit = errors.New("active alert limit reached")

// Put receives alerts: new ones join their groups, known ones are updated.
// Once limits.max_active_alerts alerts fire, new firing alerts are refused
// (an error wrapping ErrActiveLimit says how many); updates and
// resolutions of known alerts are always taken.
func (n *Notifier) Put(ctx context.Context, alerts ...Alert) error {
	now := n.now()
	var errs []error
	n.mu.Lock()
	resolveTimeout := n.rc.cfg.ResolveTimeout.D()
	maxActive := n.rc.cfg.Limits.MaxActiveAlerts
	active := n.activeAlerts(now)
	refused := 0
	due := false
	for _, a := range alerts {
		if len(a.Labels) == 0 {
			errs = append(errs, errors.New("alert without labels"))
			continue
		}
		startsDefaulted := a.StartsAt.IsZero()
		if startsDefaulted {
			a.StartsAt = now
		}
		if a.EndsAt.IsZero() {
			a.EndsAt = now.Add(resolveTimeout)
		}
		fp := fingerprint(a.Labels)
		e := n.alerts[fp]
		known := e != nil && !e.Resolved(now)
		if e != nil && (known || !a.StartsAt.After(e.EndsAt)) && e.StartsAt.Before(a.StartsAt) {
			// The same incident: keep when it started.
			a.StartsAt = e.StartsAt
		}
		if a.EndsAt.Before(a.StartsAt) {
			if !startsDefaulted {
				errs = append(errs, fmt.Errorf("alert %s: endsAt before startsAt", labelsString(a.Labels)))
				continue
			}
			a.StartsAt = a.EndsAt
		}
		if firing := !a.Resolved(now); firing && !known {
			if active >= maxActive {
				refused++
				continue
			}
			active++
		} else if !firing && known {
			active--
		}
		e = &alertEntry{Alert: a, fp: fp, fpStr: fp.String(), updatedAt: now}
		n.alerts[fp] = e
		// Any routed alert wakes the dispatcher: a group due now is flushed,
		// and a new group's flush time (now + group_wait) becomes the
		// dispatcher's next deadline instead of its idle wait.
		n.route(e, now)
		due = true
	}
	n.mu.Unlock()
	n.metrics.alertsReceived.Add(float64(len(alerts)))
	if due {
		n.wake(n.wakeDispatch)
	}
	if refused > 0 {
		n.metrics.rejected.WithLabelValues(rejectActiveLimit).Add(float64(refused))
		err := fmt.Errorf("%w: %d new alerts refused: %d alerts are firing, the limit notify.limits.max_active_alerts is %d", ErrActiveLimit, refused, active, maxActive)
		n.logRepeats.Error("intake", "alerts refused", fmt.Errorf("%w: notify.limits.max_active_alerts is %d", ErrActiveLimit, maxActive), "refused", refused)
		errs = append(errs, err)
	} else if len(alerts) > 0 {
		n.logRepeats.OK("intake", "")
	}
	return errors.Join(errs...)
}

// activeAlerts counts the alerts firing at now. Called with mu held.
func (n *Notifier) activeAlerts(now time.Time) int {
	c := 0
	for _, a := range n.alerts {
		if !a.Resolved(now) {
			c++
		}
	}
	return c
}

// route puts an alert in the groups of the routes it matches. Called with mu held.
func (n *Notifier) route(e *alertEntry, now time.Time) {
	for _, r := range n.rc.root.match(e.Labels) {
		gl := r.groupLabels(e.Labels)
		key := groupKey(r.id, gl)
		g := n.groups[key]
		if g == nil {
			if e.Resolved(now) {
				// A resolved alert does not open a group.
				continue
			}
			g = &aggrGroup{key: key, route: r, labels: gl, fps: map[model.Fingerprint]bool{}, nextFlush: now.Add(r.groupWait)}
			n.groups[key] = g
		}
		g.fps[e.fp] = true
	}
}

// nextFlush is when the earliest group is due (zero: no group).
func (n *Notifier) nextFlush() time.Time {
	n.mu.Lock()
	defer n.mu.Unlock()
	var t time.Time
	for _, g := range n.groups {
		if t.IsZero() || g.nextFlush.Before(t) {
			t = g.nextFlush
		}
	}
	return t
}

// resolvedRetention is how long a resolved alert is kept for inhibition
// bookkeeping and the API before it is forgotten.
const resolvedRetention = 15 * time.Minute

// gcAlerts forgets alerts resolved long ago and acks of resolved alerts. Called with mu held.
func (n *Notifier) gcAlerts(now time.Time) {
	for fp, a := range n.alerts {
		if a.Resolved(now) {
			if ack, ok := n.acks[a.fpStr]; ok && ack.StartsAt.Equal(a.StartsAt) {
				delete(n.acks, a.fpStr)
				go n.deleteAck(a.fpStr)
			}
			if now.Sub(a.EndsAt) > resolvedRetention {
				delete(n.alerts, fp)
			}
		}
	}
}

func (n *Notifier) persistFlush(ctx context.Context, rows []*outboxRow, logs []*logEntry, silences []*Silence) error {
	if len(rows) == 0 && len(logs) == 0 && len(silences) == 0 {
		return nil
	}
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("notify: flush: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, r := range rows {
		if err := insertOutbox(ctx, tx, r); err != nil {
			return fmt.Errorf("notify: flush: %w", err)
		}
	}
	for _, e := range logs {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO notify_log (receiver, integration, group_key, firing, resolved, at) VALUES (?, ?, ?, ?, ?, ?)`,
			e.receiver, e.integration, e.groupKey, setJSON(e.firing), setJSON(e.resolved), ms(e.at)); err != nil {
			return fmt.Errorf("notify: flush: notification log: %w", err)
		}
	}
	for _, s := range silences {
		if _, err := tx.ExecContext(ctx, `UPDATE notify_silences SET ends_at = ?, updated_at = ?, seen_firing = ? WHERE id = ?`,
			ms(s.EndsAt), ms(s.UpdatedAt), s.seenFiring, s.ID); err != nil {
			return fmt.Errorf("notify: flush: silence: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("notify: flush: commit: %w", err)
	}
	return nil
}

// needsUpdate is Alertmanager's dedup decision, a pure function of the
// last log entry, the firing and resolved sets and the clock, plus vigie's
// acknowledgements (an acknowledged group is not repeated) and
// send_resolved_when_muted.
func needsUpdate(entry *logEntry, firing, resolved map[string]bool, sendResolved, resolvedMuted, allAcked bool, repeat time.Duration, now time.Time) bool {
	if entry == nil {
		return len(firing) > 0 || (resolvedMuted && sendResolved && len(resolved) > 0)
	}
	if !subset(firing, entry.firing) {
		return true
	}
	if len(firing) == 0 {
		// Everything resolved: tell it (or, without send_resolved, clear the log).
		return len(entry.firing) > 0 || (resolvedMuted && sendResolved && !subset(resolved, entry.resolved))
	}
	if sendResolved && !subset(resolved, entry.resolved) {
		return true
	}
	if allAcked {
		return false
	}
	return !entry.at.Add(repeat).After(now)
}

func subset(a, b map[string]bool) bool {
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

// Run flushes groups when they are due and delivers the outbox until ctx
// ends; then it waits a bounded time for deliveries in flight.
func (n *Notifier) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	sendCtx, cancelSends := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelSends()
	wg.Add(1)
	go func() {
		defer wg.Done()
		n.runOutbox(ctx, sendCtx)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		switch _, ran, err := n.flush(ctx, n.now()); {
		case err != nil && ctx.Err() == nil:
			// Retried every second: a full disk logs once, then at debug.
			n.logRepeats.Error("flush", "flushing alert groups failed", err)
		case err == nil && ran:
			n.logRepeats.OK("flush", "flushing alert groups works again")
		}
		wait := time.Minute
		if next := n.nextFlush(); !next.IsZero() {
			wait = min(wait, max(next.Sub(n.now()), 0))
		}
		timer.Reset(wait)
		if n.onDispatchWait != nil {
			n.onDispatchWait(wait)
		}
		select {
		case <-ctx.Done():
			// Let deliveries in flight finish, within a bound.
			done := make(chan struct{})
			go func() { wg.Wait(); n.sends.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cancelSends()
				<-done
			}
			return nil
		case <-n.wakeDispatch:
		case <-timer.C:
		}
	}
}

// Alerts returns the alerts known to the notifier with their state, for the API.
func (n *Notifier) Alerts() []APIAlert {
	now := n.now()
	n.mu.Lock()
	defer n.mu.Unlock()
	inh := newInhibitor(n.rc.inhibit, n.alerts, now)
	out := make([]APIAlert, 0, len(n.alerts))
	for _, a := range n.alerts {
		if a.Resolved(now) {
			continue
		}
		aa := APIAlert{
			Labels: a.Labels, Annotations: a.Annotations, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
			GeneratorURL: a.GeneratorURL, Fingerprint: a.fpStr, UpdatedAt: a.updatedAt,
			Receivers: []APIReceiver{},
		}
		if aa.Annotations == nil {
			aa.Annotations = map[string]string{}
		}
		seen := map[string]bool{}
		for _, r := range n.rc.root.match(a.Labels) {
			if !seen[r.receiver] {
				aa.Receivers = append(aa.Receivers, APIReceiver{Name: r.receiver})
				seen[r.receiver] = true
			}
			if n.rc.routeMuted(r, now) {
				aa.Status.MutedBy = append(aa.Status.MutedBy, append(r.mute, r.active...)...)
			}
		}
		aa.Status.SilencedBy = nonNil(n.silencedBy(a.Labels, now))
		aa.Status.InhibitedBy = nonNil(inh.inhibitedBy(a.fpStr, a.Labels))
		aa.Status.MutedBy = nonNil(aa.Status.MutedBy)
		aa.Status.State = "active"
		if len(aa.Status.SilencedBy)+len(aa.Status.InhibitedBy)+len(aa.Status.MutedBy) > 0 {
			aa.Status.State = "suppressed"
		}
		if ack, ok := n.acks[a.fpStr]; ok && ack.valid(a, now) {
			cp := *ack
			aa.Acknowledged = &cp
		}
		out = append(out, aa)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Fingerprint < out[j].Fingerprint })
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

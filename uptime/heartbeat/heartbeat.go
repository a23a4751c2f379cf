// Package heartbeat watches jobs that cannot be probed: cron jobs and
// backups. A heartbeat (push monitor) expects pings on a secret URL on a
// period or a cron schedule; a file check expects a fresh, big enough
// newest file matching a glob. Both report vigie_heartbeat_* and
// vigie_file_* series that the built-in rules (rules/builtin/heartbeats.yml)
// alert on, so they go through the one alerting path.
//
// Tokens and pings are kept in the state database (component
// "heartbeat"), so a restart keeps each heartbeat's URL and last pings.
package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/storage"
)

// Options are what New needs.
type Options struct {
	Config Config
	Logger *slog.Logger
	// Registerer, when set, gets the Heartbeats collector registered.
	Registerer prometheus.Registerer
	// StateDB is vigie's SQLite state database (required).
	StateDB *storage.State
	// ExternalURL is vigie's public URL, the base of ping URLs. Empty: the
	// listing derives it from each request's Host.
	ExternalURL string
	// RootPath is the host's / as vigie sees it (collect.node.root_path);
	// file check globs are read under it. Empty means /.
	RootPath string
	// Now is the clock (time.Now when nil).
	Now func() time.Time
}

// Heartbeats serves ping URLs, keeps the pings and reports the metrics.
type Heartbeats struct {
	logger      *slog.Logger
	store       store
	now         func() time.Time
	externalURL string
	rootPath    string
	limiter     *ipLimiter
	descs       descs

	mu      sync.Mutex
	cfg     Config
	beats   map[string]*beat // by name
	byToken map[string]*beat
	files   map[string]*fileCheck // by name
	fileErr map[string]string     // file check → last error logged, to log once
}

// beat is one heartbeat's configuration and state.
type beat struct {
	cfg      HeartbeatConfig
	timing   timing
	token    string
	st       state
	status   Status    // last recorded status (heartbeat_transitions)
	statusAt time.Time // when it began
}

// New opens the heartbeat tables, creates the tokens of new heartbeats and
// restores every heartbeat's last pings.
func New(ctx context.Context, o Options) (*Heartbeats, error) {
	if o.StateDB == nil {
		return nil, fmt.Errorf("heartbeat: a state database is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RootPath == "" {
		o.RootPath = "/"
	}
	if err := o.StateDB.Migrate(ctx, "heartbeat", migrations); err != nil {
		return nil, err
	}
	h := &Heartbeats{
		logger:      o.Logger.With("component", "heartbeat"),
		store:       store{db: o.StateDB.DB},
		now:         o.Now,
		externalURL: o.ExternalURL,
		rootPath:    o.RootPath,
		limiter:     newIPLimiter(),
		descs:       newDescs(),
		beats:       map[string]*beat{},
		byToken:     map[string]*beat{},
		files:       map[string]*fileCheck{},
		fileErr:     map[string]string{},
	}
	if err := h.ApplyConfig(ctx, o.Config); err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(h); err != nil {
			return nil, fmt.Errorf("heartbeat: register metrics: %w", err)
		}
	}
	return h, nil
}

// ApplyConfig switches to cfg (on a reload). A heartbeat that keeps its
// name keeps its token and pings; a new one gets a token. Nothing changes
// if cfg is invalid or the database fails.
func (h *Heartbeats) ApplyConfig(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	h.mu.Lock()
	old, oldFiles := h.beats, h.files
	h.mu.Unlock()
	files, err := h.loadFileChecks(ctx, cfg, oldFiles)
	if err != nil {
		return err
	}
	beats := make(map[string]*beat, len(cfg.Heartbeats))
	for _, c := range cfg.Heartbeats {
		t, err := newTiming(c)
		if err != nil {
			return fmt.Errorf("heartbeat %s: %w", c.Name, err)
		}
		b := &beat{cfg: c, timing: t}
		if _, ok := old[c.Name]; !ok {
			tok, created, err := h.store.token(ctx, c.Name, h.now())
			if err != nil {
				return err
			}
			if b.st, err = h.store.load(ctx, c.Name, created); err != nil {
				return err
			}
			tr, err := h.store.lastTransition(ctx, beatHistory, c.Name)
			if err != nil {
				return err
			}
			b.token, b.status, b.statusAt = tok, tr.Status, tr.At
		}
		beats[c.Name] = b
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	byToken := make(map[string]*beat, len(beats))
	for name, b := range beats {
		if o, ok := h.beats[name]; ok && b.token == "" { // kept: its state as of now
			b.token, b.st, b.status, b.statusAt = o.token, o.st, o.status, o.statusAt
		}
		byToken[b.token] = b
	}
	h.cfg, h.beats, h.byToken, h.files = cfg, beats, byToken, files
	return nil
}

// Run records and logs status changes of heartbeats and file checks
// (every 15 s: a job going missing is a change no ping announces), forgets idle rate limits and prunes old
// history, until ctx ends.
func (h *Heartbeats) Run(ctx context.Context) error {
	t := time.NewTicker(15 * time.Second)
	defer t.Stop()
	var pruned time.Time
	for {
		now := h.now()
		h.limiter.prune(now)
		if err := h.observe(ctx, now, nil); err != nil {
			h.logger.Warn("recording heartbeat status failed", "err", err)
		}
		if err := h.observeFiles(ctx, now, ""); err != nil {
			h.logger.Warn("recording file check status failed", "err", err)
		}
		if now.Sub(pruned) > time.Hour {
			if err := h.store.pruneTransitions(ctx, now.Add(-keepTransitions)); err != nil {
				h.logger.Warn("pruning heartbeat history failed", "err", err)
			}
			pruned = now
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// observe evaluates the heartbeats (or only one) as of now and records
// and logs each change of status.
func (h *Heartbeats) observe(ctx context.Context, now time.Time, only *beat) error {
	type change struct {
		name string
		from Status
		tr   Transition
	}
	var changes []change
	h.mu.Lock()
	for name, b := range h.beats {
		if only != nil && b != only {
			continue
		}
		e := evaluate(b.timing, &b.st, now)
		if e.Status == b.status {
			continue
		}
		tr := Transition{At: changedAt(e, b, now), Status: e.Status}
		changes = append(changes, change{name, b.status, tr})
		b.status, b.statusAt = tr.Status, tr.At
	}
	h.mu.Unlock()
	var errs []error
	for _, c := range changes {
		if c.from != "" {
			h.logger.Info("heartbeat status changed", "heartbeat", c.name, "from", c.from, "to", c.tr.Status)
		}
		if err := h.store.addTransition(ctx, beatHistory, c.name, c.tr); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// changedAt is when a heartbeat entered e's status: the deadline for
// down, the due time for late, the start or the ping for the others;
// never before the previous change, never after now.
func changedAt(e evaluation, b *beat, now time.Time) time.Time {
	at := now
	switch e.Status {
	case StatusDown:
		at = e.Deadline
	case StatusLate:
		at = e.Due
	case StatusOverrun:
		at = b.st.lastStart.Add(b.timing.maxRuntime)
	case StatusRunning:
		at = b.st.lastStart
	case StatusUp, StatusFailed:
		at = b.st.last.At
	}
	if at.Before(b.statusAt) {
		at = b.statusAt
	}
	if at.After(now) {
		at = now
	}
	return at
}

// History returns heartbeat name's status changes in (from, to], preceded
// by the status in effect at from, for the status page's bars. Statuses
// are recorded as Run and pings find them.
func (h *Heartbeats) History(ctx context.Context, name string, from, to time.Time) ([]Transition, error) {
	if err := h.observe(ctx, h.now(), nil); err != nil {
		return nil, err
	}
	return h.store.transitions(ctx, beatHistory, name, from, to)
}

// LastOutput returns the output tail and exit code that came with the
// last finishing ping (success or failure) of heartbeat name, for
// notifications. exitCode is 0 for a plain success and -1 for a failure
// that gave no code; ok is false when the heartbeat is unknown or has not
// finished a run.
func (h *Heartbeats) LastOutput(name string) (tail string, exitCode int, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	b, found := h.beats[name]
	if !found || b.st.last == nil {
		return "", 0, false
	}
	p := b.st.last
	switch {
	case p.ExitCode != nil:
		exitCode = *p.ExitCode
	case p.Kind == KindFail:
		exitCode = -1
	}
	return p.Body, exitCode, true
}

// record stores a ping of the heartbeat behind token and applies it. It
// returns the heartbeat's name, or "" when the token is unknown.
func (h *Heartbeats) record(ctx context.Context, token string, p ping) (string, error) {
	h.mu.Lock()
	b, ok := h.byToken[token]
	if !ok {
		h.mu.Unlock()
		return "", nil
	}
	name := b.cfg.Name
	if p.Kind != KindStart && p.Duration == nil && b.st.running() {
		d := p.At.Sub(b.st.lastStart)
		p.Duration = &d
	}
	h.mu.Unlock()
	if err := h.store.insert(ctx, name, p); err != nil {
		return name, err
	}
	h.mu.Lock()
	b.st.apply(p)
	h.mu.Unlock()
	if err := h.observe(ctx, p.At, b); err != nil {
		h.logger.Warn("recording heartbeat status failed", "heartbeat", name, "err", err)
	}
	return name, nil
}

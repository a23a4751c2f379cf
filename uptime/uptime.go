// Package uptime runs external probes against each domain (uptime/probe),
// discovers domains from Traefik labels (uptime/discovery), keeps every
// check in the state database (History) and exposes the latest result of
// each probe as samples with blackbox_exporter's names, through a
// collector.Collector: probes run on their own schedule, never on a gather.
package uptime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime/discovery"
	"github.com/vigie-dev/vigie/uptime/probe"
)

// Options builds a Manager.
type Options struct {
	Config     Config
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// StateDB holds the history; nil keeps no history (tests, agent mode).
	StateDB *storage.State
	// Docker returns the engine client of discovery, which the Manager
	// closes when discovery stops (if it is an io.Closer); nil disables discovery.
	Docker func() (discovery.Client, error)
	Now    func() time.Time
}

// Manager runs the probes of the configuration and of discovery.
type Manager struct {
	logger     *slog.Logger
	now        func() time.Time
	history    *History
	docker     func() (discovery.Client, error)
	startDelay prometheus.Histogram
	// maxSpread bounds the start offset of a probe within its interval.
	maxSpread time.Duration

	mu         sync.Mutex
	cfg        Config
	ctx        context.Context // set by Run
	runners    map[string]*runner
	discovered []probe.Config
	discCancel context.CancelFunc
	discDone   chan struct{}

	records chan Record // to the history writer, while Run runs
	writing atomic.Bool
}

// New validates the configuration and opens the history.
func New(o Options) (*Manager, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := &Manager{
		logger: o.Logger.With("component", "uptime"), now: o.Now, docker: o.Docker,
		cfg: o.Config.withDefaults(), runners: map[string]*runner{}, maxSpread: time.Hour, records: make(chan Record, 1024),
		startDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigie_probe_start_delay_seconds",
			Help:    "How late uptime checks started compared with their schedule.",
			Buckets: []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5},
		}),
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(m.startDelay); err != nil {
			return nil, fmt.Errorf("uptime: register metrics: %w", err)
		}
	}
	if o.StateDB != nil {
		h, err := OpenHistory(context.Background(), o.StateDB, o.Now, m.cfg.Retention)
		if err != nil {
			return nil, fmt.Errorf("uptime: %w", err)
		}
		m.history = h
	}
	return m, nil
}

// History returns the check history (nil without a state database).
func (m *Manager) History() *History { return m.history }

// Run starts every probe and discovery, prunes the history hourly, and
// stops them all when ctx ends.
func (m *Manager) Run(ctx context.Context) error {
	stopWriter, writerDone := make(chan struct{}), make(chan struct{})
	if m.history != nil {
		m.writing.Store(true)
		go func() {
			defer close(writerDone)
			m.writeLoop(stopWriter)
		}()
	} else {
		close(writerDone)
	}
	m.mu.Lock()
	m.ctx = ctx
	m.startDiscoveryLocked()
	m.reconcileLocked()
	m.mu.Unlock()
	prune := time.NewTicker(time.Hour)
	defer prune.Stop()
	m.prune(ctx)
	for {
		select {
		case <-ctx.Done():
			m.mu.Lock()
			m.stopDiscoveryLocked()
			rs := m.runners
			m.runners = map[string]*runner{}
			m.mu.Unlock()
			for _, r := range rs {
				r.stop()
			}
			m.writing.Store(false)
			close(stopWriter)
			<-writerDone
			return nil
		case <-prune.C:
			m.prune(ctx)
		}
	}
}

func (m *Manager) prune(ctx context.Context) {
	if m.history == nil {
		return
	}
	if err := m.history.Prune(ctx); err != nil && ctx.Err() == nil {
		m.logger.Warn("cannot prune uptime history", "err", err)
	}
}

// ApplyConfig swaps the configuration: unchanged probes keep running (and
// their schedule), changed ones restart, removed ones stop. An invalid
// configuration changes nothing.
func (m *Manager) ApplyConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	cfg = cfg.withDefaults()
	m.mu.Lock()
	defer m.mu.Unlock()
	discChanged := !reflect.DeepEqual(cfg.Discovery, m.cfg.Discovery)
	m.cfg = cfg
	if m.history != nil {
		m.history.setRetention(cfg.Retention)
	}
	if discChanged && m.ctx != nil {
		m.stopDiscoveryLocked()
		m.discovered = nil
		m.startDiscoveryLocked()
	}
	if m.ctx != nil {
		m.reconcileLocked()
	}
	return nil
}

// setDiscovered replaces the discovered probes (discovery's callback).
func (m *Manager) setDiscovered(ps []probe.Config) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.discovered = ps
	if m.ctx != nil {
		m.reconcileLocked()
	}
}

// desiredLocked is the configured probes plus the discovered ones whose
// names are not taken by configured probes.
func (m *Manager) desiredLocked() map[string]probe.Config {
	out := map[string]probe.Config{}
	for _, p := range m.cfg.Probes {
		out[p.Name] = p
	}
	for _, p := range m.discovered {
		p = p.WithDefaults()
		if _, taken := out[p.Name]; taken {
			continue
		}
		if err := p.Validate(); err != nil {
			m.logger.Warn("discovered probe ignored", "probe", p.Name, "err", err)
			continue
		}
		out[p.Name] = p
	}
	return out
}

func (m *Manager) reconcileLocked() {
	want := m.desiredLocked()
	carried := map[string]*runner{} // changed probes keep their state (damping, last result)
	for name, r := range m.runners {
		if c, ok := want[name]; !ok || !reflect.DeepEqual(c, r.cfg) {
			r.stop()
			delete(m.runners, name)
			carried[name] = r
		}
	}
	for name, c := range want {
		if _, ok := m.runners[name]; ok {
			continue
		}
		r, err := newRunner(m, c)
		if err != nil {
			m.logger.Warn("cannot start probe", "probe", name, "err", err)
			continue
		}
		if old, ok := carried[name]; ok {
			r.last, r.state, r.known = old.snapshot()
		}
		m.runners[name] = r
		r.start(m.ctx)
	}
}

func (m *Manager) startDiscoveryLocked() {
	dc := m.cfg.Discovery
	if !dc.Enabled {
		return
	}
	if m.docker == nil {
		m.logger.Warn("uptime discovery is enabled but no Docker client was given")
		return
	}
	cli, err := m.docker()
	if err != nil {
		m.logger.Warn("uptime discovery: no Docker client", "err", err)
		return
	}
	ctx, cancel := context.WithCancel(m.ctx)
	done := make(chan struct{})
	m.discCancel, m.discDone = cancel, done
	d := discovery.New(discovery.Options{Client: cli, Config: dc, Logger: m.logger.With("discovery", "docker"), OnChange: m.setDiscovered})
	go func() {
		defer close(done)
		if c, ok := cli.(io.Closer); ok {
			defer c.Close()
		}
		d.Run(ctx)
	}()
}

// stopDiscoveryLocked stops discovery; its callback must not take m.mu
// while we wait, so the lock is released around the wait.
func (m *Manager) stopDiscoveryLocked() {
	if m.discCancel == nil {
		return
	}
	m.discCancel()
	done := m.discDone
	m.discCancel, m.discDone = nil, nil
	m.mu.Unlock()
	<-done
	m.mu.Lock()
}

// ProbeStatus is one probe as the API and the status page see it.
type ProbeStatus struct {
	Config     probe.Config  `json:"config"`
	Instance   string        `json:"instance"`
	Discovered bool          `json:"discovered"`
	State      *State        `json:"state,omitempty"`
	Last       *probe.Result `json:"-"`
	LastCheck  *Check        `json:"last_check,omitempty"`
}

// Probes lists the running probes with their latest result, by name.
func (m *Manager) Probes() []ProbeStatus {
	m.mu.Lock()
	rs := make([]*runner, 0, len(m.runners))
	static := map[string]bool{}
	for _, p := range m.cfg.Probes {
		static[p.Name] = true
	}
	for _, r := range m.runners {
		rs = append(rs, r)
	}
	m.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].cfg.Name < rs[j].cfg.Name })
	out := make([]ProbeStatus, 0, len(rs))
	for _, r := range rs {
		last, st, known := r.snapshot()
		ps := ProbeStatus{Config: r.cfg.Redacted(), Instance: r.cfg.Instance(), Discovered: !static[r.cfg.Name], Last: last}
		if known {
			ps.State = &st
		}
		if last != nil {
			ps.LastCheck = &Check{Time: last.Start, Success: last.Success, Up: st.Up, Duration: last.Duration, Seconds: last.Duration.Seconds(), Reason: last.Reason}
		}
		out = append(out, ps)
	}
	return out
}

// ErrUnknownProbe is returned for a probe name that is not running.
var ErrUnknownProbe = errors.New("unknown probe")

package storage

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/internal/logonce"
)

// Pruner is a component that keeps rows in the state database and deletes
// those older than retention (storage.state_retention) when asked. A
// component with a shorter knob of its own (rules.history_retention,
// notify.delivery.retention) applies the shorter of the two.
type Pruner interface {
	PruneState(ctx context.Context, now time.Time, retention time.Duration) (deleted int64, err error)
}

// PrunerFunc adapts a function to Pruner.
type PrunerFunc func(ctx context.Context, now time.Time, retention time.Duration) (int64, error)

// PruneState calls f.
func (f PrunerFunc) PruneState(ctx context.Context, now time.Time, retention time.Duration) (int64, error) {
	return f(ctx, now, retention)
}

// MaintenanceOptions configure the state database's maintenance.
type MaintenanceOptions struct {
	// Retention is storage.state_retention (default DefaultConfig's).
	Retention time.Duration
	// Interval between runs (default 1h).
	Interval time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives vigie_state_* metrics when set.
	Registerer prometheus.Registerer
}

// Maintenance bounds the state database: every Interval it asks each
// registered component to delete what is older than the retention.
type Maintenance struct {
	interval time.Duration
	now      func() time.Time
	logger   *slog.Logger
	pruned   *prometheus.CounterVec
	failures *prometheus.CounterVec
	logs     *logonce.Logger

	mu        sync.Mutex
	retention time.Duration
	pruners   []namedPruner
}

type namedPruner struct {
	name string
	p    Pruner
}

// NewMaintenance builds the maintenance step; Add the components, then Run it.
func NewMaintenance(opts MaintenanceOptions) *Maintenance {
	m := &Maintenance{retention: opts.Retention, interval: opts.Interval, now: opts.Now, logger: opts.Logger}
	if m.retention <= 0 {
		m.retention = DefaultConfig().StateRetention.D()
	}
	if m.interval <= 0 {
		m.interval = time.Hour
	}
	if m.now == nil {
		m.now = time.Now
	}
	if m.logger == nil {
		m.logger = slog.Default()
	}
	m.pruned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigie_state_pruned_rows_total", Help: "Rows deleted from the state database by retention, by component.",
	}, []string{"component"})
	m.failures = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigie_state_prune_failures_total", Help: "Failed retention runs on the state database, by component.",
	}, []string{"component"})
	// The failures counter counts repeats too: logonce needs none of its own.
	m.logs = logonce.New(m.logger, nil)
	if opts.Registerer != nil {
		opts.Registerer.MustRegister(m.pruned, m.failures)
	}
	return m
}

// Add registers a component's pruner under name (its metric label).
func (m *Maintenance) Add(name string, p Pruner) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.pruners = append(m.pruners, namedPruner{name, p})
	m.pruned.WithLabelValues(name)
	m.failures.WithLabelValues(name)
}

// SetRetention changes the retention (a reload of storage.state_retention).
func (m *Maintenance) SetRetention(d time.Duration) {
	if d <= 0 {
		return
	}
	m.mu.Lock()
	m.retention = d
	m.mu.Unlock()
}

// RunOnce prunes every component once and returns the rows deleted. A
// failing component is logged and counted; the others still run.
func (m *Maintenance) RunOnce(ctx context.Context) int64 {
	m.mu.Lock()
	retention, pruners := m.retention, append([]namedPruner(nil), m.pruners...)
	m.mu.Unlock()
	now := m.now()
	var total int64
	for _, np := range pruners {
		n, err := np.p.PruneState(ctx, now, retention)
		m.pruned.WithLabelValues(np.name).Add(float64(n))
		total += n
		if err != nil {
			if ctx.Err() != nil {
				return total
			}
			m.failures.WithLabelValues(np.name).Inc()
			m.logs.Error(np.name, "pruning the state database failed", err, "component", np.name)
			continue
		}
		m.logs.OK(np.name, "pruning the state database works again", "component", np.name)
		if n > 0 {
			m.logger.Debug("state database pruned", "component", np.name, "rows", n, "retention", retention)
		}
	}
	return total
}

// Run prunes at start and then every Interval until ctx ends.
func (m *Maintenance) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		m.RunOnce(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

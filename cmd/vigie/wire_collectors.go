package main

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/container"
	"github.com/vigie-dev/vigie/collector/node"
	"github.com/vigie-dev/vigie/collector/postgres"
	"github.com/vigie-dev/vigie/collector/systemd"
	"github.com/vigie-dev/vigie/config"
)

// collectorsComponent builds the built-in collectors from collect.* and swaps
// them into the Set on every (re)load. A collector whose section did not
// change is kept as it is, with its connections and state.
type collectorsComponent struct {
	base
	set   *collector.Set
	log   *slog.Logger
	fixed []collector.Collector // other components' collectors, in every Set

	mu      sync.Mutex
	ctx     context.Context // set by run, for collectors with background work
	current map[string]*builtCollector
	waiting []*builtCollector // built before run started
	pending []*builtCollector // built by the last Prepare, not committed yet
}

// builtCollector is one running collector and the section it was built from.
type builtCollector struct {
	section any
	c       collector.Collector
	cancel  context.CancelFunc
	done    chan struct{}
}

// runner is a collector with background work (an event stream, a pool).
type runner interface {
	Run(ctx context.Context)
}

type closer interface {
	Close() error
}

// builder makes one collector from the configuration, or nil when its section disables it.
type builder struct {
	name    string
	section func(cfg *Config) any
	build   func(cfg *Config, log *slog.Logger) (collector.Collector, error)
}

// collectorBuilders lists the built-in collectors.
func collectorBuilders() []builder {
	return []builder{
		{
			name:    "node",
			section: func(cfg *Config) any { return cfg.Collect.Node },
			build: func(cfg *Config, log *slog.Logger) (collector.Collector, error) {
				if !cfg.Collect.Node.Enabled {
					return nil, nil
				}
				return node.New(cfg.Collect.Node, log.With("collector", "node"))
			},
		},
		{
			name:    "docker",
			section: func(cfg *Config) any { return cfg.Collect.Docker },
			build: func(cfg *Config, log *slog.Logger) (collector.Collector, error) {
				if cfg.Collect.Docker.Enabled == container.EnabledFalse {
					return nil, nil
				}
				c, err := container.New(cfg.Collect.Docker, log.With("collector", "docker"))
				if err != nil {
					return nil, config.Prefix("collect.docker", err)
				}
				return c, nil
			},
		},
		{
			name:    "postgres",
			section: func(cfg *Config) any { return cfg.Collect.Postgres },
			build: func(cfg *Config, log *slog.Logger) (collector.Collector, error) {
				if len(cfg.Collect.Postgres) == 0 {
					return nil, nil
				}
				c, err := postgres.New(cfg.Collect.Postgres, log.With("collector", "postgres"))
				if err != nil {
					return nil, config.Prefix("collect.postgres", err)
				}
				return c, nil
			},
		},
		{
			name:    "systemd",
			section: func(cfg *Config) any { return cfg.Collect.Systemd },
			build: func(cfg *Config, log *slog.Logger) (collector.Collector, error) {
				if !cfg.Collect.Systemd.Enabled {
					return nil, nil
				}
				// Connects to D-Bus at the first gather, not here.
				c, err := systemd.New(cfg.Collect.Systemd, systemd.Options{Logger: log})
				if err != nil {
					return nil, config.Prefix("collect.systemd", err)
				}
				return c, nil
			},
		},
	}
}

// newCollectorsComponent builds the component; fixed are collectors other
// components own (uptime's probe results), gathered with the built-in ones.
func newCollectorsComponent(set *collector.Set, log *slog.Logger, fixed ...collector.Collector) *collectorsComponent {
	return &collectorsComponent{set: set, log: log, fixed: fixed, current: map[string]*builtCollector{}}
}

func (p *collectorsComponent) Name() string { return "collect" }

func (p *collectorsComponent) Prepare(cfg *Config) (func(), error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	// Collectors built by a Prepare that another component's error kept
	// from committing are released now (reloads run one at a time).
	for _, bc := range p.pending {
		stopCollector(bc)
	}
	p.pending = nil
	next := map[string]*builtCollector{}
	var fresh []*builtCollector
	var errs []error
	for _, b := range collectorBuilders() {
		sec := b.section(cfg)
		if old, ok := p.current[b.name]; ok && reflect.DeepEqual(old.section, sec) {
			next[b.name] = old
			continue
		}
		c, err := b.build(cfg, p.log)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		bc := &builtCollector{section: sec, c: c}
		next[b.name] = bc
		fresh = append(fresh, bc)
	}
	if err := errors.Join(errs...); err != nil {
		for _, bc := range fresh {
			stopCollector(bc)
		}
		return nil, err
	}
	p.pending = fresh
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.pending = nil
		cs := append([]collector.Collector(nil), p.fixed...)
		for _, b := range collectorBuilders() {
			if bc := next[b.name]; bc != nil && bc.c != nil {
				cs = append(cs, bc.c)
			}
		}
		p.set.Replace(cs...)
		for name, old := range p.current {
			if next[name] != old {
				stopCollector(old)
			}
		}
		p.current = next
		for _, bc := range fresh {
			p.startLocked(bc)
		}
	}, nil
}

// startLocked starts a collector's background work, now or when run starts.
func (p *collectorsComponent) startLocked(bc *builtCollector) {
	r, ok := bc.c.(runner)
	if !ok || bc.c == nil {
		return
	}
	if p.ctx == nil {
		p.waiting = append(p.waiting, bc)
		return
	}
	ctx, cancel := context.WithCancel(p.ctx)
	bc.cancel, bc.done = cancel, make(chan struct{})
	go func() {
		defer close(bc.done)
		r.Run(ctx)
	}()
}

func stopCollector(bc *builtCollector) {
	if bc == nil || bc.c == nil {
		return
	}
	if bc.cancel != nil {
		bc.cancel()
		<-bc.done
	}
	if c, ok := bc.c.(closer); ok {
		_ = c.Close()
	}
}

func (p *collectorsComponent) Run(ctx context.Context) {
	p.mu.Lock()
	p.ctx = ctx
	waiting := p.waiting
	p.waiting = nil
	for _, bc := range waiting {
		p.startLocked(bc)
	}
	p.mu.Unlock()
	<-ctx.Done()
}

func (p *collectorsComponent) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, bc := range p.pending {
		stopCollector(bc)
	}
	p.pending = nil
	for _, bc := range p.current {
		stopCollector(bc)
	}
	p.current = map[string]*builtCollector{}
	return nil
}

// The collectors with background work must keep the runner shape, or their
// work would silently never start.
var _ runner = (*container.Collector)(nil)

// The collectors holding a connection must keep the closer shape, or
// reloads and shutdown would leak it.
var _ closer = (*systemd.Collector)(nil)

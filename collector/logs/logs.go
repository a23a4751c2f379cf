// Package logs is vigie's log collector: sources (files by glob, Docker
// containers, the Loki push receiver) feed a pipeline (level, multiline
// joining, patterns, counters) that writes into the log store of package
// logs, and forwarders copy what was stored to external Lokis.
package logs

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/logs"
)

// Options configure New.
type Options struct {
	Config     logs.Config
	Store      *logs.Store
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
	// Backoff paces retries to external Lokis (DefaultBackoff when nil).
	Backoff Backoff
}

// Collector runs the log sources and the pipeline.
type Collector struct {
	store    *logs.Store
	pipeline *Pipeline
	metrics  *Metrics
	logger   *slog.Logger
	now      func() time.Time
	push     *logs.PushHandler
	api      *logs.API
	backoff  Backoff

	mu         sync.Mutex
	cfg        logs.Config
	forwarders map[string]*runningForwarder
}

// New builds the collector; its counters are registered on o.Registerer.
func New(o Options) (*Collector, error) {
	if o.Store == nil {
		return nil, fmt.Errorf("logs: a store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	m := NewMetrics()
	p, err := NewPipeline(m, o.Config.Patterns)
	if err != nil {
		return nil, err
	}
	if o.Registerer != nil {
		if err := o.Registerer.Register(m); err != nil {
			return nil, fmt.Errorf("logs: register metrics: %w", err)
		}
	}
	c := &Collector{store: o.Store, pipeline: p, metrics: m, logger: o.Logger.With("collector", "logs"),
		now: o.Now, cfg: o.Config, api: logs.NewAPI(o.Store), backoff: o.Backoff, forwarders: map[string]*runningForwarder{}}
	c.push = logs.NewPushHandler(c, o.Config.Push)
	c.setForwarders(o.Config.Forward)
	o.Store.SetRetention(o.Config.Retention)
	return c, nil
}

// ApplyConfig changes patterns, files, limits and retention; all or nothing.
func (c *Collector) ApplyConfig(cfg logs.Config) error {
	if err := c.pipeline.SetPatterns(cfg.Patterns); err != nil {
		return err
	}
	c.push.SetConfig(cfg.Push)
	c.store.SetRetention(cfg.Retention)
	c.setForwarders(cfg.Forward)
	c.mu.Lock()
	c.cfg = cfg
	c.mu.Unlock()
	return nil
}

func (c *Collector) config() logs.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg
}

// Run tails the files and enforces the store's retention until ctx ends.
func (c *Collector) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.store.Run(ctx) })
	defer wg.Wait()
	sink := &forwardingStore{Store: c.store, c: c}
	fs := newFileSource(sink, c.pipeline, c.metrics, c.logger, c.now)
	defer fs.close()
	defer c.stopForwarders()
	var docker *dockerSource
	defer func() {
		if docker != nil {
			docker.stop()
		}
	}()
	for {
		cfg := c.config()
		c.startForwarders(ctx)
		fs.poll(ctx, cfg)
		docker = c.pollDocker(ctx, docker, sink, cfg)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(cfg.PollInterval.D()):
		}
	}
}

// pollDocker starts, follows and stops the container source as the
// configuration says.
func (c *Collector) pollDocker(ctx context.Context, d *dockerSource, sink CursorStore, cfg logs.Config) *dockerSource {
	if !cfg.Docker.Enabled {
		if d != nil {
			d.stop()
		}
		return nil
	}
	if d == nil {
		var err error
		if d, err = newDockerSource(cfg.Docker.Host, sink, c.pipeline, c.metrics, c.logger, c.now); err != nil {
			c.logger.Warn("docker log source", "err", err)
			return nil
		}
	}
	d.poll(ctx, cfg)
	return d
}

// Routes are the push receiver (Admin) and the Loki query API (Read).
func (c *Collector) Routes() []web.Route {
	return append(c.push.Routes(), c.api.Routes()...)
}

// Metrics is the collector's prometheus.Collector (already registered by New).
func (c *Collector) Metrics() *Metrics { return c.metrics }

// Push runs pushed entries through the pipeline into the store; it is the
// push receiver's sink. The source label is the stream's source, job or "push".
func (c *Collector) Push(ctx context.Context, entries []logs.Entry) error {
	var last *Source
	lastName := ""
	for i := range entries {
		e := &entries[i]
		name := e.Labels.Get("source")
		if name == "" {
			name = e.Labels.Get("job")
		}
		if name == "" {
			name = "push"
		}
		if last == nil || name != lastName {
			last, lastName = c.pipeline.Source(name), name
		}
		if lv := e.Labels.Get(logs.LevelLabel); lv != "" {
			e.Level = levelOf(lv)
			e.Labels = labels.NewBuilder(e.Labels).Del(logs.LevelLabel).Labels()
		}
		last.Process(e)
	}
	if err := c.store.Append(ctx, entries, nil); err != nil {
		c.metrics.dropped.WithLabelValues(DropStoreError).Add(float64(len(entries)))
		return err
	}
	c.forward(entries)
	return nil
}

func levelOf(v string) logs.Level {
	if l, ok := levelWord(v, true); ok {
		return l
	}
	return logs.LevelUnknown
}

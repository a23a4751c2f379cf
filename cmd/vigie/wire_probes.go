package main

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/discovery"
)

// newUptime builds the probe manager of the uptime section and the
// component that runs it. (Branch h13-wire defines a function of the same
// name and shape: when both are merged, keep one.)
func newUptime(cfg *Config, a *app) (*uptime.Manager, component, error) {
	c, err := newUptimeComponent(cfg, a)
	if err != nil {
		return nil, nil, err
	}
	return c.m, c, nil
}

// uptimeComponent runs the uptime probes of the uptime section: their
// samples go through a collector Set of their own (gathered with the
// others, so probe_* reach the TSDB and the built-in rules), their history
// into the state database, and GET /api/v1/probes serves them.
type uptimeComponent struct {
	m   *uptime.Manager
	set *collector.Set
	log *slog.Logger

	mu         sync.Mutex
	dockerHost string // collect.docker.host, for the discovery of Traefik domains
}

func newUptimeComponent(cfg *Config, a *app) (*uptimeComponent, error) {
	c := &uptimeComponent{log: a.log.With("component", "uptime"), dockerHost: cfg.Collect.Docker.Host}
	m, err := uptime.New(uptime.Options{
		Config:     cfg.Uptime,
		Logger:     a.log,
		Registerer: a.reg,
		StateDB:    a.store.State,
		Docker:     c.docker,
		Now:        time.Now,
	})
	if err != nil {
		return nil, err
	}
	c.m = m
	// A Set of its own keeps the probes out of the collect component's
	// rebuilds: the probes run on their own timers, the gather only reads them.
	c.set = collector.NewSet(cfg.collectTimeout(), a.log, m.Collector())
	if err := a.reg.Register(c.set); err != nil {
		return nil, err
	}
	return c, nil
}

// docker is discovery's engine client, on the engine collect.docker watches.
func (c *uptimeComponent) docker() (discovery.Client, error) {
	c.mu.Lock()
	host := c.dockerHost
	c.mu.Unlock()
	if host == "" {
		return client.New(client.FromEnv)
	}
	return client.New(client.WithHost(host))
}

func (*uptimeComponent) Name() string { return "uptime" }

func (c *uptimeComponent) Prepare(cfg *Config) (func(), error) {
	host, timeout := cfg.Collect.Docker.Host, cfg.collectTimeout()
	return applyLater(cfg.Uptime, func(u uptime.Config) error {
		c.mu.Lock()
		c.dockerHost = host
		c.mu.Unlock()
		c.set.SetTimeout(timeout)
		return c.m.ApplyConfig(u)
	}, c.log, c.Name())
}

func (c *uptimeComponent) Run(ctx context.Context) {
	if err := c.m.Run(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("uptime probes stopped", "err", err)
	}
}

func (c *uptimeComponent) Routes() []web.Route { return c.m.Routes() }

func (*uptimeComponent) Close() error { return nil }

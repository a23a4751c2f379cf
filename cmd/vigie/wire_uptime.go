package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/dashboards/status"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/discovery"
)

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

// newUptimeComponent builds the probe manager from cfg.Uptime and registers
// its collector on reg.
func newUptimeComponent(cfg *Config, state *storage.State, reg prometheus.Registerer, logger *slog.Logger) (*uptimeComponent, error) {
	c := &uptimeComponent{log: logger.With("component", "uptime"), dockerHost: cfg.Collect.Docker.Host}
	m, err := uptime.New(uptime.Options{
		Config:     cfg.Uptime,
		Logger:     logger,
		Registerer: reg,
		StateDB:    state,
		Docker:     c.docker,
		Now:        time.Now,
	})
	if err != nil {
		return nil, err
	}
	c.m = m
	// A Set of its own keeps the probes out of the collect component's
	// rebuilds: the probes run on their own timers, the gather only reads them.
	c.set = collector.NewSet(cfg.collectTimeout(), logger, m.Collector())
	if err := reg.Register(c.set); err != nil {
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

// statusComponent is the public status page (status_page): its routes, its
// incidents, and what it does to the rules' alerts on their way to notify.
type statusComponent struct {
	base
	page *status.Page
	log  *slog.Logger
	now  func() time.Time
}

func newStatusComponent(ctx context.Context, cfg *Config, up *uptimeComponent, state *storage.State, reg prometheus.Registerer, logger *slog.Logger, now func() time.Time) (*statusComponent, error) {
	page, err := status.New(ctx, status.Options{
		Config:  cfg.StatusPage,
		History: up.m.History(),
		Probes:  up.m,
		// Heartbeats: not wired yet; components naming one are refused by validation.
		StateDB:     state,
		Logger:      logger,
		Now:         now,
		ExternalURL: cfg.externalURL(),
	})
	if err != nil {
		return nil, fmt.Errorf("status_page: %w", err)
	}
	// vigie_status_incidents_open
	if err := reg.Register(page); err != nil {
		return nil, fmt.Errorf("status_page: %w", err)
	}
	return &statusComponent{page: page, log: logger.With("component", "status_page"), now: now}, nil
}

func (*statusComponent) Name() string { return "status_page" }

func (c *statusComponent) Prepare(cfg *Config) (func(), error) {
	if err := cfg.validateStatusPage(); err != nil {
		return nil, err
	}
	sp := cfg.StatusPage
	return func() {
		if err := c.page.ApplyConfig(sp); err != nil {
			c.log.Error("configuration validated but not applied", "err", err)
		}
	}, nil
}

func (c *statusComponent) Routes() []web.Route { return c.page.Routes() }

// sink runs the rules' alerts past the status page on their way to next:
// a firing alert of components all under scheduled maintenance is dropped
// (as a silence would); every other alert, firing or resolved, may open or
// resolve an incident on the page, then goes on to next. Resolutions always
// go on: notify sends one only for an alert it told.
func (c *statusComponent) sink(next rules.Sink) rules.Sink {
	return rules.SinkFunc(func(ctx context.Context, as []rules.Alert) {
		now := c.now()
		kept := make([]rules.Alert, 0, len(as))
		for _, a := range as {
			lbls, firing := a.Labels.Map(), a.State == "firing"
			if firing && c.page.Muted(lbls, now) {
				continue
			}
			c.page.OnAlert(lbls, firing, a.Annotations.Get("summary"))
			kept = append(kept, a)
		}
		if len(kept) > 0 {
			next.Send(ctx, kept)
		}
	})
}

// validateStatusPage checks status_page and that its components name
// configured probes (discovered ones come and go, so they cannot be named).
func (c *Config) validateStatusPage() error {
	probes := make([]string, 0, len(c.Uptime.Probes))
	for _, p := range c.Uptime.Probes {
		probes = append(probes, p.Name)
	}
	return config.Prefix("status_page", errors.Join(
		c.StatusPage.Validate(),
		c.StatusPage.ValidateRefs(status.Known(probes...), status.Known()),
	))
}

// setupIncident is `vigie incident open|update|resolve|list`: the status
// page package's command line, against a running vigie's API.
func setupIncident(*flag.FlagSet) runFunc {
	return func(_ context.Context, args []string, stdout, stderr io.Writer) error {
		var errOut bytes.Buffer
		switch status.RunIncidentCLI(args, stdout, &errOut) {
		case 0:
			return nil
		case 2:
			_, _ = stderr.Write(errOut.Bytes())
			return errUsage
		}
		return errors.New(strings.TrimSpace(strings.TrimPrefix(errOut.String(), "vigie ")))
	}
}

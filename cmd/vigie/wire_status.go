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
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/dashboards/status"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
)

// statusComponent is the public status page (status_page): its routes, its
// incidents, and what it does to the rules' alerts on their way to notify.
type statusComponent struct {
	base
	page *status.Page
	log  *slog.Logger
	now  func() time.Time
}

// newStatusComponent builds the status page over the probes' history and,
// when hbs is not nil, the heartbeats (and the file checks, which
// *heartbeat.Heartbeats also runs); its metrics go to reg.
func newStatusComponent(ctx context.Context, cfg *Config, up *uptime.Manager, hbs status.Heartbeats, state *storage.State,
	reg prometheus.Registerer, logger *slog.Logger, now func() time.Time) (*statusComponent, error) {
	files, _ := hbs.(status.FileChecks)
	page, err := status.New(ctx, status.Options{
		Config:      cfg.StatusPage,
		History:     up.History(),
		Probes:      up,
		Heartbeats:  hbs,
		Files:       files,
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
// configured probes, heartbeats and file checks (discovered probes come and go, so they
// cannot be named).
func (c *Config) validateStatusPage() error {
	probes := make([]string, 0, len(c.Uptime.Probes))
	for _, p := range c.Uptime.Probes {
		probes = append(probes, p.Name)
	}
	return config.Prefix("status_page", errors.Join(
		c.StatusPage.Validate(),
		c.StatusPage.ValidateRefs(status.Known(probes...), status.Known(heartbeatNames(c)...), status.Known(fileCheckNames(c)...)),
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

// heartbeatNames are the heartbeats status_page components may name.
func heartbeatNames(c *Config) []string {
	names := make([]string, 0, len(c.Uptime.Heartbeat.Heartbeats))
	for _, h := range c.Uptime.Heartbeat.Heartbeats {
		names = append(names, h.Name)
	}
	return names
}

// fileCheckNames are the file checks (uptime.files) status_page
// components may name.
func fileCheckNames(c *Config) []string {
	names := make([]string, 0, len(c.Uptime.Heartbeat.Files))
	for _, f := range c.Uptime.Heartbeat.Files {
		names = append(names, f.Name)
	}
	return names
}

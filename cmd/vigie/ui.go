package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/prometheus/promql"

	"github.com/vigie-dev/vigie/dashboards"
	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/dashboards/status"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/scaling"
	"github.com/vigie-dev/vigie/uptime"
)

// authComponent is access control: the login, logout and token pages, and
// the middleware app.handler wraps around the whole mux.
type authComponent struct {
	base
	a     *auth.Auth
	store *auth.Store
}

// newAuthComponent opens the auth tables, creates the first admin from the
// configuration, and refuses to start when credentials are required and
// none exists.
func newAuthComponent(ctx context.Context, a *app, cfg *Config) (*authComponent, error) {
	st := a.store.State
	s, err := auth.NewStore(ctx, st.DB, nil, st.Migrate)
	if err != nil {
		return nil, err
	}
	if err := auth.Bootstrap(ctx, s, cfg.Auth, cfg.Global.Listen); err != nil {
		return nil, err
	}
	return &authComponent{store: s, a: auth.New(cfg.Auth, auth.Options{
		Store: s, Listen: cfg.Global.Listen, Logger: a.log.With("component", "auth"),
	})}, nil
}

func (*authComponent) Name() string { return "auth" }

// Prepare refuses a reload that would require credentials when none
// exists (the first admin is created at start only).
func (c *authComponent) Prepare(cfg *Config) (func(), error) {
	if cfg.Auth.Required(cfg.Global.Listen) {
		n, err := c.store.Credentials(context.Background())
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("auth.mode %s requires credentials and no user or token exists: run 'vigie user add' first", cfg.Auth.Mode)
		}
	}
	return func() { c.a.ApplyConfig(cfg.Auth) }, nil
}

func (c *authComponent) Routes() []web.Route { return c.a.Routes() }

// warnExposure logs a warning when vigie listens beyond loopback.
func warnExposure(log *slog.Logger, addr net.Addr, cfg *Config) {
	if auth.Loopback(addr.String()) {
		return
	}
	log.Warn("vigie listens beyond loopback: anyone who can reach this address can reach vigie",
		"listen", addr.String(), "auth_required", cfg.Auth.Required(cfg.Global.Listen))
}

// uiComponent serves the web UI's pages and assets.
type uiComponent struct {
	base
	ui *dashboards.UI
}

// newUIComponent builds the UI over the same read interfaces the API uses,
// the probes, the heartbeats (a.heartbeats) and the log store (a.logStore).
func newUIComponent(a *app, engine *promql.Engine, n *notify.Notifier, rm *rules.Manager, sc *scaling.Scaler, up *uptime.Manager) (*uiComponent, error) {
	o := dashboards.Options{
		Query:        dashboards.EngineQuerier{Engine: engine, Queryable: a.store.TSDB},
		Alerting:     n,
		Rules:        func() dashboards.Rules { return rm },
		Targets:      func() dashboards.Targets { return a.scraper },
		Scaling:      func() dashboards.Scaling { return sc },
		Probes:       dashboards.ManagerProbes{M: up},
		StatusProbes: func() map[string]bool { return statusProbes(a.config().StatusPage, up) },
		Logger:       a.log.With("component", "ui"),
	}
	// Typed nils stay out of the interfaces: a nil one leaves its section out.
	if a.heartbeats != nil {
		o.Heartbeats = a.heartbeats
	}
	if a.logStore != nil {
		o.Logs = a.logStore
	}
	ui, err := dashboards.New(o)
	if err != nil {
		return nil, err
	}
	return &uiComponent{ui: ui}, nil
}

// statusProbes mirrors the status page's rules: its components are the
// probes listed in its groups and those with a status block; it is served
// when enabled, by default when it has a component. It returns the probes
// it shows, none when it is not served.
func statusProbes(c status.Config, up *uptime.Manager) map[string]bool {
	shown := map[string]bool{}
	components := 0
	for _, g := range c.Groups {
		for _, comp := range g.Components {
			components++
			if comp.Probe != "" {
				shown[comp.Probe] = true
			}
		}
	}
	for _, p := range up.Probes() {
		if p.Config.Status != nil {
			components++
			shown[p.Config.Name] = true
		}
	}
	if (c.Enabled != nil && !*c.Enabled) || (c.Enabled == nil && components == 0) {
		return nil
	}
	return shown
}

func (*uiComponent) Name() string          { return "ui" }
func (c *uiComponent) Routes() []web.Route { return c.ui.Routes() }

package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"

	"github.com/prometheus/prometheus/promql"

	"github.com/vigie-dev/vigie/dashboards"
	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/scaling"
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

// newUIComponent builds the UI over the same read interfaces the API uses.
func newUIComponent(a *app, engine *promql.Engine, n *notify.Notifier, rm *rules.Manager, sc *scaling.Scaler) (*uiComponent, error) {
	ui, err := dashboards.New(dashboards.Options{
		Query:    dashboards.EngineQuerier{Engine: engine, Queryable: a.store.TSDB},
		Alerting: n,
		Rules:    func() dashboards.Rules { return rm },
		Targets:  func() dashboards.Targets { return a.scraper },
		Scaling:  func() dashboards.Scaling { return sc },
		Logger:   a.log.With("component", "ui"),
	})
	if err != nil {
		return nil, err
	}
	return &uiComponent{ui: ui}, nil
}

func (*uiComponent) Name() string          { return "ui" }
func (c *uiComponent) Routes() []web.Route { return c.ui.Routes() }

package main

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/vigie-dev/vigie/collector/container"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/discovery"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// newUptime builds the probes' manager from the uptime section; discovery
// reads the Docker engine of collect.docker.
func newUptime(cfg *Config, a *app) (*uptime.Manager, component, error) {
	var docker func() (discovery.Client, error)
	if cfg.Collect.Docker.Enabled != container.EnabledFalse {
		host := cfg.Collect.Docker.Host
		docker = func() (discovery.Client, error) { return client.New(client.WithHost(host)) }
	}
	m, err := uptime.New(uptime.Options{
		Config:     cfg.Uptime,
		Logger:     a.log,
		Registerer: a.reg,
		StateDB:    a.store.State,
		Docker:     docker,
	})
	if err != nil {
		return nil, nil, err
	}
	log := a.log.With("component", "uptime")
	return m, funcs{
		name:   "uptime",
		run:    func(ctx context.Context) { _ = m.Run(ctx) },
		routes: m.Routes,
		prepare: func(cfg *Config) (func(), error) {
			uc := cfg.Uptime
			if err := uc.Validate(); err != nil {
				return nil, err
			}
			return func() { logApplyErr(log, m.ApplyConfig(uc)) }, nil
		},
	}, nil
}

// newHeartbeats builds the heartbeats and file checks of uptime.heartbeats
// and uptime.files: ping routes, status metrics (on a.reg, so collected and
// stored) and their history in the state database.
func newHeartbeats(ctx context.Context, cfg *Config, a *app) (*heartbeat.Heartbeats, component, error) {
	hb, err := heartbeat.New(ctx, heartbeat.Options{
		Config:     cfg.Uptime.Heartbeat,
		Logger:     a.log,
		Registerer: a.reg,
		StateDB:    a.store.State,
		// Without global.external_url, ping URLs are built from the Host
		// each listing request reached vigie at: the address jobs can use.
		ExternalURL: strings.TrimRight(cfg.Global.ExternalURL, "/"),
		RootPath:    cfg.Collect.Node.RootPath,
	})
	if err != nil {
		return nil, nil, err
	}
	log := a.log.With("component", "heartbeat")
	return hb, funcs{
		name:   "uptime.heartbeats",
		run:    func(ctx context.Context) { _ = hb.Run(ctx) },
		routes: hb.Routes,
		prepare: func(cfg *Config) (func(), error) {
			hc := cfg.Uptime.Heartbeat
			if err := hc.Validate(); err != nil {
				return nil, err
			}
			return func() {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				logApplyErr(log, hb.ApplyConfig(ctx, hc))
			}, nil
		},
	}, nil
}

// heartbeatAlerts are the built-in alerts about a job's runs.
var heartbeatAlerts = map[string]bool{"JobFailed": true, "HeartbeatMissing": true, "JobRunningTooLong": true}

// heartbeatAnnotator adds the last run's output tail and exit code to the
// alerts about a job, so the notification shows why it failed.
func heartbeatAnnotator(hb *heartbeat.Heartbeats) annotator {
	return func(_ context.Context, labels, ann map[string]string) {
		if !heartbeatAlerts[labels["alertname"]] || labels["name"] == "" {
			return
		}
		tail, code, ok := hb.LastOutput(labels["name"])
		if !ok {
			return
		}
		ann["exit_code"] = strconv.Itoa(code)
		if tail != "" {
			ann["output"] = tail
		}
	}
}

package main

// Agent mode: the same collectors, Set, Loop and Ingester as a server, but
// the Ingester and the scrapes append to Prometheus's agent WAL
// (tsdb/agent) and remote-write queues (storage/remote) send it on, as
// `prometheus --agent` does. No TSDB, rules, notifications or query API:
// the agent serves /metrics, /-/healthy, /-/ready and /-/reload.

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/agent"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/collector/scrape"
	"github.com/vigie-dev/vigie/internal/tracing"
)

// setupAgent is `vigie agent`: `vigie run` with mode: agent.
func setupAgent(fs *flag.FlagSet) runFunc { return setupRunAs(fs, modeAgent) }

// agentOptions are tsdb/agent's options from the agent section.
func (c AgentConfig) agentOptions() *agent.Options {
	o := agent.DefaultOptions()
	o.MinWALTime = c.WALMinAge.D().Milliseconds()
	o.MaxWALTime = c.WALMaxAge.D().Milliseconds()
	o.TruncateFrequency = c.WALTruncateFrequency.D()
	// One node's few thousand series: a small series map, as storage does
	// for the TSDB.
	o.StripeSize = 1024
	return o
}

// buildAgent wires an agent into a, whose registries are made: the WAL and
// remote storage, then collection into them, then vigie's own endpoints.
func (a *app) buildAgent(cfg *Config, tp *tracing.Provider, tracingComp component) (*app, error) {
	logger := a.log
	dir := cfg.Global.DataDir
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	// The queues ask for the WAL's start time; the agent's is always "now".
	startTime := func() (int64, error) { return int64(model.Latest), nil }
	rs := newRemoteStorage(logger, a.internal, startTime, dir)
	db, err := agent.Open(logger.With("component", "wal"), a.internal, rs, dir, cfg.Agent.agentOptions())
	if err != nil {
		_ = rs.Close()
		return nil, fmt.Errorf("open agent WAL in %s: %w", dir, err)
	}
	db.SetWriteNotified(rs)
	out := promstorage.NewFanout(logger, db, rs)

	// vigie_agent_info says "this node's agent is sending": HostDown on
	// the central vigie fires when it stops (rules/builtin/agents.yml).
	a.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigie_agent_info", Help: "A metric with a constant '1' value sent by every vigie agent.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	}, func() float64 { return 1 }))

	set := collector.NewSet(cfg.collectTimeout(), logger)
	a.reg.MustRegister(set)
	ingester := collector.NewIngester(out, labels.FromStrings("job", "vigie", "instance", cfg.Global.Hostname))
	a.snapshot = collector.NewSnapshot(a.reg)
	loop := collector.NewLoop(prometheus.Gatherers{a.snapshot, a.internal}, ingester, cfg.Collect.Interval.D(), logger.With("component", "collect"), a.reg)
	loop.SetTracer(tp.Tracer("vigie/collect"))
	a.scraper, err = scrape.New(out, logger, a.internal)
	if err != nil {
		_ = rs.Close()
		_ = db.Close()
		return nil, err
	}
	a.loop = &loopComponent{loop: loop, set: set, ready: a.ready}
	a.components = append([]component{
		tracingComp,
		// Closed last: the queues stop (and flush) before the WAL closes.
		&closerComponent{name: "wal", close: db.Close},
		a.loop,
		newCollectorsComponent(set, logger),
		&scrapeComponent{s: a.scraper, log: logger},
		&remoteComponent{rs: rs, agent: true, log: logger.With("component", "remote")},
		&selfComponent{a: a},
		&trimComponent{ready: a.ready, after: 30 * time.Second, log: logger},
	}, a.opts.extra...)
	if err := a.apply(cfg); err != nil {
		a.closeComponents()
		return nil, err
	}
	return a, nil
}

// closerComponent only closes something at shutdown.
type closerComponent struct {
	base
	name  string
	close func() error
}

func (c *closerComponent) Name() string { return c.name }
func (c *closerComponent) Close() error { return c.close() }

package main

// Remote write out (remote_write:, in both modes) and the push receivers
// (POST /api/v1/write, POST /otlp/v1/metrics, in server mode). The queues
// are Prometheus's own (storage/remote): they read the WAL of whatever
// vigie appends to (the TSDB's, or the agent's), so a receiver that is
// down delays samples instead of losing them, up to the WAL's age.

import (
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/vigie-dev/vigie/api"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/web"
)

// Modes vigie runs in (the top-level mode: key, or `vigie agent`).
const (
	modeServer = "server"
	modeAgent  = "agent"
)

// remoteFlushDeadline bounds how long shutdown waits for the queues to
// send what they hold (Prometheus's --storage.remote.flush-deadline).
const remoteFlushDeadline = time.Minute

// RemoteWriteConfigs is the top-level remote_write list, in Prometheus's
// shape: each entry's own UnmarshalYAML applies Prometheus's defaults
// (queue_config, metadata_config) and checks url, auth and headers.
type RemoteWriteConfigs []*promconfig.RemoteWriteConfig

// AgentConfig is the agent section: how long samples wait in the agent's
// WAL for a receiver (tsdb/agent's options).
type AgentConfig struct {
	// WALMinAge: samples younger than this are never dropped (default 5m).
	WALMinAge config.Duration `yaml:"wal_min_age"`
	// WALMaxAge: samples older than this are dropped at the next
	// truncation even if no receiver took them (default 4h).
	WALMaxAge config.Duration `yaml:"wal_max_age"`
	// WALTruncateFrequency is how often the WAL is truncated (default 2h).
	WALTruncateFrequency config.Duration `yaml:"wal_truncate_frequency"`
}

// DefaultAgentConfig is Prometheus's agent defaults.
func DefaultAgentConfig() AgentConfig {
	return AgentConfig{
		WALMinAge:            config.Duration(5 * time.Minute),
		WALMaxAge:            config.Duration(4 * time.Hour),
		WALTruncateFrequency: config.Duration(2 * time.Hour),
	}
}

// Validate checks the ages.
func (c AgentConfig) Validate() error {
	var errs []error
	if c.WALMinAge <= 0 {
		errs = append(errs, config.Errorf("wal_min_age", "must be positive, got %s", c.WALMinAge))
	}
	if c.WALMaxAge < c.WALMinAge {
		errs = append(errs, config.Errorf("wal_max_age", "must be at least wal_min_age (%s), got %s", c.WALMinAge, c.WALMaxAge))
	}
	if c.WALTruncateFrequency <= 0 {
		errs = append(errs, config.Errorf("wal_truncate_frequency", "must be positive, got %s", c.WALTruncateFrequency))
	}
	return errors.Join(errs...)
}

// validateRemote checks mode, remote_write, global.external_labels and
// agent: the sections this file adds to the configuration.
func (c *Config) validateRemote() error {
	var errs []error
	switch c.Mode {
	case "", modeServer:
	case modeAgent:
		if len(c.RemoteWrite) == 0 {
			errs = append(errs, config.Errorf("remote_write", "agent mode needs at least one remote_write endpoint"))
		}
	default:
		errs = append(errs, config.Errorf("mode", "must be server or agent, got %q", c.Mode))
	}
	for name := range c.Global.ExternalLabels {
		if !model.UTF8Validation.IsValidLabelName(name) || name == model.MetricNameLabel {
			errs = append(errs, config.Errorf("global.external_labels."+name, "invalid label name %q", name))
		}
	}
	names := map[string]bool{}
	for i, rw := range c.RemoteWrite {
		path := fmt.Sprintf("remote_write[%d]", i)
		if rw == nil {
			errs = append(errs, config.Errorf(path, "is empty"))
			continue
		}
		// Validate also sets each write_relabel_config's name scheme,
		// which relabelling needs.
		if err := rw.Validate(model.UTF8Validation); err != nil {
			errs = append(errs, config.Errorf(path, "%v", err))
		}
		if rw.Name != "" {
			if names[rw.Name] {
				errs = append(errs, config.Errorf(path+".name", "duplicate remote_write name %q", rw.Name))
			}
			names[rw.Name] = true
		}
	}
	errs = append(errs, config.Prefix("agent", c.Agent.Validate()))
	return errors.Join(errs...)
}

// agentQueueConfig is the queue of an agent's remote_write that leaves
// queue_config at Prometheus's defaults. One node sends ~1,000 samples per
// collection: batches of 500 hold them, while Prometheus's defaults (2,000
// per send, 10,000 queued per shard), sized for a server scraping
// thousands of targets, keep ~1 MiB of buffers resident for nothing. Up to
// 50 shards of 500 still send 250,000 samples/s at 100 ms per request.
func agentQueueConfig() promconfig.QueueConfig {
	q := promconfig.DefaultQueueConfig
	q.Capacity = 2500
	q.MaxSamplesPerSend = 500
	return q
}

// applyModeDefaults gives an agent's remote_write entries whose
// queue_config is Prometheus's default the agent's queue; any queue_config
// key set to another value keeps the user's queue as written.
func (c *Config) applyModeDefaults() {
	if !c.isAgent() {
		return
	}
	for _, rw := range c.RemoteWrite {
		if rw != nil && rw.QueueConfig == promconfig.DefaultQueueConfig {
			rw.QueueConfig = agentQueueConfig()
		}
	}
}

// isAgent reports whether this configuration runs vigie as an agent.
func (c *Config) isAgent() bool { return c.Mode == modeAgent }

// externalLabels are global.external_labels, sorted.
func (c *Config) externalLabels() labels.Labels {
	keys := make([]string, 0, len(c.Global.ExternalLabels))
	for k := range c.Global.ExternalLabels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := labels.NewScratchBuilder(len(keys))
	for _, k := range keys {
		b.Add(k, c.Global.ExternalLabels[k])
	}
	return b.Labels()
}

// promConfig is the part of Prometheus's configuration remote.Storage reads.
func (c *Config) promConfig() *promconfig.Config {
	pc := &promconfig.Config{
		GlobalConfig:       promconfig.DefaultGlobalConfig,
		RemoteWriteConfigs: c.RemoteWrite,
	}
	pc.GlobalConfig.ExternalLabels = c.externalLabels()
	return pc
}

// remoteComponent owns the remote-write queues: remote_write and
// global.external_labels are applied on every (re)load.
type remoteComponent struct {
	base
	rs    *remote.Storage
	agent bool // which mode it was built for: the mode changes at the next start only
	log   *slog.Logger
}

// newRemoteStorage builds Prometheus's remote storage over walDir (the
// directory whose wal/ subdirectory the queues read).
func newRemoteStorage(logger *slog.Logger, reg prometheus.Registerer, startTime func() (int64, error), walDir string) *remote.Storage {
	return remote.NewStorage(logger.With("component", "remote"), reg, startTime, walDir, remoteFlushDeadline, nil, false)
}

func (*remoteComponent) Name() string { return "remote_write" }

func (c *remoteComponent) Prepare(cfg *Config) (func(), error) {
	if cfg.isAgent() != c.agent {
		return nil, config.Errorf("mode", "changes take effect at the next start only")
	}
	pc := cfg.promConfig()
	return func() {
		// Validated above; what remains (a duplicate queue) keeps the
		// running queues, as Prometheus does.
		if err := c.rs.ApplyConfig(pc); err != nil {
			c.log.Error("remote_write configuration validated but not applied", "err", err)
		}
	}, nil
}

func (c *remoteComponent) Close() error { return c.rs.Close() }

// receiverComponent serves the push receivers of a central vigie.
type receiverComponent struct {
	base
	routes []web.Route
}

func (receiverComponent) Name() string          { return "receive" }
func (c receiverComponent) Routes() []web.Route { return c.routes }

// newReceiverComponent mounts api.ReceiverRoutes over the TSDB.
func (a *app) newReceiverComponent(logger *slog.Logger) receiverComponent {
	return receiverComponent{routes: api.ReceiverRoutes(api.ReceiverOptions{
		Appendable:   a.store.TSDB,
		AppendableV2: a.store.TSDB,
		Logger:       logger,
		Registerer:   a.internal,
	})}
}

// remoteOut builds the remote-write queues of a server: they read the
// TSDB's WAL, woken by each write, and the returned storage is what
// collectors, scrapes and rules append to: the TSDB, with remote storage
// beside it tracking the newest timestamp as Prometheus's fanout does.
func (a *app) remoteOut(logger *slog.Logger) (*remoteComponent, promstorage.Storage) {
	rs := newRemoteStorage(logger, a.internal, a.store.TSDB.StartTime, filepath.Join(a.store.Dir(), "tsdb"))
	a.store.TSDB.SetWriteNotified(rs)
	return &remoteComponent{rs: rs, log: logger.With("component", "remote")},
		promstorage.NewFanout(logger, a.store.TSDB, rs)
}

package main

import (
	"strings"
	"testing"
	"time"
)

func TestRemoteWriteConfigDecodesWithPrometheusDefaults(t *testing.T) {
	p := writeConfig(t, `mode: agent
global:
  hostname: node-1
  external_labels: {cluster: prod}
remote_write:
  - url: http://127.0.0.1:9753/api/v1/write
    name: central
    basic_auth: {username: agent, password: s3cr3t}
    queue_config: {max_samples_per_send: 500}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: go_.*
        action: drop
agent:
  wal_max_age: 1h
`)
	cfg, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	rw := cfg.RemoteWrite[0]
	if rw.URL.String() != "http://127.0.0.1:9753/api/v1/write" || rw.Name != "central" {
		t.Fatalf("remote_write = %+v", rw)
	}
	if rw.QueueConfig.MaxSamplesPerSend != 500 || rw.QueueConfig.Capacity != 10000 {
		t.Fatalf("queue_config = %+v, want 500 per send and Prometheus's default capacity", rw.QueueConfig)
	}
	if rw.HTTPClientConfig.BasicAuth.Password != "s3cr3t" {
		t.Fatal("basic_auth password not decoded")
	}
	if rw.WriteRelabelConfigs[0].NameValidationScheme.String() == "" {
		t.Fatal("relabel name validation scheme not set")
	}
	if !cfg.isAgent() || cfg.Agent.WALMaxAge.D() != time.Hour || cfg.Agent.WALMinAge.D() != 5*time.Minute {
		t.Fatalf("agent = %+v", cfg.Agent)
	}
	if got := cfg.externalLabels().String(); got != `{cluster="prod"}` {
		t.Fatalf("external labels = %s", got)
	}
	if strings.Contains(cfg.redacted(), "s3cr3t") {
		t.Fatal("redacted configuration shows the remote_write password")
	}
}

func TestRemoteWriteConfigErrorsNameFileLine(t *testing.T) {
	for _, tc := range []struct{ name, body, want string }{
		{"unknown key", "remote_write:\n  - url: http://a/w\n    urll: x\n", `:3:5: remote_write[0].urll: unknown field "urll"`},
		{"missing url", "remote_write:\n  - name: a\n", `:2:5: remote_write[0]: url for remote_write is empty`},
		{"agent without remote", "mode: agent\n", `: remote_write: agent mode needs at least one remote_write endpoint`},
		{"bad mode", "mode: satellite\n", `:1:7: mode: must be server or agent, got "satellite"`},
		{"bad relabel", "remote_write:\n  - url: http://a/w\n    write_relabel_configs:\n      - action: explode\n", `remote_write[0]`},
		{"ages", "agent:\n  wal_min_age: 2h\n  wal_max_age: 1h\n", `:3:16: agent.wal_max_age: must be at least wal_min_age (2h), got 1h`},
		{"duplicate name", "remote_write:\n  - url: http://a/w\n    name: x\n  - url: http://b/w\n    name: x\n", `:5:11: remote_write[1].name: duplicate remote_write name "x"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			_, err := loadConfig(p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

// TestAgentQueueDefaults: an agent's remote_write without queue_config gets
// the agent's smaller queue; one that sets any queue key keeps Prometheus's
// defaults for the rest, and a server always has Prometheus's defaults.
func TestAgentQueueDefaults(t *testing.T) {
	const rw = "remote_write:\n  - url: http://127.0.0.1:9753/api/v1/write\n"
	for _, tc := range []struct {
		name, mode, extra string
		capacity, perSend int
	}{
		{"agent, no queue_config", "agent", "", 2500, 500},
		{"agent, its own queue_config", "agent", "    queue_config: {capacity: 8000}\n", 8000, 2000},
		{"server", "", "", 10000, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := runFlags{configFile: writeConfig(t, rw+tc.extra), mode: tc.mode}
			cfg, err := f.load()
			if err != nil {
				t.Fatal(err)
			}
			q := cfg.RemoteWrite[0].QueueConfig
			if q.Capacity != tc.capacity || q.MaxSamplesPerSend != tc.perSend || q.MaxShards != 50 {
				t.Fatalf("queue_config = %+v, want capacity %d, %d per send, 50 shards", q, tc.capacity, tc.perSend)
			}
		})
	}
}

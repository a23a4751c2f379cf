package container

import (
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/vigie-dev/vigie/config"
)

func TestConfigDecode(t *testing.T) {
	var cfg Config = DefaultConfig()
	err := config.Decode("vigie.yml", []byte(`
enabled: true
host: tcp://127.0.0.1:2375
timeout: 5s
concurrency: 4
include_names: ["app-.*"]
exclude_labels: ["vigie.exclude=true", "com.example.skip"]
expected_replicas:
  shop/web: 3
`), &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Enabled != EnabledTrue || cfg.Host != "tcp://127.0.0.1:2375" || cfg.Timeout.D() != 5*time.Second ||
		cfg.Concurrency != 4 || cfg.ExpectedReplicas["shop/web"] != 3 {
		t.Errorf("decoded %+v", cfg)
	}
	for _, in := range []string{"auto", "false", "true"} {
		cfg := DefaultConfig()
		if err := config.Decode("vigie.yml", []byte("enabled: "+in), &cfg); err != nil || string(cfg.Enabled) != in {
			t.Errorf("enabled: %s → %q, %v", in, cfg.Enabled, err)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"enabled: maybe", []string{`vigie.yml:1:10: enabled: invalid value "maybe": expected auto, true or false`}},
		{"host: /var/run/docker.sock", []string{`vigie.yml:1:7: host: invalid address "/var/run/docker.sock"`}},
		{"concurrency: 0\ntimeout: 0s", []string{"vigie.yml:1:14: concurrency: must be at least 1", "vigie.yml:2:10: timeout: must be positive"}},
		{"include_names: [ok, '(']", []string{`vigie.yml:1:21: include_names[1]: invalid regular expression "("`}},
		{"exclude_labels: ['=x']", []string{`exclude_labels[0]: invalid label selector "=x"`}},
		{"expected_replicas: {web: 2, a/b: -1}", []string{
			`vigie.yml:1:26: expected_replicas.web: invalid key "web": expected project/service`,
			`expected_replicas.a/b: must not be negative`}},
		{"hosts: x", []string{`vigie.yml:1:1: hosts: unknown field "hosts"`}},
	} {
		cfg := DefaultConfig()
		err := config.Decode("vigie.yml", []byte(tc.yaml), &cfg)
		if err == nil {
			t.Errorf("%q: no error", tc.yaml)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error\n%v\nlacks %q", tc.yaml, err, w)
			}
		}
	}
	if err := (&Config{}).Validate(); err == nil {
		t.Error("zero Config validates")
	}
	d := DefaultConfig()
	if err := d.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

func TestFilter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.IncludeNames = []string{"app-.*", "db"}
	cfg.IncludeLabels = []string{"monitor"}
	cfg.ExcludeNames = []string{".*-tmp"}
	cfg.ExcludeLabels = []string{"vigie.exclude=true"}
	f, err := newFilter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"app-web", nil, true},
		{"db", nil, true},
		{"db-replica", nil, false}, // anchored
		{"mydb", nil, false},
		{"other", map[string]string{"monitor": ""}, true},
		{"app-tmp", nil, false},
		{"app-web", map[string]string{"vigie.exclude": "true"}, false},
		{"app-web", map[string]string{"vigie.exclude": "false"}, true},
	} {
		if got := f.keep(tc.name, tc.labels); got != tc.want {
			t.Errorf("keep(%q, %v) = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
	all, _ := newFilter(DefaultConfig())
	if !all.keep("anything", nil) {
		t.Error("no rules must keep every container")
	}
}

func TestWorkingSet(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    container.MemoryStats
		want uint64
	}{
		{"cgroup v1", container.MemoryStats{Usage: 100, Stats: map[string]uint64{"total_inactive_file": 30, "inactive_file": 5}}, 70},
		{"cgroup v2", container.MemoryStats{Usage: 100, Stats: map[string]uint64{"inactive_file": 40}}, 60},
		{"inactive above usage", container.MemoryStats{Usage: 10, Stats: map[string]uint64{"total_inactive_file": 30}}, 0},
		{"no stats", container.MemoryStats{Usage: 10}, 10},
	} {
		if got := workingSet(tc.m); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestLabelValues(t *testing.T) {
	got := labelValues("abc", "/web", "nginx:1", map[string]string{
		"com.docker.swarm.service.name": "shop_web",
		"com.docker.swarm.task.name":    "shop_web.3.k2j3h4",
		"com.docker.stack.namespace":    "shop",
	})
	want := []string{"web", "abc", "nginx:1", "", "", "shop_web", "shop", "3"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %q, want %q", got, want)
	}
	// Global services name tasks service.nodeid.taskid: no slot.
	got = labelValues("abc", "x", "i", map[string]string{
		"com.docker.swarm.service.name": "mon",
		"com.docker.swarm.task.name":    "mon.ny4ahl8zffx2.k2j3h4",
	})
	if got[7] != "" {
		t.Errorf("slot of a global task = %q", got[7])
	}
}

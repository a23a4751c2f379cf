package systemd

import (
	"bytes"
	"context"
	"errors"
	"github.com/vigie-dev/vigie/internal/promtooltest"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
)

// fakeManager answers as systemd 252 on a VPS would, from tables. It stands
// in for D-Bus only in the mapping test: this container has no systemd.
type fakeManager struct {
	units    []Unit
	props    map[string]any // "unit/Interface/Name"
	manager  map[string]string
	closed   bool
	listFail error
}

func (f *fakeManager) ListUnits(context.Context) ([]Unit, error) { return f.units, f.listFail }
func (f *fakeManager) UnitTypeProperty(_ context.Context, unit, iface, name string) (any, error) {
	v, ok := f.props[unit+"/"+iface+"/"+name]
	if !ok {
		return nil, errors.New("no such property")
	}
	return v, nil
}
func (f *fakeManager) UnitProperty(_ context.Context, unit, name string) (any, error) {
	return f.UnitTypeProperty(context.Background(), unit, "Unit", name)
}
func (f *fakeManager) ManagerProperty(_ context.Context, name string) (string, error) {
	v, ok := f.manager[name]
	if !ok {
		return "", errors.New("no such property")
	}
	return v, nil
}
func (f *fakeManager) Close() { f.closed = true }

func vps() *fakeManager {
	started := uint64(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).UnixMicro())
	return &fakeManager{
		units: []Unit{
			{"docker.service", "loaded", "active"},
			{"postgresql@15-main.service", "loaded", "failed"},
			{"ssh.socket", "loaded", "active"},
			{"logrotate.timer", "loaded", "active"},
			{"var-lib-docker.mount", "loaded", "active"},
			{"ghost.service", "not-found", "inactive"},
		},
		props: map[string]any{
			"docker.service/Service/Type":                          "notify",
			"docker.service/Service/NRestarts":                     uint32(2),
			"docker.service/Service/TasksCurrent":                  uint64(31),
			"docker.service/Service/TasksMax":                      uint64(math.MaxUint64),
			"docker.service/Unit/ActiveEnterTimestamp":             started,
			"postgresql@15-main.service/Service/Type":              "forking",
			"postgresql@15-main.service/Service/NRestarts":         uint32(5),
			"postgresql@15-main.service/Service/TasksCurrent":      uint64(0),
			"postgresql@15-main.service/Service/TasksMax":          uint64(4915),
			"ssh.socket/Socket/NAccepted":                          uint32(120),
			"ssh.socket/Socket/NConnections":                       uint32(1),
			"ssh.socket/Socket/NRefused":                           uint32(3),
			"ssh.socket/Unit/ActiveEnterTimestamp":                 started,
			"logrotate.timer/Timer/LastTriggerUSec":                started,
			"logrotate.timer/Unit/ActiveEnterTimestamp":            started,
			"var-lib-docker.mount/Mount/Type":                      "ext4",
			"var-lib-docker.mount/Unit/ActiveEnterTimestamp":       started,
			"postgresql@15-main.service/Unit/ActiveEnterTimestamp": uint64(0),
		},
		manager: map[string]string{"Version": "252.38-1~deb12u1", "SystemState": "degraded", "Virtualization": "kvm"},
	}
}

type gathered struct {
	mfs map[string]*dto.MetricFamily
}

func gatherSet(t *testing.T, c collector.Collector) gathered {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(10*time.Second, slog.New(slog.DiscardHandler), c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	g := gathered{mfs: map[string]*dto.MetricFamily{}}
	for _, mf := range mfs {
		g.mfs[mf.GetName()] = mf
	}
	return g
}

// value of the series of name whose labels include kv.
func (g gathered) value(name string, kv ...string) (float64, bool) {
	for _, m := range g.mfs[name].GetMetric() {
		have := map[string]string{}
		for _, lp := range m.GetLabel() {
			have[lp.GetName()] = lp.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(kv); i += 2 {
			ok = ok && have[kv[i]] == kv[i+1]
		}
		if ok {
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

// The golden list: node_exporter's node_systemd_* families, types and labels.
var golden = []string{
	"node_systemd_service_restart_total counter name",
	"node_systemd_socket_accepted_connections_total counter name",
	"node_systemd_socket_current_connections gauge name",
	"node_systemd_socket_refused_connections_total counter name",
	"node_systemd_system_running gauge",
	"node_systemd_timer_last_trigger_seconds gauge name",
	"node_systemd_unit_start_time_seconds gauge name",
	"node_systemd_unit_state gauge name,state,type",
	"node_systemd_unit_tasks_current gauge name",
	"node_systemd_unit_tasks_max gauge name",
	"node_systemd_units gauge state",
	"node_systemd_version gauge version",
	"node_systemd_virtualization_info gauge virtualization_type",
	"vigie_collector_duration_seconds gauge collector",
	"vigie_collector_success gauge collector",
}

func TestMapping(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.TaskMetrics = true, true
	fake := vps()
	c, err := New(cfg, Options{Dial: func(context.Context, bool) (Manager, error) { return fake, nil }})
	if err != nil {
		t.Fatal(err)
	}
	g := gatherSet(t, c)
	var got []string
	for name, mf := range g.mfs {
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		sort.Strings(labels)
		got = append(got, strings.TrimSpace(name+" "+strings.ToLower(mf.GetType().String())+" "+strings.Join(labels, ",")))
	}
	sort.Strings(got)
	if strings.Join(got, "\n") != strings.Join(golden, "\n") {
		t.Errorf("families:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(golden, "\n"))
	}
	for _, tc := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"vigie_collector_success", []string{"collector", "systemd"}, 1},
		{"node_systemd_unit_state", []string{"name", "postgresql@15-main.service", "state", "failed", "type", "forking"}, 1},
		{"node_systemd_unit_state", []string{"name", "postgresql@15-main.service", "state", "active"}, 0},
		{"node_systemd_unit_state", []string{"name", "docker.service", "state", "active", "type", "notify"}, 1},
		{"node_systemd_unit_state", []string{"name", "ssh.socket", "state", "active", "type", ""}, 1},
		{"node_systemd_service_restart_total", []string{"name", "postgresql@15-main.service"}, 5},
		{"node_systemd_unit_start_time_seconds", []string{"name", "docker.service"}, float64(time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC).Unix())},
		{"node_systemd_unit_start_time_seconds", []string{"name", "postgresql@15-main.service"}, 0},
		{"node_systemd_unit_tasks_max", []string{"name", "docker.service"}, math.Inf(1)},
		{"node_systemd_socket_refused_connections_total", []string{"name", "ssh.socket"}, 3},
		{"node_systemd_units", []string{"state", "active"}, 4},
		{"node_systemd_units", []string{"state", "failed"}, 1},
		{"node_systemd_units", []string{"state", "inactive"}, 1},
		{"node_systemd_system_running", nil, 0},
		{"node_systemd_version", []string{"version", "252.38-1~deb12u1"}, 252.38},
		{"node_systemd_virtualization_info", []string{"virtualization_type", "kvm"}, 1},
	} {
		if v, ok := g.value(tc.name, tc.kv...); !ok || v != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.kv, v, ok, tc.want)
		}
	}
	for _, excluded := range []string{"var-lib-docker.mount", "ghost.service"} {
		if _, ok := g.value("node_systemd_unit_state", "name", excluded); ok {
			t.Errorf("%s reported (excluded by default or not loaded)", excluded)
		}
	}
}

// promtool's linter finds nothing in node_exporter's systemd families.
func TestPromtool(t *testing.T) {
	fake := vps()
	cfg := DefaultConfig()
	cfg.Enabled, cfg.TaskMetrics = true, true
	c, err := New(cfg, Options{Dial: func(context.Context, bool) (Manager, error) { return fake, nil }})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(10*time.Second, slog.New(slog.DiscardHandler), c))
	if lint := promtooltest.Lint(t, reg); len(lint) > 0 {
		t.Errorf("promtool check metrics:\n%s", strings.Join(lint, "\n"))
	}
}

func TestUnitFilter(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Enabled, cfg.UnitInclude = true, `(docker|postgresql@.+)\.service`
	fake := vps()
	c, err := New(cfg, Options{Dial: func(context.Context, bool) (Manager, error) { return fake, nil }})
	if err != nil {
		t.Fatal(err)
	}
	g := gatherSet(t, c)
	names := map[string]bool{}
	for _, m := range g.mfs["node_systemd_unit_state"].GetMetric() {
		for _, lp := range m.GetLabel() {
			if lp.GetName() == "name" {
				names[lp.GetValue()] = true
			}
		}
	}
	if len(names) != 2 || !names["docker.service"] || !names["postgresql@15-main.service"] {
		t.Errorf("units reported: %v", names)
	}
	// The summary counts every unit, filtered or not, as node_exporter's does.
	if v, _ := g.value("node_systemd_units", "state", "active"); v != 4 {
		t.Errorf("units active = %v", v)
	}
}

// A lost connection fails the gather and is dialled again at the next.
func TestReconnect(t *testing.T) {
	var mu sync.Mutex
	dials := 0
	fake := vps()
	cfg := DefaultConfig()
	cfg.Enabled = true
	c, err := New(cfg, Options{Dial: func(context.Context, bool) (Manager, error) {
		mu.Lock()
		defer mu.Unlock()
		dials++
		return fake, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	fake.listFail = errors.New("connection reset")
	if v, _ := gatherSet(t, c).value("vigie_collector_success", "collector", "systemd"); v != 0 {
		t.Errorf("success = %v with ListUnits failing", v)
	}
	if !fake.closed {
		t.Errorf("broken connection not closed")
	}
	fake.listFail = nil
	if v, _ := gatherSet(t, c).value("vigie_collector_success", "collector", "systemd"); v != 1 {
		t.Errorf("success = %v after recovery", v)
	}
	if dials != 2 {
		t.Errorf("%d dials, want 2", dials)
	}
}

// On this host, through the real D-Bus client: with systemd the gather
// succeeds; without (this container) it fails with a clear error, and the
// Set reports success 0 without crashing.
func TestRealDBus(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	cfg := DefaultConfig()
	cfg.Enabled = true
	cfg.Timeout = config.Duration(5 * time.Second)
	c, err := New(cfg, Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	err = c.Update(t.Context(), make(chan prometheus.Metric, 10000))
	g := gatherSet(t, c)
	v, ok := g.value("vigie_collector_success", "collector", "systemd")
	if _, statErr := os.Stat("/run/systemd/system"); statErr == nil {
		if err != nil || v != 1 {
			t.Fatalf("systemd host: update error %v, success %v", err, v)
		}
		if _, ok := g.value("node_systemd_units", "state", "active"); !ok {
			t.Errorf("no node_systemd_units")
		}
		return
	}
	if err == nil || !strings.Contains(err.Error(), "connect to systemd over D-Bus") {
		t.Errorf("without systemd: error %v, want a D-Bus connection error", err)
	}
	if !ok || v != 0 {
		t.Errorf("without systemd: success = %v (present %v), want 0", v, ok)
	}
	t.Logf("without systemd: %v", err)
}

// Switched off (a reload that disables it): nothing, and no failure.
func TestDisabled(t *testing.T) {
	c, err := New(DefaultConfig(), Options{Dial: func(context.Context, bool) (Manager, error) {
		t.Error("dialled while disabled")
		return nil, errors.New("no")
	}})
	if err != nil {
		t.Fatal(err)
	}
	g := gatherSet(t, c)
	if _, ok := g.value("vigie_collector_success", "collector", "systemd"); ok {
		t.Errorf("a disabled collector reports success")
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]float64{"252.38-1~deb12u1": 252.38, "249": 249, "systemd 255 (255.4-1ubuntu8)": 255, "v12": 0} {
		got, ok := ParseVersion(in)
		if (want == 0 && ok) || got != want {
			t.Errorf("ParseVersion(%q) = %v, %v; want %v", in, got, ok, want)
		}
	}
}

func TestConfig(t *testing.T) {
	var cfg Config = DefaultConfig()
	if err := config.Decode("vigie.yml", []byte("enabled: true\nunit_include: '(docker|postgresql.*)\\.service'\n"), &cfg); err != nil {
		t.Fatal(err)
	}
	if !cfg.Enabled || cfg.UnitExclude != DefaultUnitExclude || !cfg.RestartsMetrics || cfg.Timeout.D() != defaultTimeout {
		t.Errorf("defaults lost: %+v", cfg)
	}
	bad := DefaultConfig()
	bad.UnitInclude, bad.UnitExclude, bad.Timeout = "(", "[", 0
	err := bad.Validate()
	for _, want := range []string{"unit_include", "unit_exclude", "timeout"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want an error on %s", err, want)
		}
	}
}

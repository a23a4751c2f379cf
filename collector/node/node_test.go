package node

import (
	"bytes"
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
)

var update = flag.Bool("update", false, "rewrite testdata/fixture.prom")

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// gather runs c through a collector.Set in a registry, as cmd/vigie does.
func gather(t testing.TB, c *Collector) map[string]*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(10*time.Second, testLogger(t), c))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

func labelNames(m *dto.Metric) []string {
	var out []string
	for _, lp := range m.GetLabel() {
		out = append(out, lp.GetName())
	}
	return out
}

func label(m *dto.Metric, name string) string {
	for _, lp := range m.GetLabel() {
		if lp.GetName() == name {
			return lp.GetValue()
		}
	}
	return ""
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	default:
		return m.GetUntyped().GetValue()
	}
}

// find returns the value of the family's series whose labels include want.
func find(t testing.TB, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		for k, v := range want {
			if label(m, k) != v {
				continue next
			}
		}
		return value(m), true
	}
	return 0, false
}

// TestGatherLive gathers this machine and checks node_exporter's families,
// types, labels, and that the values make sense.
func TestGatherLive(t *testing.T) {
	c, err := New(DefaultConfig(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	fams := gather(t, c)

	families := []struct {
		name   string
		typ    dto.MetricType
		labels []string // sorted, as exposed
	}{
		{"node_cpu_seconds_total", dto.MetricType_COUNTER, []string{"cpu", "mode"}},
		{"node_cpu_guest_seconds_total", dto.MetricType_COUNTER, []string{"cpu", "mode"}},
		{"node_memory_MemTotal_bytes", dto.MetricType_GAUGE, nil},
		{"node_memory_MemAvailable_bytes", dto.MetricType_GAUGE, nil},
		{"node_memory_SwapTotal_bytes", dto.MetricType_GAUGE, nil},
		{"node_memory_SwapFree_bytes", dto.MetricType_GAUGE, nil},
		{"node_memory_HugePages_Total", dto.MetricType_GAUGE, nil},
		{"node_load1", dto.MetricType_GAUGE, nil},
		{"node_load5", dto.MetricType_GAUGE, nil},
		{"node_load15", dto.MetricType_GAUGE, nil},
		{"node_filesystem_avail_bytes", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_filesystem_size_bytes", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_filesystem_free_bytes", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_filesystem_files", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_filesystem_files_free", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_filesystem_readonly", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_filesystem_device_error", dto.MetricType_GAUGE, []string{"device", "fstype", "mountpoint"}},
		{"node_disk_read_bytes_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_disk_written_bytes_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_disk_io_time_seconds_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_disk_io_now", dto.MetricType_GAUGE, []string{"device"}},
		{"node_network_receive_bytes_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_network_transmit_bytes_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_network_receive_errs_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_network_receive_drop_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_network_transmit_errs_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_network_transmit_drop_total", dto.MetricType_COUNTER, []string{"device"}},
		{"node_network_up", dto.MetricType_GAUGE, []string{"device"}},
		{"node_network_info", dto.MetricType_GAUGE, []string{"address", "adminstate", "broadcast", "device", "duplex", "ifalias", "operstate"}},
		{"node_pressure_cpu_waiting_seconds_total", dto.MetricType_COUNTER, nil},
		{"node_pressure_io_waiting_seconds_total", dto.MetricType_COUNTER, nil},
		{"node_pressure_memory_waiting_seconds_total", dto.MetricType_COUNTER, nil},
		{"node_boot_time_seconds", dto.MetricType_GAUGE, nil},
		{"node_context_switches_total", dto.MetricType_COUNTER, nil},
		{"node_intr_total", dto.MetricType_COUNTER, nil},
		{"node_forks_total", dto.MetricType_COUNTER, nil},
		{"node_procs_running", dto.MetricType_GAUGE, nil},
		{"node_procs_blocked", dto.MetricType_GAUGE, nil},
		{"node_filefd_allocated", dto.MetricType_GAUGE, nil},
		{"node_filefd_maximum", dto.MetricType_GAUGE, nil},
		{"node_uname_info", dto.MetricType_GAUGE, []string{"domainname", "machine", "nodename", "release", "sysname", "version"}},
		{"node_time_seconds", dto.MetricType_GAUGE, nil},
		{"node_timex_sync_status", dto.MetricType_GAUGE, nil},
		{"node_vmstat_pgmajfault", dto.MetricType_UNTYPED, nil},
		{"node_netstat_Tcp_CurrEstab", dto.MetricType_UNTYPED, nil},
		{"node_netstat_TcpExt_ListenDrops", dto.MetricType_UNTYPED, nil},
		{"node_netstat_Udp_InErrors", dto.MetricType_UNTYPED, nil},
		{"node_sockstat_sockets_used", dto.MetricType_GAUGE, nil},
		{"node_sockstat_TCP_inuse", dto.MetricType_GAUGE, nil},
		{"node_sockstat_TCP_mem_bytes", dto.MetricType_GAUGE, nil},
		{"node_softnet_processed_total", dto.MetricType_COUNTER, []string{"cpu"}},
		{"node_softnet_dropped_total", dto.MetricType_COUNTER, []string{"cpu"}},
		{"node_softnet_times_squeezed_total", dto.MetricType_COUNTER, []string{"cpu"}},
		{"node_entropy_available_bits", dto.MetricType_GAUGE, nil},
		{"node_entropy_pool_size_bits", dto.MetricType_GAUGE, nil},
		{"node_udp_queues", dto.MetricType_GAUGE, []string{"ip", "queue"}},
		{"node_scrape_collector_success", dto.MetricType_GAUGE, []string{"collector"}},
	}
	for _, f := range families {
		mf, ok := fams[f.name]
		if !ok {
			t.Errorf("family %s missing", f.name)
			continue
		}
		if mf.GetType() != f.typ {
			t.Errorf("%s: type %v, want %v", f.name, mf.GetType(), f.typ)
		}
		for _, m := range mf.GetMetric() {
			if got := labelNames(m); !slices.Equal(got, f.labels) {
				// Empty label values are dropped by the registry (ifalias="").
				for _, l := range got {
					if !slices.Contains(f.labels, l) {
						t.Errorf("%s: labels %v, want %v", f.name, got, f.labels)
						break
					}
				}
			}
		}
	}

	memTotal, _ := find(t, fams, "node_memory_MemTotal_bytes", nil)
	memAvail, _ := find(t, fams, "node_memory_MemAvailable_bytes", nil)
	if memTotal < 64<<20 || memAvail <= 0 || memAvail > memTotal {
		t.Errorf("MemAvailable %v, MemTotal %v: want 0 < available <= total", memAvail, memTotal)
	}
	// One idle series per CPU, each growing with uptime.
	cpus := map[string]bool{}
	for _, m := range fams["node_cpu_seconds_total"].GetMetric() {
		if label(m, "mode") == "idle" {
			cpus[label(m, "cpu")] = true
			if value(m) <= 0 {
				t.Errorf("cpu %s idle = %v", label(m, "cpu"), value(m))
			}
		}
	}
	if n := len(cpus); n < 1 || n > 4096 {
		t.Errorf("idle series for %d CPUs", n)
	}
	if v, ok := find(t, fams, "node_cpu_seconds_total", map[string]string{"cpu": "0", "mode": "idle"}); !ok || v <= 0 {
		t.Errorf("node_cpu_seconds_total{cpu=0,mode=idle} = %v, %v", v, ok)
	}
	boot, _ := find(t, fams, "node_boot_time_seconds", nil)
	now := float64(time.Now().Unix())
	if boot < 1e9 || boot > now {
		t.Errorf("boot time %v not in the past", boot)
	}
	if ts, _ := find(t, fams, "node_time_seconds", nil); ts < now-60 || ts > now+60 {
		t.Errorf("node_time_seconds %v, now %v", ts, now)
	}
	// The root filesystem is reported, sized, with no error.
	size, ok := find(t, fams, "node_filesystem_size_bytes", map[string]string{"mountpoint": "/"})
	avail, _ := find(t, fams, "node_filesystem_avail_bytes", map[string]string{"mountpoint": "/"})
	if !ok || size <= 0 || avail > size {
		t.Errorf("/: size %v avail %v (found %v)", size, avail, ok)
	}
	for _, m := range fams["node_filesystem_size_bytes"].GetMetric() {
		fstype, mp := label(m, "fstype"), label(m, "mountpoint")
		if fstype == "proc" || fstype == "sysfs" || fstype == "overlay" || strings.HasPrefix(mp, "/proc") || strings.HasPrefix(mp, "/sys") {
			t.Errorf("pseudo filesystem reported: %s on %s", fstype, mp)
		}
	}
	if v, ok := find(t, fams, "node_network_receive_bytes_total", map[string]string{"device": "lo"}); !ok || v <= 0 {
		t.Errorf("lo received %v bytes (found %v)", v, ok)
	}
	if v, ok := find(t, fams, "node_uname_info", map[string]string{"sysname": "Linux"}); !ok || v != 1 {
		t.Errorf("node_uname_info{sysname=Linux} missing")
	}
	for _, m := range fams["node_scrape_collector_success"].GetMetric() {
		switch label(m, "collector") {
		case "pressure", "conntrack", "os", "timex": // may be absent on a host
		default:
			if value(m) != 1 {
				t.Errorf("sub-collector %s failed", label(m, "collector"))
			}
		}
	}
	if v, _ := find(t, fams, "vigie_collector_success", map[string]string{"collector": "node"}); v != 1 {
		t.Errorf("vigie_collector_success{collector=node} = %v", v)
	}
}

func fixtureConfig(t testing.TB) Config {
	t.Helper()
	dir, err := filepath.Abs("testdata/fixture")
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.ProcPath = filepath.Join(dir, "proc")
	cfg.SysPath = filepath.Join(dir, "sys")
	cfg.RootPath = filepath.Join(dir, "root")
	return cfg
}

// volatile families come from system calls, not from the fixture tree.
func volatile(name string) bool {
	return strings.HasPrefix(name, "node_time_seconds") || strings.HasPrefix(name, "node_time_zone") ||
		strings.HasPrefix(name, "node_timex_") || name == "node_uname_info" ||
		name == "node_scrape_collector_duration_seconds" || strings.HasPrefix(name, "vigie_collector_duration") ||
		// statfs of the fixture root reports this machine's disk.
		slices.Contains([]string{"node_filesystem_size_bytes", "node_filesystem_free_bytes",
			"node_filesystem_avail_bytes", "node_filesystem_files", "node_filesystem_files_free"}, name)
}

// TestFixture gathers a fake /proc, /sys and / and compares the exposition
// with testdata/fixture.prom (go test -run TestFixture -update rewrites it).
func TestFixture(t *testing.T) {
	c, err := New(fixtureConfig(t), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	c.pageSize = 4096 // node_sockstat_*_mem_bytes, whatever this machine's page size
	fams := gather(t, c)
	var names []string
	for n := range fams {
		names = append(names, n)
	}
	slices.Sort(names)
	var buf bytes.Buffer
	for _, n := range names {
		if volatile(n) {
			continue
		}
		if _, err := expfmt.MetricFamilyToText(&buf, fams[n]); err != nil {
			t.Fatal(err)
		}
	}
	golden := "testdata/fixture.prom"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("exposition differs from %s (-update to accept):\n%s", golden, lineDiff(string(want), buf.String()))
	}

	// The statfs-backed families: every mount found under root_path has its
	// size, /mnt/gone (absent under root_path) has only device_error 1.
	for _, mp := range []string{"/", "/data", "/with space"} {
		if v, ok := find(t, fams, "node_filesystem_size_bytes", map[string]string{"mountpoint": mp}); !ok || v <= 0 {
			t.Errorf("size of %q = %v (found %v)", mp, v, ok)
		}
	}
	if _, ok := find(t, fams, "node_filesystem_size_bytes", map[string]string{"mountpoint": "/mnt/gone"}); ok {
		t.Errorf("size reported for a mount that cannot be stat'ed")
	}
	for _, n := range []string{"node_uname_info", "node_time_seconds", "node_timex_sync_status"} {
		if _, ok := fams[n]; !ok {
			t.Errorf("%s missing", n)
		}
	}
}

func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var out []string
	for _, l := range g {
		if !slices.Contains(w, l) {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range w {
		if !slices.Contains(g, l) {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestCPUCountersNeverGoBack checks node_exporter's rule: a smaller reading
// keeps the previous value, a large idle jump back (hotplug) resets.
func TestCPUCountersNeverGoBack(t *testing.T) {
	dir := t.TempDir()
	cfg := fixtureConfig(t)
	proc := filepath.Join(dir, "proc")
	if err := os.CopyFS(proc, os.DirFS(cfg.ProcPath)); err != nil {
		t.Fatal(err)
	}
	cfg.ProcPath = proc
	c, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	writeStat := func(user0, idle0 int) {
		t.Helper()
		s := "cpu  1 0 1 1 0 0 0 0 0 0\n" +
			"cpu0 " + itoa(user0) + " 0 100 " + itoa(idle0) + " 0 0 0 0 0 0\n" +
			"ctxt 1\nbtime 1\nprocesses 1\nprocs_running 1\nprocs_blocked 0\nintr 1\n"
		if err := os.WriteFile(filepath.Join(proc, "stat"), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	get := func(mode string) float64 {
		t.Helper()
		v, ok := find(t, gather(t, c), "node_cpu_seconds_total", map[string]string{"cpu": "0", "mode": mode})
		if !ok {
			t.Fatalf("no cpu0 %s", mode)
		}
		return v
	}
	writeStat(1000, 100000)
	if v := get("user"); v != 10 {
		t.Fatalf("user = %v, want 10", v)
	}
	writeStat(900, 100050) // user went back a little: keep 10
	if v := get("user"); v != 10 {
		t.Errorf("user went back to %v, want 10 kept", v)
	}
	writeStat(50, 100) // idle back by ~1000 s: a hotplug, start again
	if v := get("idle"); v != 1 {
		t.Errorf("idle after reset = %v, want 1", v)
	}
	if v := get("user"); v != 0.5 {
		t.Errorf("user after reset = %v, want 0.5", v)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestStuckMount checks that a statfs that never returns costs one timeout:
// the mount reports device_error 1 and is skipped until the call returns.
func TestStuckMount(t *testing.T) {
	cfg := fixtureConfig(t)
	cfg.Filesystem.MountTimeout = config.Duration(200 * time.Millisecond)
	c, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan string, 16)
	real := c.statfsFn
	c.statfsFn = func(path string, st *syscall.Statfs_t) error {
		if strings.HasSuffix(path, "/data") {
			entered <- path
			<-release
		}
		return real(path, st)
	}
	t.Cleanup(func() {
		select {
		case <-release:
		default:
			close(release)
		}
	})

	fams := gather(t, c)
	if v, ok := find(t, fams, "node_filesystem_device_error", map[string]string{"mountpoint": "/data"}); !ok || v != 1 {
		t.Fatalf("device_error of the hung mount = %v (found %v), want 1", v, ok)
	}
	if v, _ := find(t, fams, "node_filesystem_device_error", map[string]string{"mountpoint": "/"}); v != 0 {
		t.Errorf("device_error of / = %v, want 0", v)
	}
	<-entered

	// Second gather: the hung mount is not stat'ed again.
	fams = gather(t, c)
	if v, _ := find(t, fams, "node_filesystem_device_error", map[string]string{"mountpoint": "/data"}); v != 1 {
		t.Errorf("still-hung mount device_error = %v, want 1", v)
	}
	select {
	case p := <-entered:
		t.Fatalf("hung mount stat'ed again: %s", p)
	default:
	}

	// The call returns: the mount is monitored again.
	close(release)
	c.statfsFn = real
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.fs.mu.Lock()
		_, stuck := c.fs.stuck["/data"]
		c.fs.mu.Unlock()
		if !stuck {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("mount still marked stuck after its statfs returned")
		}
		time.Sleep(5 * time.Millisecond)
	}
	fams = gather(t, c)
	if v, ok := find(t, fams, "node_filesystem_device_error", map[string]string{"mountpoint": "/data"}); !ok || v != 0 {
		t.Errorf("recovered mount device_error = %v (found %v), want 0", v, ok)
	}
}

func TestUpdateHonoursContext(t *testing.T) {
	c, err := New(DefaultConfig(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ch := make(chan prometheus.Metric, 1024)
	if err := c.Update(ctx, ch); err == nil {
		t.Error("Update with a cancelled context succeeded")
	}
}

func BenchmarkUpdate(b *testing.B) {
	c, err := New(DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ch := make(chan prometheus.Metric, 4096)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Update(ctx, ch); err != nil {
			b.Fatal(err)
		}
		for len(ch) > 0 {
			<-ch
		}
	}
}

// BenchmarkGather is one registry gather of the node collector through a
// collector.Set, as /metrics runs it (without the text encoding).
func BenchmarkGather(b *testing.B) {
	c, err := New(DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewSet(10*time.Second, slog.New(slog.DiscardHandler), c))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

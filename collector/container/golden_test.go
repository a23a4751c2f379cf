package container

import (
	"flag"
	"github.com/vigie-dev/vigie/internal/promtooltest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/internal/testimage"
)

var update = flag.Bool("update", false, "rewrite the golden family lists in testdata")

// collectFunc is an unchecked prometheus.Collector around a function.
type collectFunc func(chan<- prometheus.Metric)

func (f collectFunc) Describe(chan<- *prometheus.Desc)    {}
func (f collectFunc) Collect(ch chan<- prometheus.Metric) { f(ch) }

// familyLines gives "name type labels" per family, container_* only.
func familyLines(t *testing.T, mfs []*dto.MetricFamily) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "container_") {
			continue
		}
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		sort.Strings(labels)
		out[mf.GetName()] = mf.GetName() + " " + strings.ToLower(mf.GetType().String()) + " " + strings.Join(labels, ",")
	}
	return out
}

// compareGolden fails on a family of the golden file missing or changed,
// and on a family not in it. -update rewrites the file.
func compareGolden(t *testing.T, path string, got map[string]string) {
	t.Helper()
	if *update {
		var lines []string
		for _, l := range got {
			lines = append(lines, l)
		}
		sort.Strings(lines)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name := strings.Fields(line)[0]
		want[name] = true
		switch g, ok := got[name]; {
		case !ok:
			t.Errorf("family missing: %s", line)
		case g != line:
			t.Errorf("family changed:\n  want %s\n  got  %s", line, g)
		}
	}
	for name, l := range got {
		if !want[name] {
			t.Errorf("family not in %s (check it, then go test -update): %s", filepath.Base(path), l)
		}
	}
}

// cadvisorFamilies reads the container families of cAdvisor's
// docs/storage/prometheus.md (plus the few its code serves that the table
// omits: blkio, oom events, sockets, threads), as testdata lists them.
func cadvisorFamilies(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "cadvisor_families.txt"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) == 2 && !strings.HasPrefix(line, "#") {
			out[f[0]] = f[1]
		}
	}
	return out
}

// checkAgainstCadvisor: every family vigie gives has cAdvisor's type, and
// every cAdvisor family vigie lacks is listed with its reason in
// docs/metrics/container.md.
func checkAgainstCadvisor(t *testing.T, got map[string]string) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics", "container.md"))
	if err != nil {
		t.Fatal(err)
	}
	provided, missing, _ := strings.Cut(string(doc), "## Not provided")
	for name, typ := range cadvisorFamilies(t) {
		line, ok := got[name]
		if !ok {
			// Given in other conditions (block I/O, events, options), as the doc's tables say.
			if !strings.Contains(missing, "`"+name+"`") && !strings.Contains(provided, "`"+name+"`") {
				t.Errorf("cAdvisor family %s neither documented nor listed under \"Not provided\" in docs/metrics/container.md", name)
			}
			continue
		}
		if strings.Contains(missing, "`"+name+"`") {
			t.Errorf("%s is given but listed under \"Not provided\"", name)
		}
		// container_memory_failcnt is a gauge in vigie: a counter without _total
		// fails promtool's lint (docs/metrics/container.md says so).
		if f := strings.Fields(line); f[1] != typ && name != "container_memory_failcnt" {
			t.Errorf("%s is a %s, cAdvisor's is a %s", name, f[1], typ)
		}
	}
}

// A cgroup v2 container from fixture files (this machine runs cgroup v1):
// the reader and the emitters give cAdvisor's v2 families.
func TestGoldenCgroupV2(t *testing.T) {
	root := t.TempDir()
	cg := filepath.Join(root, "cgroup")
	scope := filepath.Join(cg, "system.slice", "docker-abc.scope")
	if err := os.MkdirAll(scope, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(filepath.Join("testdata", "cgroupv2", "docker-abc.scope"))
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("testdata", "cgroupv2", "docker-abc.scope", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(scope, e.Name()), string(b))
	}
	proc := filepath.Join(root, "proc")
	write(t, filepath.Join(proc, "self", "mountinfo"), "30 25 0:26 / "+cg+" rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n")
	for _, pid := range []string{"4242", "4250"} {
		write(t, filepath.Join(proc, pid, "cgroup"), "0::/system.slice/docker-abc.scope\n")
		write(t, filepath.Join(proc, pid, "task", pid, "stat"), pid+" (memhog (x)) S 1 1 1 0 -1\n")
		fd := filepath.Join(proc, pid, "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, target := range []string{"/dev/null", "socket:[1234]", "pipe:[9]"} {
			if err := os.Symlink(target, filepath.Join(fd, string(rune('0'+i)))); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(t, filepath.Join(proc, "4242", "task", "4243", "stat"), "4243 (worker) R 1 1 1 0 -1\n")
	write(t, filepath.Join(proc, "4242", "net", "dev"), `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:       0       0    0    0    0     0          0         0        0       0    0    0    0     0       0          0
  eth0:    5024      40    0    1    0     0          0         0     1300      12    0    0    0     0       0          0
`)

	r, err := newCgroupReader(proc)
	if err != nil {
		t.Fatal(err)
	}
	st, err := r.stats(4242)
	if err != nil {
		t.Fatal(err)
	}
	ps := r.procStats(4242)
	if ps == nil || ps.processes != 2 || ps.threads != 3 || ps.threadsMax != 512 || ps.fds != 6 || ps.sockets != 2 ||
		ps.tasks["sleeping"] != 2 || ps.tasks["running"] != 1 {
		t.Errorf("process stats: %+v", ps)
	}
	c := &Collector{cfg: DefaultConfig(), devs: newDeviceNames(filepath.Join(root, "sys")), records: map[string]*record{}}
	in := &info{
		labels: labelValues("abc", "web", "nginx:1", nil), state: "running", stats: st, procs: ps,
		inspect: container.InspectResponse{
			State:      &container.State{Status: "running", Running: true, StartedAt: "2026-12-01T10:00:00Z"},
			HostConfig: &container.HostConfig{Resources: container.Resources{Memory: 64 << 20, MemorySwap: 128 << 20, NanoCPUs: 5e8, CPUShares: 512}},
		},
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		c.emitContainer(ch, in, series{values: in.labels}, time.Unix(1_800_000_000, 0))
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := familyLines(t, mfs)
	compareGolden(t, filepath.Join("testdata", "families_cgroupv2.golden"), got)
	checkAgainstCadvisor(t, got)

	f := families{}
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	for _, tc := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"container_cpu_usage_seconds_total", nil, 1.523},
		{"container_cpu_cfs_throttled_periods_total", nil, 17},
		{"container_cpu_cfs_throttled_seconds_total", nil, 0.845},
		{"container_memory_working_set_bytes", nil, 67108864 - 2871296},
		{"container_memory_mapped_file", nil, 1634304},
		{"container_memory_failcnt", nil, 12},
		{"container_memory_max_usage_bytes", nil, 70254592},
		{"container_memory_failures_total", []string{"failure_type", "pgmajfault", "scope", "hierarchy"}, 7},
		{"container_spec_memory_swap_limit_bytes", nil, 128 << 20},
		{"container_blkio_device_usage_total", []string{"major", "8", "minor", "0", "operation", "Read"}, 1048576},
		{"container_fs_reads_total", []string{"device", "8:0"}, 40},
		{"container_network_receive_packets_dropped_total", []string{"interface", "eth0"}, 1},
		{"container_tasks_state", []string{"state", "running"}, 1},
		{"container_sockets", nil, 2},
	} {
		if v, ok := f.get(tc.name, tc.labels...); !ok || v != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, v, ok, tc.want)
		}
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// On this engine (cgroup v1 here): a container with CPU and memory limits,
// one without, one restarting and one stopped. The union of their families
// is the golden list; each kind has the families it must have.
func TestGoldenDocker(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	k, v := runLabel(t)
	labels := map[string]string{k: v, "com.example.team": "payments"}
	limited := testimage.Run(t, img, testimage.RunOptions{Name: "limited", Labels: labels,
		Flags: []string{"--memory", "64m", "--memory-swap", "96m", "--cpus", "0.5", "--cpu-shares", "512"},
		Args:  []string{"-alloc", "16Mi"}})
	unlimited := testimage.Run(t, img, testimage.RunOptions{Name: "unlimited", Labels: labels, Args: []string{"-alloc", "4Mi"}})
	restarting := testimage.Run(t, img, testimage.RunOptions{Name: "restarting", Labels: labels,
		Flags: []string{"--restart", "always"}, Args: []string{"-crash-after", "200ms"}})
	stopped := testimage.Run(t, img, testimage.RunOptions{Name: "stopped", Labels: labels, Args: []string{"-exit-after", "100ms", "-code", "3"}})
	limited.WaitLog(t, "ready", 30*time.Second)
	unlimited.WaitLog(t, "ready", 30*time.Second)
	testimage.Eventually(t, 30*time.Second, func() (bool, string) {
		s := stopped.Inspect(t, "{{.State.Status}}")
		n := restarting.Inspect(t, "{{.RestartCount}}")
		return s == "exited" && n != "0", "stopped " + s + ", restarts " + n
	})

	cfg := testConfig(k, v)
	cfg.ContainerLabels = []string{"com.example.team"}
	cfg.FilesystemUsage = true
	c := startCollector(t, cfg)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collectFunc(func(ch chan<- prometheus.Metric) {
		if err := c.Update(t.Context(), ch); err != nil {
			t.Errorf("update: %v", err)
		}
	}))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := familyLines(t, mfs)
	// Block I/O families come with block I/O, which these containers may not
	// do; swap usage with the kernel's swap accounting (swapaccount=1 on v1).
	for _, n := range []string{"container_fs_reads_bytes_total", "container_fs_writes_bytes_total", "container_fs_reads_total",
		"container_fs_writes_total", "container_blkio_device_usage_total", "container_memory_swap"} {
		delete(got, n)
	}
	compareGolden(t, filepath.Join("testdata", "families_docker_"+cgroupVersion()+".golden"), got)
	checkAgainstCadvisor(t, got)

	f := families{}
	for _, mf := range mfs {
		f[mf.GetName()] = mf
	}
	// What each kind of container must have.
	must := func(ctr *testimage.Container, names ...string) {
		t.Helper()
		for _, n := range names {
			if ms := f.find(n, "name", ctr.Name, "container_label_com_example_team", "payments"); len(ms) == 0 {
				t.Errorf("%s: no %s", ctr.Name, n)
			}
		}
	}
	running := []string{"container_cpu_usage_seconds_total", "container_memory_working_set_bytes", "container_memory_rss",
		"container_memory_failures_total", "container_processes", "container_threads", "container_file_descriptors",
		"container_tasks_state", "container_network_receive_bytes_total", "container_start_time_seconds", "container_last_seen",
		"container_spec_memory_limit_bytes", "container_fs_usage_bytes"}
	must(limited, append(running, "container_cpu_cfs_periods_total", "container_cpu_cfs_throttled_periods_total",
		"container_spec_cpu_quota", "container_spec_cpu_period", "container_spec_cpu_shares")...)
	must(unlimited, running...)
	must(stopped, "container_last_seen", "container_start_time_seconds", "container_spec_memory_limit_bytes", "vigie_container_state",
		"vigie_container_last_exit_code", "vigie_container_restarts_total")
	must(restarting, "container_last_seen", "vigie_container_restarts_total", "vigie_container_state")
	if q := f.find("container_spec_cpu_quota", "name", unlimited.Name); len(q) != 0 {
		t.Errorf("unlimited container has a CPU quota")
	}
	if v, _ := f.get("container_spec_memory_swap_limit_bytes", "name", limited.Name); v != 96<<20 {
		t.Errorf("swap limit = %v, want %v", v, 96<<20)
	}
	if v, _ := f.get("container_spec_cpu_shares", "name", limited.Name); v != 512 {
		t.Errorf("cpu shares = %v", v)
	}
	if v, _ := f.get("vigie_container_restarts_total", "name", restarting.Name); v < 1 {
		t.Errorf("restarts = %v", v)
	}
	if v, _ := f.get("container_processes", "name", limited.Name); v != 1 {
		t.Errorf("processes = %v, want 1 (memhog)", v)
	}
	if ms := f.find("container_last_seen", "name", stopped.Name); len(ms) != 1 {
		t.Errorf("stopped container: %s", f.dump("container_last_seen"))
	}
	if ms := f.find("container_cpu_usage_seconds_total", "name", stopped.Name); len(ms) != 0 {
		t.Errorf("stopped container has CPU usage series")
	}
	// promtool's linter: clean.
	for _, l := range promtooltest.Lint(t, reg) {
		t.Errorf("promtool check metrics: %s", l)
	}
}

// cgroupVersion names this host's cgroup layout, as `stat -fc %T /sys/fs/cgroup` does.
func cgroupVersion() string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return "v2"
	}
	return "v1"
}

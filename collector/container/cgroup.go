package container

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
)

// cgroupReader reads a container's resource usage straight from the cgroup
// filesystem, giving the numbers the engine's stats endpoint gives (it reads
// the same files) without the engine's wait for its next collection tick.
// It handles cgroup v1 (cgroupfs and systemd drivers) and v2; when the
// files are not readable (vigie in a container without the host's /proc
// and /sys/fs/cgroup) the collector falls back to the engine's stats.
type cgroupReader struct {
	proc    string
	v1      map[string]mount // controller → its hierarchy's mount
	unified *mount           // the cgroup2 mount, used when memory is not on v1
}

type mount struct{ root, point string }

const userHZ = 100

// v2SwapKey carries memory.swap.current in MemoryStats.Stats; memory.stat
// of cgroup v2 has no key of that name.
const v2SwapKey = "vigie_swap_current" // cpuacct.stat counts in USER_HZ ticks, 100 on Linux

// newCgroupReader discovers the cgroup mounts from proc/self/mountinfo.
func newCgroupReader(proc string) (*cgroupReader, error) {
	b, err := os.ReadFile(filepath.Join(proc, "self", "mountinfo"))
	if err != nil {
		return nil, err
	}
	r := &cgroupReader{proc: proc, v1: map[string]mount{}}
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 {
			continue
		}
		m := mount{root: f[3], point: f[4]}
		switch g[0] {
		case "cgroup":
			for _, opt := range strings.Split(g[2], ",") {
				switch opt {
				case "memory", "cpu", "cpuacct", "blkio", "pids":
					if _, dup := r.v1[opt]; !dup {
						r.v1[opt] = m
					}
				}
			}
		case "cgroup2":
			if r.unified == nil {
				r.unified = &m
			}
		}
	}
	if _, ok := r.v1["memory"]; !ok && r.unified == nil {
		return nil, errors.New("no cgroup mounts")
	}
	return r, nil
}

// paths maps controllers ("" for v2) to the directory of pid's cgroup.
func (r *cgroupReader) paths(pid int) (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(r.proc, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			if r.unified != nil {
				out[""] = join(*r.unified, parts[2])
			}
			continue
		}
		for _, ctl := range strings.Split(parts[1], ",") {
			if m, ok := r.v1[ctl]; ok {
				out[ctl] = join(m, parts[2])
			}
		}
	}
	return out, nil
}

func join(m mount, path string) string {
	if m.root != "/" {
		path = strings.TrimPrefix(path, m.root)
	}
	return filepath.Join(m.point, path)
}

// stats reads the usage of the container whose init process is pid, in
// the engine's StatsResponse shape.
func (r *cgroupReader) stats(pid int) (*container.StatsResponse, error) {
	if pid <= 0 {
		return nil, errors.New("no pid")
	}
	p, err := r.paths(pid)
	if err != nil {
		return nil, err
	}
	st := &container.StatsResponse{Read: time.Now(), OSType: "linux"}
	if mem, ok := p["memory"]; ok {
		err = readV1(st, p, mem)
	} else if dir, ok := p[""]; ok {
		err = readV2(st, dir)
	} else {
		err = errors.New("container cgroup not found")
	}
	if err != nil {
		return nil, err
	}
	st.Networks, err = readNetDev(filepath.Join(r.proc, strconv.Itoa(pid), "net", "dev"))
	if err != nil {
		return nil, err
	}
	return st, nil
}

func readV1(st *container.StatsResponse, p map[string]string, mem string) error {
	var err error
	m := &st.MemoryStats
	if m.Usage, err = readUint(mem, "memory.usage_in_bytes"); err != nil {
		return err
	}
	m.MaxUsage, _ = readUint(mem, "memory.max_usage_in_bytes")
	m.Failcnt, _ = readUint(mem, "memory.failcnt")
	m.Limit, _ = readUint(mem, "memory.limit_in_bytes")
	if m.Stats, err = readKV(mem, "memory.stat"); err != nil {
		return err
	}
	if dir, ok := p["cpuacct"]; ok {
		u := &st.CPUStats.CPUUsage
		if u.TotalUsage, err = readUint(dir, "cpuacct.usage"); err != nil {
			return err
		}
		if kv, err := readKV(dir, "cpuacct.stat"); err == nil {
			u.UsageInUsermode = kv["user"] * (1e9 / userHZ)
			u.UsageInKernelmode = kv["system"] * (1e9 / userHZ)
		}
	}
	if dir, ok := p["cpu"]; ok {
		if kv, err := readKV(dir, "cpu.stat"); err == nil {
			st.CPUStats.ThrottlingData = container.ThrottlingData{
				Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_time"],
			}
		}
	}
	if dir, ok := p["blkio"]; ok {
		// The CFQ files are empty under other schedulers; the throttle ones count every I/O.
		for _, f := range []string{"blkio.io_service_bytes_recursive", "blkio.throttle.io_service_bytes_recursive"} {
			if e, err := readBlkioV1(filepath.Join(dir, f)); err == nil && len(e) > 0 {
				st.BlkioStats.IoServiceBytesRecursive = e
				break
			}
		}
		for _, f := range []string{"blkio.io_serviced_recursive", "blkio.throttle.io_serviced_recursive"} {
			if e, err := readBlkioV1(filepath.Join(dir, f)); err == nil && len(e) > 0 {
				st.BlkioStats.IoServicedRecursive = e
				break
			}
		}
	}
	if dir, ok := p["pids"]; ok {
		st.PidsStats.Current, _ = readUint(dir, "pids.current")
		st.PidsStats.Limit, _ = readUint(dir, "pids.max")
	}
	return nil
}

func readV2(st *container.StatsResponse, dir string) error {
	var err error
	m := &st.MemoryStats
	if m.Usage, err = readUint(dir, "memory.current"); err != nil {
		return err
	}
	if m.Stats, err = readKV(dir, "memory.stat"); err != nil {
		return err
	}
	m.Limit, _ = readUint(dir, "memory.max") // "max" does not parse: 0
	// memory.peak (Linux 5.19+) is v1's max_usage_in_bytes; the "max"
	// events of memory.events count the hits of the limit, as v1's failcnt.
	m.MaxUsage, _ = readUint(dir, "memory.peak")
	if ev, err := readKV(dir, "memory.events"); err == nil {
		m.Failcnt = ev["max"]
	}
	if v, err := readUint(dir, "memory.swap.current"); err == nil {
		m.Stats[v2SwapKey] = v
	}
	if kv, err := readKV(dir, "cpu.stat"); err == nil {
		st.CPUStats.CPUUsage = container.CPUUsage{
			TotalUsage: kv["usage_usec"] * 1000, UsageInUsermode: kv["user_usec"] * 1000, UsageInKernelmode: kv["system_usec"] * 1000,
		}
		st.CPUStats.ThrottlingData = container.ThrottlingData{
			Periods: kv["nr_periods"], ThrottledPeriods: kv["nr_throttled"], ThrottledTime: kv["throttled_usec"] * 1000,
		}
	}
	if b, err := os.ReadFile(filepath.Join(dir, "io.stat")); err == nil {
		// 8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.Fields(line)
			if len(f) < 2 {
				continue
			}
			major, minor, ok := parseDev(f[0])
			if !ok {
				continue
			}
			for _, kv := range f[1:] {
				k, v, _ := strings.Cut(kv, "=")
				n, _ := strconv.ParseUint(v, 10, 64)
				e := container.BlkioStatEntry{Major: major, Minor: minor, Value: n}
				switch k {
				case "rbytes", "wbytes":
					e.Op = map[string]string{"rbytes": "Read", "wbytes": "Write"}[k]
					st.BlkioStats.IoServiceBytesRecursive = append(st.BlkioStats.IoServiceBytesRecursive, e)
				case "rios", "wios":
					e.Op = map[string]string{"rios": "Read", "wios": "Write"}[k]
					st.BlkioStats.IoServicedRecursive = append(st.BlkioStats.IoServicedRecursive, e)
				}
			}
		}
	}
	st.PidsStats.Current, _ = readUint(dir, "pids.current")
	st.PidsStats.Limit, _ = readUint(dir, "pids.max")
	return nil
}

func readUint(dir, file string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(string(bytes.TrimSpace(b)), 10, 64)
}

// readKV reads "key value" lines (memory.stat, cpu.stat, cpuacct.stat).
func readKV(dir, file string) (map[string]uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(v, 10, 64); err == nil {
			out[k] = n
		}
	}
	return out, nil
}

// readBlkioV1 reads "8:0 Read 4096" lines.
func readBlkioV1(path string) ([]container.BlkioStatEntry, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []container.BlkioStatEntry
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		major, minor, ok := parseDev(f[0])
		if !ok {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		out = append(out, container.BlkioStatEntry{Major: major, Minor: minor, Op: f[1], Value: n})
	}
	return out, nil
}

func parseDev(s string) (uint64, uint64, bool) {
	a, b, ok := strings.Cut(s, ":")
	if !ok {
		return 0, 0, false
	}
	major, err1 := strconv.ParseUint(a, 10, 64)
	minor, err2 := strconv.ParseUint(b, 10, 64)
	return major, minor, err1 == nil && err2 == nil
}

// readNetDev reads a network namespace's interface counters, leaving out lo
// as the engine does.
func readNetDev(path string) (map[string]container.NetworkStats, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	out := map[string]container.NetworkStats{}
	for _, line := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		name = strings.TrimSpace(name)
		f := strings.Fields(rest)
		if name == "lo" || len(f) < 16 {
			continue
		}
		var v [16]uint64
		for i := range v {
			v[i], _ = strconv.ParseUint(f[i], 10, 64)
		}
		out[name] = container.NetworkStats{
			RxBytes: v[0], RxPackets: v[1], RxErrors: v[2], RxDropped: v[3],
			TxBytes: v[8], TxPackets: v[9], TxErrors: v[10], TxDropped: v[11],
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

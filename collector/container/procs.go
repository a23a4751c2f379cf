package container

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// procStats is what cAdvisor's process stats give: processes (cgroup.procs),
// threads (pids.current) and their limit (pids.max), open file descriptors
// and sockets of the container's processes, and its tasks by state.
type procStats struct {
	processes, threads, threadsMax float64
	fds, sockets                   float64
	hasPids                        bool
	tasks                          map[string]float64
}

// taskStates are cAdvisor's container_tasks_state values; iowaiting has no
// /proc state letter of its own and stays 0, as cAdvisor reports it
// without its netlink load reader.
var taskStates = []string{"sleeping", "running", "stopped", "uninterruptible", "iowaiting"}

// stateOf maps the state letter of /proc/<pid>/task/<tid>/stat.
func stateOf(letter byte) string {
	switch letter {
	case 'R':
		return "running"
	case 'S', 'I':
		return "sleeping"
	case 'D':
		return "uninterruptible"
	case 'T', 't':
		return "stopped"
	}
	return ""
}

// procStats reads the process figures of the container whose init process
// is pid; nil when its cgroup cannot be read.
func (r *cgroupReader) procStats(pid int) *procStats {
	if pid <= 0 {
		return nil
	}
	p, err := r.paths(pid)
	if err != nil {
		return nil
	}
	dir, ok := p["pids"]
	if !ok {
		dir, ok = p[""]
	}
	if !ok {
		return nil
	}
	pids, err := readPids(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return nil
	}
	ps := &procStats{processes: float64(len(pids)), tasks: map[string]float64{}}
	if n, err := readUint(dir, "pids.current"); err == nil {
		ps.threads, ps.hasPids = float64(n), true
		// "max" does not parse: unlimited, 0 as cAdvisor reports it.
		if m, err := readUint(dir, "pids.max"); err == nil {
			ps.threadsMax = float64(m)
		}
	}
	for _, p := range pids {
		ps.countFDs(filepath.Join(r.proc, p, "fd"))
		ps.countTasks(filepath.Join(r.proc, p, "task"))
	}
	return ps
}

func readPids(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

func (ps *procStats) countFDs(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return // the process exited, or /proc/<pid>/fd is not readable here
	}
	ps.fds += float64(len(ents))
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(l, "socket:") {
			ps.sockets++
		}
	}
}

func (ps *procStats) countTasks(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "stat"))
		if err != nil {
			continue
		}
		if s := parseTaskState(b); s != "" {
			ps.tasks[s]++
		}
	}
}

// parseTaskState reads the state letter after the command, "pid (comm) S …";
// comm may hold spaces and parentheses, so the last ')' ends it.
func parseTaskState(stat []byte) string {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return ""
	}
	return stateOf(stat[i+2])
}

func emitProcs(ch chan<- prometheus.Metric, ps *procStats, l series) {
	if ps == nil {
		return
	}
	gauge(ch, processes, ps.processes, l)
	if ps.hasPids {
		gauge(ch, threads, ps.threads, l)
		gauge(ch, threadsMax, ps.threadsMax, l)
	}
	gauge(ch, fileDescriptors, ps.fds, l)
	gauge(ch, sockets, ps.sockets, l)
	for _, s := range taskStates {
		gauge(ch, tasksState, ps.tasks[s], l, s)
	}
}

// labelSet gives the container_label_* names of this gather: the
// configured keys, or with "*" every Docker label key of the containers.
func (c *Collector) labelSet(infos []*info) *labelSet {
	want := c.cfg.ContainerLabels
	if len(want) == 0 {
		return nil
	}
	if !slices.Contains(want, "*") {
		keys := slices.Clone(want)
		slices.Sort(keys)
		return newLabelSet(slices.Compact(keys))
	}
	seen := map[string]bool{}
	var keys []string
	add := func(l map[string]string) {
		for k := range l {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	for _, in := range infos {
		if in != nil {
			add(in.summary.Labels)
		}
	}
	c.mu.Lock()
	for _, r := range c.records {
		add(r.docker)
	}
	c.mu.Unlock()
	slices.Sort(keys)
	return newLabelSet(dedupSanitized(keys))
}

// dedupSanitized drops keys whose label name collides with an earlier one
// (a.b and a_b both give container_label_a_b).
func dedupSanitized(keys []string) []string {
	seen := map[string]bool{}
	out := keys[:0]
	for _, k := range keys {
		if n := sanitizeLabel(k); !seen[n] {
			seen[n] = true
			out = append(out, k)
		}
	}
	return out
}

// deviceLabels gives major and minor as strings for container_blkio_device_usage_total.
func deviceLabels(major, minor uint64) (string, string) {
	return strconv.FormatUint(major, 10), strconv.FormatUint(minor, 10)
}

package node

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	cpuSecondsDesc = prometheus.NewDesc("node_cpu_seconds_total",
		"Seconds the CPUs spent in each mode.", []string{"cpu", "mode"}, nil)
	cpuGuestDesc = prometheus.NewDesc("node_cpu_guest_seconds_total",
		"Seconds the CPUs spent in guests (VMs) for each mode.", []string{"cpu", "mode"}, nil)

	statIntrDesc    = prometheus.NewDesc("node_intr_total", "Total number of interrupts serviced.", nil, nil)
	statCtxtDesc    = prometheus.NewDesc("node_context_switches_total", "Total number of context switches.", nil, nil)
	statForksDesc   = prometheus.NewDesc("node_forks_total", "Total number of forks.", nil, nil)
	statBtimeDesc   = prometheus.NewDesc("node_boot_time_seconds", "Node boot time, in unixtime.", nil, nil)
	statRunningDesc = prometheus.NewDesc("node_procs_running", "Number of processes in runnable state.", nil, nil)
	statBlockedDesc = prometheus.NewDesc("node_procs_blocked", "Number of processes blocked waiting for I/O to complete.", nil, nil)
)

// cpuModes are node_cpu_seconds_total's modes, in node_exporter's order,
// with their index in cpuTimes.v.
var cpuModes = [...]struct {
	name string
	i    int
}{
	{"user", cpuUser}, {"nice", cpuNice}, {"system", cpuSystem}, {"idle", cpuIdle},
	{"iowait", cpuIowait}, {"irq", cpuIRQ}, {"softirq", cpuSoftIRQ}, {"steal", cpuSteal},
}

// jumpBackSeconds: an idle counter going back further than this means a CPU
// was hot-plugged; its counters start again (node_exporter's rule).
const jumpBackSeconds = 3.0

// updateCPU reads /proc/stat (kept for updateStat) and reports per-CPU times.
func (c *Collector) updateCPU(_ context.Context, ch chan<- prometheus.Metric) error {
	c.statErr = nil
	b, err := c.readProc("stat")
	if err == nil {
		err = parseStat(b, &c.stat)
	}
	if err != nil {
		c.statErr = err
		return err
	}
	seen := 0
	for _, ct := range c.stat.cpus {
		prev, ok := c.cpuState[ct.id]
		if ok && prev[cpuIdle]-ct.v[cpuIdle] >= jumpBackSeconds {
			c.logger.Debug("CPU idle counter jumped backwards, possible hotplug event, resetting CPU stats",
				"cpu", ct.id, "old_value", prev[cpuIdle], "new_value", ct.v[cpuIdle])
			prev = [10]float64{}
		}
		// Counters never go backwards: a smaller reading keeps the previous value.
		for i, v := range ct.v {
			if v >= prev[i] {
				prev[i] = v
			}
		}
		c.cpuState[ct.id] = prev
		seen++

		cpu := c.cpuLabel(ct.id)
		for _, m := range cpuModes {
			ch <- counter(cpuSecondsDesc, prev[m.i], cpu, m.name)
		}
		ch <- counter(cpuGuestDesc, prev[cpuGuest], cpu, "user")
		ch <- counter(cpuGuestDesc, prev[cpuGuestNice], cpu, "nice")
	}
	if seen != len(c.cpuState) { // CPUs went offline
		for id := range c.cpuState {
			found := false
			for _, ct := range c.stat.cpus {
				if ct.id == id {
					found = true
					break
				}
			}
			if !found {
				delete(c.cpuState, id)
			}
		}
	}
	return nil
}

// updateStat reports /proc/stat's system-wide counters, read by updateCPU.
func (c *Collector) updateStat(_ context.Context, ch chan<- prometheus.Metric) error {
	if c.statErr != nil {
		return c.statErr
	}
	st := &c.stat
	if st.hasIntr {
		ch <- counter(statIntrDesc, st.intr)
	}
	if st.hasCtxt {
		ch <- counter(statCtxtDesc, st.ctxt)
	}
	if st.hasForks {
		ch <- counter(statForksDesc, st.forks)
	}
	if st.hasBtime {
		ch <- gauge(statBtimeDesc, st.btime)
	}
	if st.hasRunning {
		ch <- gauge(statRunningDesc, st.procsRunning)
	}
	if st.hasBl {
		ch <- gauge(statBlockedDesc, st.procsBlocked)
	}
	return nil
}

// Package container collects per-container metrics, container state and
// service replica counts from the Docker Engine API.
//
// Resource metrics carry cAdvisor's names, types and units (the engine's
// one-shot stats endpoint reads the same cgroup files cAdvisor reads);
// state cAdvisor lacks is under vigie_container_. Replicas of Swarm services
// and of Compose services share one pair of metrics,
// vigie_service_replicas_desired and vigie_service_replicas_running, so one
// rule covers both. Run follows the engine's event stream so that exits and
// OOM kills between two gathers are counted.
package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/collector"
)

var _ collector.Collector = (*Collector)(nil)

const (
	// A container restarted by its restart policy less than this long ago
	// does not count as a running replica: it may be in a restart loop.
	restartGrace = 30 * time.Second
	// Counters of a removed container stay this long, so the increase of
	// its last exit can still be seen.
	removedRetention = 5 * time.Minute

	minBackoff = 5 * time.Second
	maxBackoff = 2 * time.Minute
)

// Collector gathers container metrics from one Docker engine.
type Collector struct {
	cfg    Config
	logger *slog.Logger
	cli    *client.Client
	filter *filter
	now    func() time.Time
	devs   *deviceNames
	// cgroups reads container stats from the cgroup filesystem; nil when
	// it is not readable here, and the engine's stats endpoint is used.
	cgroups *cgroupReader

	mu       sync.Mutex
	seen     bool // the engine answered once (auto mode switches on)
	idleLog  bool // the "no engine" line was logged (auto mode)
	failures int
	retryAt  time.Time
	lastErr  error
	records  map[string]*record // by container ID: event counts and last labels

	streamUp atomic.Bool
}

// record is what the collector remembers of a container between gathers.
type record struct {
	labels       []string          // values of containerLabels
	docker       map[string]string // the container's Docker labels, for container_label_*
	dies, ooms   float64
	exitCode     int
	hasExit      bool
	lastDie      time.Time
	removedAt    time.Time
	excluded     bool
	lastObserved time.Time
}

// New returns a collector for cfg. It does not contact the engine.
func New(cfg Config, logger *slog.Logger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	f, err := newFilter(cfg)
	if err != nil {
		return nil, err
	}
	cli, err := client.New(client.WithHost(cfg.Host))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", cfg.Host, err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cg, err := newCgroupReader("/proc")
	if err != nil {
		logger.Debug("cgroup filesystem not readable; using the engine's stats endpoint", "collector", "docker", "err", err)
		cg = nil
	}
	return &Collector{
		cgroups: cg,
		cfg:     cfg,
		logger:  logger.With("collector", "docker"),
		cli:     cli,
		filter:  f,
		now:     time.Now,
		devs:    newDeviceNames("/sys/dev/block"),
		records: map[string]*record{},
	}, nil
}

// Name is "docker".
func (c *Collector) Name() string { return "docker" }

// Close releases the engine connection.
func (c *Collector) Close() error { return c.cli.Close() }

// Update gathers every container and service once.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if c.cfg.Enabled == EnabledFalse {
		return collector.ErrNoData
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	if err, wait := c.backingOff(); wait {
		return err
	}
	list, err := c.cli.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return c.engineFailed(err)
	}
	c.engineAnswered()

	now := c.now()
	var kept []container.Summary
	for _, s := range list.Items {
		if c.filter.keep(containerName(s.Names), s.Labels) {
			kept = append(kept, s)
		}
	}
	infos := c.gatherContainers(ctx, kept)
	var errs []error
	if ctx.Err() != nil {
		errs = append(errs, fmt.Errorf("gather containers: %w", ctx.Err()))
	}
	set := c.labelSet(infos)
	byState := map[string]float64{}
	for _, in := range infos {
		if in == nil {
			continue
		}
		byState[in.state]++
		c.emitContainer(ch, in, set.series(in.labels, in.summary.Labels), now)
	}
	for _, s := range containerStates {
		ch <- prometheus.MustNewConstMetric(containersScraped, prometheus.GaugeValue, byState[s], s)
	}
	c.emitRecords(ch, infos, set, now)
	up := 0.0
	if c.streamUp.Load() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(eventStreamUp, prometheus.GaugeValue, up)

	c.emitCompose(ch, infos, now)
	if err := c.emitSwarm(ctx, ch); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// backingOff returns the last error while the engine is in backoff after a failure.
func (c *Collector) backingOff() (error, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lastErr == nil || c.now().After(c.retryAt) {
		return nil, false
	}
	if c.idle() {
		return collector.ErrNoData, true
	}
	return c.lastErr, true
}

// idle reports whether auto mode has not found an engine yet. c.mu is held.
func (c *Collector) idle() bool {
	if c.cfg.Enabled != EnabledAuto || c.seen {
		return false
	}
	// A socket that exists but does not answer is a problem worth reporting
	// (permissions, a hung daemon); a missing socket means no Docker here.
	if path, ok := strings.CutPrefix(c.cfg.Host, "unix://"); ok {
		if _, err := os.Stat(path); err == nil {
			return false
		}
	}
	return true
}

func (c *Collector) engineFailed(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.failures++
	backoff := minBackoff << min(c.failures-1, 10)
	backoff = min(backoff, maxBackoff)
	c.retryAt = c.now().Add(backoff)
	c.lastErr = fmt.Errorf("docker engine at %s: %w", c.cfg.Host, err)
	if c.idle() {
		if !c.idleLog {
			c.idleLog = true
			c.logger.Info("no docker engine found; the collector stays idle until one answers", "host", c.cfg.Host)
		}
		return collector.ErrNoData
	}
	return c.lastErr
}

func (c *Collector) engineAnswered() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.seen {
		c.seen = true
		c.logger.Info("docker engine found", "host", c.cfg.Host, "api_version", c.cli.ClientVersion())
	}
	c.failures, c.lastErr = 0, nil
}

// info is one container's state in a gather.
type info struct {
	labels  []string // values of containerLabels
	state   string
	summary container.Summary
	inspect container.InspectResponse
	stats   *container.StatsResponse
	procs   *procStats // from /proc and the cgroup files; nil when not readable
	sizeRw  *int64     // the writable layer's size, with filesystem_usage
}

// gatherContainers inspects every container and reads the stats of the
// running ones, Concurrency at a time. A container that vanished is nil.
func (c *Collector) gatherContainers(ctx context.Context, list []container.Summary) []*info {
	out := make([]*info, len(list))
	sem := make(chan struct{}, c.cfg.Concurrency)
	var wg sync.WaitGroup
	for i, s := range list {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return out
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i] = c.gatherOne(ctx, s)
		}()
	}
	wg.Wait()
	return out
}

func (c *Collector) gatherOne(ctx context.Context, s container.Summary) *info {
	// With filesystem_usage the engine also sizes the writable layer (it walks it).
	ins, err := c.cli.ContainerInspect(ctx, s.ID, client.ContainerInspectOptions{Size: c.cfg.FilesystemUsage})
	if err != nil {
		if !cerrdefs.IsNotFound(err) && ctx.Err() == nil {
			c.logger.Debug("inspect container", "container_id", s.ID, "err", err)
		}
		return nil
	}
	in := &info{summary: s, inspect: ins.Container, state: string(s.State)}
	if st := ins.Container.State; st != nil {
		in.state = string(st.Status)
	}
	in.labels = labelValues(s.ID, containerName(s.Names), s.Image, s.Labels)
	if c.cfg.FilesystemUsage {
		in.sizeRw = ins.Container.SizeRw
	}
	if in.state != string(container.StateRunning) {
		return in
	}
	if c.cgroups != nil && ins.Container.State != nil {
		in.procs = c.cgroups.procStats(ins.Container.State.Pid)
		// Straight from the cgroup files: the engine's stats endpoint waits
		// for its next collection tick (up to a second) before answering.
		if st, err := c.cgroups.stats(ins.Container.State.Pid); err == nil {
			if hc := ins.Container.HostConfig; hc != nil && (hc.NetworkMode.IsHost() || hc.NetworkMode.IsNone()) {
				st.Networks = nil // the engine reports no networks for these either
			}
			in.stats = st
			return in
		}
	}
	res, err := c.cli.ContainerStats(ctx, s.ID, client.ContainerStatsOptions{})
	if err != nil {
		if !cerrdefs.IsNotFound(err) && ctx.Err() == nil {
			c.logger.Debug("container stats", "container_id", s.ID, "err", err)
		}
		return in
	}
	defer res.Body.Close()
	var st container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&st); err != nil {
		if ctx.Err() == nil {
			c.logger.Debug("decode container stats", "container_id", s.ID, "err", err)
		}
		return in
	}
	// A container that stopped between inspect and stats gets empty stats.
	if !st.Read.IsZero() && st.Read.Year() > 1 {
		in.stats = &st
	}
	return in
}

func containerName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	// The first name is the container's own; others are legacy links.
	return strings.TrimPrefix(names[0], "/")
}

// labelValues gives the values of containerLabels.
func labelValues(id, name, image string, l map[string]string) []string {
	slot := ""
	if task := l["com.docker.swarm.task.name"]; task != "" {
		// service.slot.taskid for replicated services, service.nodeid.taskid for global ones.
		parts := strings.Split(strings.TrimPrefix(task, l["com.docker.swarm.service.name"]+"."), ".")
		if len(parts) == 2 && isDigits(parts[0]) {
			slot = parts[0]
		}
	}
	return []string{
		strings.TrimPrefix(name, "/"), id, image,
		l["com.docker.compose.project"], l["com.docker.compose.service"],
		l["com.docker.swarm.service.name"], l["com.docker.stack.namespace"], slot,
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func gauge(ch chan<- prometheus.Metric, f *family, v float64, l series, extra ...string) {
	ch <- prometheus.MustNewConstMetric(l.desc(f), prometheus.GaugeValue, v, append(l.values[:len(l.values):len(l.values)], extra...)...)
}

func counter(ch chan<- prometheus.Metric, f *family, v float64, l series, extra ...string) {
	ch <- prometheus.MustNewConstMetric(l.desc(f), prometheus.CounterValue, v, append(l.values[:len(l.values):len(l.values)], extra...)...)
}

func (c *Collector) emitContainer(ch chan<- prometheus.Metric, in *info, l series, now time.Time) {
	for _, s := range containerStates {
		v := 0.0
		if s == in.state {
			v = 1
		}
		gauge(ch, stateDesc, v, l, s)
	}
	gauge(ch, lastSeen, float64(now.Unix()), l)
	if st := in.inspect.State; st != nil {
		if h := st.Health; h != nil && h.Status != container.NoHealthcheck && h.Status != "" {
			for _, s := range healthStates {
				v := 0.0
				if s == string(h.Status) {
					v = 1
				}
				gauge(ch, healthDesc, v, l, s)
			}
		}
		if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && t.Year() > 1 {
			gauge(ch, startTime, float64(t.UnixNano())/1e9, l)
		}
		finished, err := time.Parse(time.RFC3339Nano, st.FinishedAt)
		switch {
		case !st.Running && !st.Restarting && err == nil && finished.Year() > 1:
			// Stopped after running: the engine's view of the last exit.
			gauge(ch, exitCodeDesc, float64(st.ExitCode), l)
		default:
			// Running again: the engine reset its exit code; the event stream kept it.
			if code, ok := c.lastExit(in.summary.ID); ok {
				gauge(ch, exitCodeDesc, float64(code), l)
			}
		}
		oom := 0.0
		if st.OOMKilled {
			oom = 1
		}
		gauge(ch, oomKilledDesc, oom, l)
	}
	counter(ch, restartsDesc, float64(in.inspect.RestartCount), l)
	if hc := in.inspect.HostConfig; hc != nil {
		gauge(ch, specMemLimit, float64(hc.Memory), l)
		gauge(ch, specMemSoftLimit, float64(hc.MemoryReservation), l)
		quota, period := hc.CPUQuota, hc.CPUPeriod
		if hc.NanoCPUs > 0 {
			// --cpus sets NanoCPUs; the engine turns it into a CFS quota per 100 ms period.
			period = 100000
			quota = hc.NanoCPUs * period / 1e9
		}
		if quota > 0 {
			if period <= 0 {
				period = 100000
			}
			gauge(ch, specCPUQuota, float64(quota), l)
			gauge(ch, specCPUPeriod, float64(period), l)
		}
		if hc.CPUShares > 0 {
			gauge(ch, specCPUShares, float64(hc.CPUShares), l)
		}
		// --memory-swap is memory plus swap; -1 is unlimited swap: 0 here, like an unset limit.
		gauge(ch, specMemSwapLimit, float64(max(hc.MemorySwap, 0)), l)
	}
	if in.stats != nil {
		emitStats(ch, in.stats, l, c.devs)
	}
	emitProcs(ch, in.procs, l)
	if in.procs == nil && in.stats != nil && in.stats.PidsStats.Current > 0 {
		// The engine's stats: pids.current counts threads, processes are not told.
		gauge(ch, threads, float64(in.stats.PidsStats.Current), l)
		gauge(ch, threadsMax, float64(in.stats.PidsStats.Limit), l)
	}
	if in.sizeRw != nil {
		gauge(ch, fsUsage, float64(*in.sizeRw), l, "")
	}
}

func emitStats(ch chan<- prometheus.Metric, st *container.StatsResponse, l series, devs *deviceNames) {
	cpu := st.CPUStats
	counter(ch, cpuUsage, float64(cpu.CPUUsage.TotalUsage)/1e9, l)
	counter(ch, cpuUser, float64(cpu.CPUUsage.UsageInUsermode)/1e9, l)
	counter(ch, cpuSystem, float64(cpu.CPUUsage.UsageInKernelmode)/1e9, l)
	if t := cpu.ThrottlingData; t.Periods > 0 {
		counter(ch, cpuPeriods, float64(t.Periods), l)
		counter(ch, cpuThrottled, float64(t.ThrottledPeriods), l)
		counter(ch, cpuThrottledTime, float64(t.ThrottledTime)/1e9, l)
	}

	m := st.MemoryStats
	gauge(ch, memUsage, float64(m.Usage), l)
	gauge(ch, memWorkingSet, float64(workingSet(m)), l)
	emitFailures(ch, m.Stats, l)
	if _, v1 := m.Stats["total_inactive_file"]; v1 {
		gauge(ch, memRSS, float64(m.Stats["total_rss"]), l)
		gauge(ch, memCache, float64(m.Stats["total_cache"]), l)
		gauge(ch, memMappedFile, float64(m.Stats["total_mapped_file"]), l)
		if v, ok := m.Stats["total_swap"]; ok {
			gauge(ch, memSwap, float64(v), l)
		}
		gauge(ch, memMaxUsage, float64(m.MaxUsage), l)
		gauge(ch, memFailcnt, float64(m.Failcnt), l)
	} else {
		gauge(ch, memRSS, float64(m.Stats["anon"]), l)
		gauge(ch, memCache, float64(m.Stats["file"]), l)
		gauge(ch, memMappedFile, float64(m.Stats["file_mapped"]), l)
		if v, ok := m.Stats[v2SwapKey]; ok {
			gauge(ch, memSwap, float64(v), l)
		}
		if m.MaxUsage > 0 { // memory.peak and memory.events, read from the cgroup files
			gauge(ch, memMaxUsage, float64(m.MaxUsage), l)
			gauge(ch, memFailcnt, float64(m.Failcnt), l)
		}
	}

	for iface, n := range st.Networks {
		counter(ch, netRxBytes, float64(n.RxBytes), l, iface)
		counter(ch, netRxPackets, float64(n.RxPackets), l, iface)
		counter(ch, netRxErrors, float64(n.RxErrors), l, iface)
		counter(ch, netRxDropped, float64(n.RxDropped), l, iface)
		counter(ch, netTxBytes, float64(n.TxBytes), l, iface)
		counter(ch, netTxPackets, float64(n.TxPackets), l, iface)
		counter(ch, netTxErrors, float64(n.TxErrors), l, iface)
		counter(ch, netTxDropped, float64(n.TxDropped), l, iface)
	}

	for _, d := range readWriteByDevice(st.BlkioStats.IoServiceBytesRecursive, devs) {
		counter(ch, fsReads, float64(d.r), l, d.dev)
		counter(ch, fsWrites, float64(d.w), l, d.dev)
	}
	emitBlkio(ch, st, l, devs)
}

// emitFailures reports page faults as cAdvisor does: container scope from
// pgfault/pgmajfault, hierarchy scope from total_* on cgroup v1 (the same
// figures on v2, where memory.stat is hierarchical).
func emitFailures(ch chan<- prometheus.Metric, stats map[string]uint64, l series) {
	pf, ok := stats["pgfault"]
	if !ok {
		return
	}
	maj := stats["pgmajfault"]
	hpf, hmaj := pf, maj
	if v, ok := stats["total_pgfault"]; ok {
		hpf, hmaj = v, stats["total_pgmajfault"]
	}
	counter(ch, memFailures, float64(pf), l, "pgfault", "container")
	counter(ch, memFailures, float64(maj), l, "pgmajfault", "container")
	counter(ch, memFailures, float64(hpf), l, "pgfault", "hierarchy")
	counter(ch, memFailures, float64(hmaj), l, "pgmajfault", "hierarchy")
}

// emitBlkio reports bytes by device and operation, and read and write
// operations by device (io_serviced).
func emitBlkio(ch chan<- prometheus.Metric, st *container.StatsResponse, l series, devs *deviceNames) {
	for _, e := range st.BlkioStats.IoServiceBytesRecursive {
		major, minor := deviceLabels(e.Major, e.Minor)
		op := e.Op
		if op != "" {
			op = strings.ToUpper(op[:1]) + op[1:]
		}
		counter(ch, blkioUsage, float64(e.Value), l, devs.name(e.Major, e.Minor), major, minor, op)
	}
	for _, d := range readWriteByDevice(st.BlkioStats.IoServicedRecursive, devs) {
		counter(ch, fsReadsOps, float64(d.r), l, d.dev)
		counter(ch, fsWritesOps, float64(d.w), l, d.dev)
	}
}

// deviceRW is one device's read and write totals.
type deviceRW struct {
	dev  string
	r, w uint64
}

// readWriteByDevice sums blkio entries into reads and writes per device,
// in the order the devices first appear.
func readWriteByDevice(entries []container.BlkioStatEntry, devs *deviceNames) []deviceRW {
	var out []deviceRW
	index := map[string]int{}
	for _, e := range entries {
		dev := devs.name(e.Major, e.Minor)
		i, ok := index[dev]
		if !ok {
			i = len(out)
			index[dev] = i
			out = append(out, deviceRW{dev: dev})
		}
		switch strings.ToLower(e.Op) {
		case "read":
			out[i].r += e.Value
		case "write":
			out[i].w += e.Value
		}
	}
	return out
}

// workingSet is usage minus inactive file cache, as cAdvisor and `docker
// stats` compute it: total_inactive_file on cgroup v1, inactive_file on v2.
func workingSet(m container.MemoryStats) uint64 {
	if v, ok := m.Stats["total_inactive_file"]; ok {
		if v < m.Usage {
			return m.Usage - v
		}
		return 0
	}
	if v := m.Stats["inactive_file"]; v < m.Usage {
		return m.Usage - v
	}
	return 0
}

// emitRecords reports the event-stream counters of every known container,
// including ones removed in the last few minutes.
func (c *Collector) emitRecords(ch chan<- prometheus.Metric, infos []*info, set *labelSet, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	listed := map[string]bool{}
	for _, in := range infos {
		if in == nil {
			continue
		}
		id := in.summary.ID
		listed[id] = true
		r := c.records[id]
		if r == nil {
			r = &record{}
			c.records[id] = r
		}
		r.labels, r.docker, r.excluded, r.lastObserved = in.labels, in.summary.Labels, false, now
		r.removedAt = time.Time{}
	}
	for id, r := range c.records {
		if !listed[id] && r.removedAt.IsZero() && !r.lastObserved.IsZero() && r.lastObserved.Before(now) {
			// Gone without a destroy event (the stream was down, or it was filtered out).
			r.removedAt = now
		}
		if !r.removedAt.IsZero() && now.Sub(r.removedAt) > removedRetention {
			delete(c.records, id)
			continue
		}
		if r.excluded || r.labels == nil {
			continue
		}
		l := set.series(r.labels, r.docker)
		counter(ch, exitsDesc, r.dies, l)
		counter(ch, oomEvents, r.ooms, l)
		if !listed[id] && r.hasExit {
			gauge(ch, exitCodeDesc, float64(r.exitCode), l)
		}
	}
}

func (c *Collector) lastExit(id string) (int, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r := c.records[id]; r != nil && r.hasExit {
		return r.exitCode, true
	}
	return 0, false
}

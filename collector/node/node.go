// Package node collects the host's metrics from /proc and /sys under
// node_exporter's names, types, units and labels, so node_exporter's
// dashboards and alert rules work unchanged.
//
// One Collector runs several sub-collectors named as node_exporter names
// them (cpu, meminfo, filesystem, …) and reports each one's outcome as
// node_scrape_collector_success{collector} and
// node_scrape_collector_duration_seconds{collector}. The hot files are read
// into one reused buffer and parsed without allocating; descriptors are
// built once.
package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/procfs"

	"github.com/vigie-dev/vigie/collector"
)

// Collector gathers the host's metrics. It is safe for concurrent use:
// concurrent gathers take turns.
type Collector struct {
	cfg    Config
	logger *slog.Logger

	procfs procfs.FS
	subs   []sub

	mountPointsExclude, fsTypesExclude *regexp.Regexp
	netdevExclude, diskExclude         *regexp.Regexp
	vmstatFields, netstatFields        *regexp.Regexp

	// turn serializes gathers; everything below belongs to the gather holding it.
	turn    chan struct{}
	buf     []byte
	scratch []byte
	strs    map[string]string // interned label values
	cpuIDs  []string

	stat     procStat
	statErr  error
	cpuState map[int][10]float64

	memDescs    map[string]*prometheus.Desc
	vmstatDescs map[string]*prometheus.Desc // nil value: field not selected

	netstatDescs  map[string]*prometheus.Desc // nil value: field not selected
	sockstatDescs map[string]*prometheus.Desc
	arpCounts     []devCount
	pageSize      int // sockstat's mem is in pages

	statfsFn     func(path string, st *syscall.Statfs_t) error // syscall.Statfs; tests hang it
	clocksources []string                                      // clocksource directories, found once
	osRelease    osReleaseCache
	fs           fsState
	fds          *fdCache            // kept-open proc files; closed by Close or when c is collected
	textfileErrs map[string]struct{} // textfile errors of the last gather, logged once
}

type sub struct {
	name string
	fn   func(ctx context.Context, ch chan<- prometheus.Metric) error
}

// errNoData marks a sub-collector with nothing to report on this host (no
// PSI, no conntrack): its success is 0, as in node_exporter, but the node
// collector as a whole does not fail for it.
var errNoData = errors.New("no data")

var _ collector.Collector = (*Collector)(nil)

var (
	scrapeDurationDesc = prometheus.NewDesc("node_scrape_collector_duration_seconds",
		"node_exporter: Duration of a collector scrape.", []string{"collector"}, nil)
	scrapeSuccessDesc = prometheus.NewDesc("node_scrape_collector_success",
		"node_exporter: Whether a collector succeeded.", []string{"collector"}, nil)
)

// New returns a node collector reading cfg's paths.
func New(cfg Config, logger *slog.Logger) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	pfs, err := procfs.NewFS(cfg.ProcPath)
	if err != nil {
		return nil, fmt.Errorf("open procfs %s: %w", cfg.ProcPath, err)
	}
	c := &Collector{
		cfg:                cfg,
		logger:             logger.With("collector", "node"),
		procfs:             pfs,
		mountPointsExclude: compileOrNil(cfg.Filesystem.MountPointsExclude),
		fsTypesExclude:     compileOrNil(cfg.Filesystem.FSTypesExclude),
		netdevExclude:      compileOrNil(cfg.Netdev.DeviceExclude),
		diskExclude:        compileOrNil(cfg.Disk.DeviceExclude),
		vmstatFields:       regexp.MustCompile(cfg.Vmstat.Fields),
		netstatFields:      regexp.MustCompile(cfg.Netstat.Fields),
		turn:               make(chan struct{}, 1),
		buf:                make([]byte, 0, 16<<10),
		scratch:            make([]byte, 0, 64),
		strs:               map[string]string{},
		cpuState:           map[int][10]float64{},
		memDescs:           map[string]*prometheus.Desc{},
		vmstatDescs:        map[string]*prometheus.Desc{},
		netstatDescs:       map[string]*prometheus.Desc{},
		sockstatDescs:      map[string]*prometheus.Desc{},
		pageSize:           os.Getpagesize(),
		fs:                 fsState{stuck: map[string]struct{}{}},
		statfsFn:           syscall.Statfs,
		fds:                &fdCache{fds: map[string]int{}},
	}
	runtime.AddCleanup(c, (*fdCache).closeAll, c.fds)
	c.subs = []sub{
		{"cpu", c.updateCPU},
		{"stat", c.updateStat},
		{"meminfo", c.updateMeminfo},
		{"loadavg", c.updateLoadavg},
		{"vmstat", c.updateVmstat},
		{"filefd", c.updateFilefd},
		{"pressure", c.updatePressure},
		{"diskstats", c.updateDiskstats},
		{"netdev", c.updateNetdev},
		{"netclass", c.updateNetclass},
		{"filesystem", c.updateFilesystem},
		{"conntrack", c.updateConntrack},
		{"netstat", c.updateNetstat},
		{"sockstat", c.updateSockstat},
		{"softnet", c.updateSoftnet},
		{"arp", c.updateARP},
		{"udp_queues", c.updateUDPQueues},
		{"entropy", c.updateEntropy},
		{"time", c.updateTime},
		{"timex", c.updateTimex},
		{"uname", c.updateUname},
		{"os", c.updateOS},
	}
	if cfg.TextfileDirectory != "" {
		c.subs = append(c.subs, sub{"textfile", c.updateTextfile})
	}
	return c, nil
}

func compileOrNil(expr string) *regexp.Regexp {
	if expr == "" {
		return nil
	}
	return regexp.MustCompile(expr)
}

// Name is "node".
func (c *Collector) Name() string { return "node" }

// Update gathers every sub-collector in turn. A failing sub-collector is
// reported by node_scrape_collector_success and in the returned error; the
// others still report.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	select {
	case c.turn <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.turn }()

	if len(c.strs) > 4096 { // interfaces and devices come and go (veth)
		clear(c.strs)
	}
	var errs []error
	for _, s := range c.subs {
		if err := ctx.Err(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		start := time.Now()
		err := s.fn(ctx, ch)
		ch <- prometheus.MustNewConstMetric(scrapeDurationDesc, prometheus.GaugeValue, time.Since(start).Seconds(), s.name)
		ok := 1.0
		if err != nil {
			ok = 0
			if !errors.Is(err, errNoData) {
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
			}
		}
		ch <- prometheus.MustNewConstMetric(scrapeSuccessDesc, prometheus.GaugeValue, ok, s.name)
	}
	return errors.Join(errs...)
}

// procFile and sysFile join a path under the configured mounts.
func (c *Collector) procFile(name string) string { return filepath.Join(c.cfg.ProcPath, name) }
func (c *Collector) sysFile(name string) string  { return filepath.Join(c.cfg.SysPath, name) }

// readFile reads a whole (proc or sys) file into the shared buffer, with
// bare system calls: no *os.File, no fstat, no allocation once the buffer
// has grown. The result is valid until the next readFile.
func (c *Collector) readFile(path string) ([]byte, error) {
	return c.readFileAt(atFDCWD, path)
}

// atFDCWD makes openat(2) take a path as open(2) does.
const atFDCWD = -0x64

// readFileAt is readFile for a name relative to an open directory: sysfs
// attributes are read through their device's directory, which spares the
// kernel a path walk through /sys/class/net's symbolic links per file.
func (c *Collector) readFileAt(dirfd int, path string) ([]byte, error) {
	fd, err := syscall.Openat(dirfd, path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Openat(dirfd, path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	return c.readFD(fd, false, path)
}

// readFD reads fd to its end into the shared buffer, with read(2), or with
// pread(2) from offset 0 to read a kept-open proc file afresh.
func (c *Collector) readFD(fd int, fromStart bool, path string) ([]byte, error) {
	b := c.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, make([]byte, cap(b)+4096)...)[:len(b)]
		}
		var n int
		var err error
		if fromStart {
			n, err = syscall.Pread(fd, b[len(b):cap(b)], int64(len(b)))
		} else {
			n, err = syscall.Read(fd, b[len(b):cap(b)])
		}
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			c.buf = b[:0]
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n <= 0 {
			break
		}
		b = b[:len(b)+n]
	}
	c.buf = b
	return b, nil
}

// fdCache keeps the /proc files read at every gather open. pread(2) at
// offset 0 makes procfs render a file afresh, so a gather spares an open
// and a close per file (and the path walk through the /proc/net symbolic
// link), and seq_file keeps the buffer it grew: opened afresh, a file
// longer than a page (/proc/net/netstat) is rendered twice.
type fdCache struct {
	fds    map[string]int // name under proc_path → open descriptor
	closed bool
}

func (f *fdCache) closeAll() {
	for name, fd := range f.fds {
		syscall.Close(fd)
		delete(f.fds, name)
	}
}

// readProc reads the proc file name (relative to proc_path) through a kept
// descriptor; a descriptor that fails is closed and the file opened again.
// Files that are missing are not kept: they are looked for at every gather.
func (c *Collector) readProc(name string) ([]byte, error) {
	if c.fds.closed {
		return c.readFile(c.procFile(name))
	}
	if fd, ok := c.fds.fds[name]; ok {
		if b, err := c.readFD(fd, true, name); err == nil {
			return b, nil
		}
		syscall.Close(fd)
		delete(c.fds.fds, name)
	}
	path := c.procFile(name)
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	b, err := c.readFD(fd, true, path)
	if err != nil {
		syscall.Close(fd)
		return nil, err
	}
	c.fds.fds[name] = fd
	return b, nil
}

// Close closes the proc files the collector keeps open, once the gather
// under way (if any) ends. Later gathers open and close each file.
func (c *Collector) Close() error {
	c.turn <- struct{}{}
	defer func() { <-c.turn }()
	c.fds.closeAll()
	c.fds.closed = true
	return nil
}

// readAttrAt reads a sysfs attribute: one read(2) returns all of it (an
// attribute is at most a page), so the EOF read is spared.
func (c *Collector) readAttrAt(dirfd int, name string) ([]byte, error) {
	fd, err := syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Openat(dirfd, name, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	if cap(c.buf) < 4096 {
		c.buf = make([]byte, 0, 4096)
	}
	b := c.buf[:4096]
	n, err := syscall.Read(fd, b)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, b)
	}
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// intern returns b as a string, allocating only the first time it is seen.
func (c *Collector) intern(b []byte) string {
	if s, ok := c.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	c.strs[s] = s
	return s
}

// cpuLabel returns the label value of CPU id.
func (c *Collector) cpuLabel(id int) string {
	for len(c.cpuIDs) <= id {
		c.cpuIDs = append(c.cpuIDs, strconv.Itoa(len(c.cpuIDs)))
	}
	return c.cpuIDs[id]
}

func gauge(d *prometheus.Desc, v float64, lv ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

func counter(d *prometheus.Desc, v float64, lv ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, lv...)
}

func untyped(d *prometheus.Desc, v float64) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.UntypedValue, v)
}

// notExist reports whether err means the source is absent on this host.
func notExist(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTSUP) || errors.Is(err, syscall.EOPNOTSUPP)
}

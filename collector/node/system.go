package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	load1Desc  = prometheus.NewDesc("node_load1", "1m load average.", nil, nil)
	load5Desc  = prometheus.NewDesc("node_load5", "5m load average.", nil, nil)
	load15Desc = prometheus.NewDesc("node_load15", "15m load average.", nil, nil)

	filefdAllocatedDesc = prometheus.NewDesc("node_filefd_allocated", "File descriptor statistics: allocated.", nil, nil)
	filefdMaximumDesc   = prometheus.NewDesc("node_filefd_maximum", "File descriptor statistics: maximum.", nil, nil)

	psiCPUDesc = prometheus.NewDesc("node_pressure_cpu_waiting_seconds_total",
		"Total time in seconds that processes have waited for CPU time", nil, nil)
	psiIODesc = prometheus.NewDesc("node_pressure_io_waiting_seconds_total",
		"Total time in seconds that processes have waited due to IO congestion", nil, nil)
	psiIOFullDesc = prometheus.NewDesc("node_pressure_io_stalled_seconds_total",
		"Total time in seconds no process could make progress due to IO congestion", nil, nil)
	psiMemDesc = prometheus.NewDesc("node_pressure_memory_waiting_seconds_total",
		"Total time in seconds that processes have waited for memory", nil, nil)
	psiMemFullDesc = prometheus.NewDesc("node_pressure_memory_stalled_seconds_total",
		"Total time in seconds no process could make progress due to memory congestion", nil, nil)
	psiIRQFullDesc = prometheus.NewDesc("node_pressure_irq_stalled_seconds_total",
		"Total time in seconds no process could make progress due to IRQ congestion", nil, nil)

	conntrackEntriesDesc = prometheus.NewDesc("node_nf_conntrack_entries",
		"Number of currently allocated flow entries for connection tracking.", nil, nil)
	conntrackLimitDesc = prometheus.NewDesc("node_nf_conntrack_entries_limit",
		"Maximum size of connection tracking table.", nil, nil)

	timeDesc = prometheus.NewDesc("node_time_seconds",
		"System time in seconds since epoch (1970).", nil, nil)
	timeZoneDesc = prometheus.NewDesc("node_time_zone_offset_seconds",
		"System time zone offset in seconds.", []string{"time_zone"}, nil)
	clocksourceAvailableDesc = prometheus.NewDesc("node_time_clocksource_available_info",
		"Available clocksources read from '/sys/devices/system/clocksource'.", []string{"device", "clocksource"}, nil)
	clocksourceCurrentDesc = prometheus.NewDesc("node_time_clocksource_current_info",
		"Current clocksource read from '/sys/devices/system/clocksource'.", []string{"device", "clocksource"}, nil)

	unameDesc = prometheus.NewDesc("node_uname_info",
		"Labeled system information as provided by the uname system call.",
		[]string{"sysname", "release", "version", "machine", "nodename", "domainname"}, nil)

	osInfoDesc = prometheus.NewDesc("node_os_info",
		"A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, "+
			"name, pretty_name, variant, variant_id, version, version_codename, version_id.",
		[]string{"build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
			"variant", "variant_id", "version", "version_codename", "version_id"}, nil)
	osVersionDesc = prometheus.NewDesc("node_os_version",
		"Metric containing the major.minor part of the OS version.", []string{"id", "id_like", "name"}, nil)
	osSupportEndDesc = prometheus.NewDesc("node_os_support_end_timestamp_seconds",
		"Metric containing the end-of-life date timestamp of the OS.", nil, nil)
)

func (c *Collector) updateLoadavg(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("loadavg")
	if err != nil {
		return err
	}
	l, err := parseLoadavg(b)
	if err != nil {
		return err
	}
	ch <- gauge(load1Desc, l[0])
	ch <- gauge(load5Desc, l[1])
	ch <- gauge(load15Desc, l[2])
	return nil
}

func (c *Collector) updateFilefd(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("sys/fs/file-nr")
	if err != nil {
		return err
	}
	a, m, err := parseFileNr(b)
	if err != nil {
		return err
	}
	ch <- gauge(filefdAllocatedDesc, a)
	ch <- gauge(filefdMaximumDesc, m)
	return nil
}

// updatePressure reports pressure stall information (Linux ≥ 4.20 with PSI on).
func (c *Collector) updatePressure(_ context.Context, ch chan<- prometheus.Metric) error {
	found := 0
	for _, file := range [...]string{"pressure/cpu", "pressure/io", "pressure/memory", "pressure/irq"} {
		res := file[len("pressure/"):]
		b, err := c.readProc(file)
		if err != nil {
			if notExist(err) {
				continue
			}
			return err
		}
		some, full, hasSome, hasFull, err := parsePSI(b)
		if err != nil {
			return err
		}
		found++
		switch res {
		case "cpu":
			if hasSome {
				ch <- counter(psiCPUDesc, some/1e6)
			}
		case "io":
			if hasSome {
				ch <- counter(psiIODesc, some/1e6)
			}
			if hasFull {
				ch <- counter(psiIOFullDesc, full/1e6)
			}
		case "memory":
			if hasSome {
				ch <- counter(psiMemDesc, some/1e6)
			}
			if hasFull {
				ch <- counter(psiMemFullDesc, full/1e6)
			}
		case "irq":
			if hasFull {
				ch <- counter(psiIRQFullDesc, full/1e6)
			}
		}
	}
	if found == 0 {
		return errNoData
	}
	return nil
}

// updateConntrack reports the connection-tracking table's use (Docker hosts fill it).
func (c *Collector) updateConntrack(_ context.Context, ch chan<- prometheus.Metric) error {
	var vals [2]float64
	for i, name := range [...]string{"sys/net/netfilter/nf_conntrack_count", "sys/net/netfilter/nf_conntrack_max"} {
		b, err := c.readProc(name)
		if err != nil {
			if notExist(err) {
				return errNoData
			}
			return err
		}
		v, ok := parseNumber(trimSpace(b))
		if !ok {
			return errors.New(name + ": not a number")
		}
		vals[i] = v
	}
	ch <- gauge(conntrackEntriesDesc, vals[0])
	ch <- gauge(conntrackLimitDesc, vals[1])
	return nil
}

func (c *Collector) updateTime(_ context.Context, ch chan<- prometheus.Metric) error {
	now := time.Now()
	zone, offset := now.Zone()
	ch <- gauge(timeDesc, float64(now.UnixNano())/1e9)
	ch <- gauge(timeZoneDesc, float64(offset), zone)

	if c.clocksources == nil {
		dirs, _ := filepath.Glob(c.sysFile("devices/system/clocksource/clocksource[0-9]*"))
		c.clocksources = append([]string{}, dirs...)
	}
	for _, dir := range c.clocksources {
		dev := strings.TrimPrefix(filepath.Base(dir), "clocksource")
		b, err := c.readFile(dir + "/available_clocksource")
		if err != nil {
			return err
		}
		for _, cs := range strings.Fields(string(b)) {
			ch <- gauge(clocksourceAvailableDesc, 1, dev, c.intern([]byte(cs)))
		}
		b, err = c.readFile(dir + "/current_clocksource")
		if err != nil {
			return err
		}
		ch <- gauge(clocksourceCurrentDesc, 1, dev, c.intern(trimSpace(b)))
	}
	return nil
}

func (c *Collector) updateUname(_ context.Context, ch chan<- prometheus.Metric) error {
	var u syscall.Utsname
	if err := syscall.Uname(&u); err != nil {
		return err
	}
	ch <- gauge(unameDesc, 1,
		c.utsString(u.Sysname[:]), c.utsString(u.Release[:]), c.utsString(u.Version[:]),
		c.utsString(u.Machine[:]), c.utsString(u.Nodename[:]), c.utsString(u.Domainname[:]))
	return nil
}

func (c *Collector) utsString(f []int8) string {
	b := c.scratch[:0]
	for _, ch := range f {
		if ch == 0 {
			break
		}
		b = append(b, byte(ch))
	}
	c.scratch = b[:0]
	return c.intern(b)
}

// osReleaseCache keeps os-release parsed until the file changes.
type osReleaseCache struct {
	path       string
	mtime      time.Time
	size       int64
	labels     []string // osInfoDesc's label values
	versionLbl []string // osVersionDesc's label values
	version    float64
	supportEnd float64 // unix seconds, 0 if unknown
}

var versionRE = regexp.MustCompile(`^[0-9]+\.?[0-9]*`)

// updateOS reports os-release(5) of the host (read under root_path).
func (c *Collector) updateOS(_ context.Context, ch chan<- prometheus.Metric) error {
	var path string
	var fi os.FileInfo
	for _, p := range [...]string{"etc/os-release", "usr/lib/os-release"} {
		var err error
		path = filepath.Join(c.cfg.RootPath, p)
		if fi, err = os.Stat(path); err == nil {
			break
		} else if !notExist(err) {
			return err
		}
	}
	if fi == nil {
		return errNoData
	}
	oc := &c.osRelease
	if oc.labels == nil || oc.path != path || !oc.mtime.Equal(fi.ModTime()) || oc.size != fi.Size() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		m := parseOSRelease(b)
		*oc = osReleaseCache{path: path, mtime: fi.ModTime(), size: fi.Size()}
		oc.labels = []string{m["BUILD_ID"], m["ID"], m["ID_LIKE"], m["IMAGE_ID"], m["IMAGE_VERSION"],
			m["NAME"], m["PRETTY_NAME"], m["VARIANT"], m["VARIANT_ID"], m["VERSION"],
			m["VERSION_CODENAME"], m["VERSION_ID"]}
		oc.versionLbl = []string{m["ID"], m["ID_LIKE"], m["NAME"]}
		if mm := versionRE.FindString(m["VERSION_ID"]); mm != "" {
			oc.version, _ = strconv.ParseFloat(mm, 64)
		}
		if se := m["SUPPORT_END"]; se != "" {
			if t, err := time.Parse(time.DateOnly, se); err == nil {
				oc.supportEnd = float64(t.Unix())
			}
		}
	}
	ch <- gauge(osInfoDesc, 1, oc.labels...)
	if oc.version > 0 {
		ch <- gauge(osVersionDesc, oc.version, oc.versionLbl...)
	}
	if oc.supportEnd != 0 {
		ch <- gauge(osSupportEndDesc, oc.supportEnd)
	}
	return nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

// Package systemd reports systemd units with node_exporter's node_systemd_*
// names, labels and types, read over D-Bus: it lists units and reads
// properties, and never starts, stops or changes anything.
//
// The collector is opt-in (collect.systemd.enabled). Where there is no
// systemd (a container, a host without D-Bus) every gather fails with the
// reason, so vigie_collector_success{collector="systemd"} is 0 and the
// rest of the gather goes on.
package systemd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/collector"
)

var _ collector.Collector = (*Collector)(nil)

const defaultTimeout = 10 * time.Second

// minVersionSystemState is the first systemd with the SystemState manager
// property and the timers' LastTriggerUSec (node_exporter's threshold).
const minVersionSystemState = 212

// Unit is what ListUnits tells of a unit.
type Unit struct {
	Name, LoadState, ActiveState string
}

// Manager is the part of systemd's D-Bus API the collector reads.
type Manager interface {
	ListUnits(ctx context.Context) ([]Unit, error)
	// UnitTypeProperty reads a property of a type interface (Service, Socket, Timer, Mount).
	UnitTypeProperty(ctx context.Context, unit, unitType, name string) (any, error)
	// UnitProperty reads a property of org.freedesktop.systemd1.Unit.
	UnitProperty(ctx context.Context, unit, name string) (any, error)
	// ManagerProperty reads a string property of the manager (Version, SystemState, Virtualization).
	ManagerProperty(ctx context.Context, name string) (string, error)
	Close()
}

// Options are New's dependencies; zero values take the defaults.
type Options struct {
	Logger *slog.Logger
	// Dial connects to systemd; DialDBus by default.
	Dial func(ctx context.Context, private bool) (Manager, error)
}

// Collector gathers systemd units.
type Collector struct {
	cfg              Config
	include, exclude *regexp.Regexp
	dial             func(ctx context.Context, private bool) (Manager, error)
	logger           *slog.Logger

	mu   sync.Mutex // one gather at a time owns conn
	conn Manager
}

// New checks cfg and returns a collector; it connects at the first gather.
func New(cfg Config, opts Options) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	inc, _ := compileAnchored(cfg.UnitInclude)
	exc, _ := compileAnchored(cfg.UnitExclude)
	c := &Collector{cfg: cfg, include: inc, exclude: exc, dial: opts.Dial, logger: opts.Logger}
	if c.dial == nil {
		c.dial = DialDBus
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.logger = c.logger.With("collector", "systemd")
	return c, nil
}

// Name is "systemd".
func (c *Collector) Name() string { return "systemd" }

// Close drops the D-Bus connection.
func (c *Collector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
	return nil
}

var (
	unitStateDesc     = prometheus.NewDesc("node_systemd_unit_state", "Systemd unit", []string{"name", "state", "type"}, nil)
	startTimeDesc     = prometheus.NewDesc("node_systemd_unit_start_time_seconds", "Start time of the unit since unix epoch in seconds.", []string{"name"}, nil)
	tasksCurrentDesc  = prometheus.NewDesc("node_systemd_unit_tasks_current", "Current number of tasks per Systemd unit", []string{"name"}, nil)
	tasksMaxDesc      = prometheus.NewDesc("node_systemd_unit_tasks_max", "Maximum number of tasks per Systemd unit", []string{"name"}, nil)
	systemRunningDesc = prometheus.NewDesc("node_systemd_system_running", "Whether the system is operational (see 'systemctl is-system-running')", nil, nil)
	unitsDesc         = prometheus.NewDesc("node_systemd_units", "Summary of systemd unit states", []string{"state"}, nil)
	restartsDesc      = prometheus.NewDesc("node_systemd_service_restart_total", "Service unit count of Restart triggers", []string{"name"}, nil)
	timerDesc         = prometheus.NewDesc("node_systemd_timer_last_trigger_seconds", "Seconds since epoch of last trigger.", []string{"name"}, nil)
	acceptedDesc      = prometheus.NewDesc("node_systemd_socket_accepted_connections_total", "Total number of accepted socket connections", []string{"name"}, nil)
	connectionsDesc   = prometheus.NewDesc("node_systemd_socket_current_connections", "Current number of socket connections", []string{"name"}, nil)
	refusedDesc       = prometheus.NewDesc("node_systemd_socket_refused_connections_total", "Total number of refused socket connections", []string{"name"}, nil)
	versionDesc       = prometheus.NewDesc("node_systemd_version", "Detected systemd version", []string{"version"}, nil)
	virtDesc          = prometheus.NewDesc("node_systemd_virtualization_info", "Detected virtualization technology", []string{"virtualization_type"}, nil)
)

// unitStates are the ActiveState values, each reported per unit.
var unitStates = []string{"active", "activating", "deactivating", "inactive", "failed"}

// Update gathers once. Without systemd it fails with the reason; switched
// off it reports nothing (collector.ErrNoData).
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	if !c.cfg.Enabled {
		return collector.ErrNoData
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout.D())
	defer cancel()
	if c.conn == nil {
		conn, err := c.dial(ctx, c.cfg.Private)
		if err != nil {
			return fmt.Errorf("connect to systemd over D-Bus (is this host running systemd?): %w", err)
		}
		c.conn = conn
	}
	err := c.gather(ctx, c.conn, ch)
	if err != nil {
		// A broken connection is made again at the next gather.
		c.conn.Close()
		c.conn = nil
	}
	return err
}

func (c *Collector) gather(ctx context.Context, m Manager, ch chan<- prometheus.Metric) error {
	version, full := c.version(ctx, m)
	ch <- prometheus.MustNewConstMetric(versionDesc, prometheus.GaugeValue, version, full)
	virt, err := m.ManagerProperty(ctx, "Virtualization")
	if err != nil {
		virt = "unknown"
	} else if virt == "" {
		virt = "none"
	}
	ch <- prometheus.MustNewConstMetric(virtDesc, prometheus.GaugeValue, 1, virt)

	all, err := m.ListUnits(ctx)
	if err != nil {
		return fmt.Errorf("list units: %w", err)
	}
	for state, n := range summarize(all) {
		ch <- prometheus.MustNewConstMetric(unitsDesc, prometheus.GaugeValue, n, state)
	}
	units := filterUnits(all, c.include, c.exclude)
	var errs []error
	for _, u := range units {
		if err := ctx.Err(); err != nil {
			return err
		}
		errs = append(errs, c.unit(ctx, m, u, version, ch)...)
	}
	if version >= minVersionSystemState {
		state, err := m.ManagerProperty(ctx, "SystemState")
		if err != nil {
			return fmt.Errorf("system state: %w", err)
		}
		ch <- prometheus.MustNewConstMetric(systemRunningDesc, prometheus.GaugeValue, b2f(state == "running"))
	}
	if len(errs) > 0 {
		// A unit that went away between the list and its properties is not a failure.
		c.logger.Debug("unit properties", "err", errors.Join(errs...))
	}
	return nil
}

// version parses the manager's Version ("252.38-1~deb12u1" → 252.38).
func (c *Collector) version(ctx context.Context, m Manager) (float64, string) {
	full, err := m.ManagerProperty(ctx, "Version")
	if err != nil {
		return 0, ""
	}
	v, ok := ParseVersion(full)
	if !ok {
		return 0, ""
	}
	return v, full
}

var versionRE = regexp.MustCompile(`[0-9]{3,}(\.[0-9]+)?`)

// ParseVersion reads the number in systemd's version string, as node_exporter does.
func ParseVersion(s string) (float64, bool) {
	v, err := strconv.ParseFloat(versionRE.FindString(s), 64)
	return v, err == nil
}

// summarize counts every unit (filtered or not) by ActiveState.
func summarize(units []Unit) map[string]float64 {
	out := map[string]float64{}
	for _, s := range unitStates {
		out[s] = 0
	}
	for _, u := range units {
		out[u.ActiveState]++
	}
	return out
}

// filterUnits keeps the loaded units matching include and not exclude.
func filterUnits(units []Unit, include, exclude *regexp.Regexp) []Unit {
	var out []Unit
	for _, u := range units {
		if u.LoadState == "loaded" && include.MatchString(u.Name) && !exclude.MatchString(u.Name) {
			out = append(out, u)
		}
	}
	return out
}

// unit reports one unit's families; property errors are returned, not fatal.
func (c *Collector) unit(ctx context.Context, m Manager, u Unit, version float64, ch chan<- prometheus.Metric) []error {
	var errs []error
	kind := u.Name[strings.LastIndexByte(u.Name, '.')+1:]
	typ := ""
	if kind == "service" || kind == "mount" {
		v, err := m.UnitTypeProperty(ctx, u.Name, strings.ToUpper(kind[:1])+kind[1:], "Type")
		if s, ok := v.(string); err == nil && ok {
			typ = s
		}
	}
	for _, s := range unitStates {
		ch <- prometheus.MustNewConstMetric(unitStateDesc, prometheus.GaugeValue, b2f(s == u.ActiveState), u.Name, s, typ)
	}
	num := func(desc *prometheus.Desc, vt prometheus.ValueType, iface, prop string, scale float64) {
		v, err := m.UnitTypeProperty(ctx, u.Name, iface, prop)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", u.Name, prop, err))
			return
		}
		f, err := toFloat(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %s: %w", u.Name, prop, err))
			return
		}
		if f == math.MaxUint64 { // "infinity" (TasksMax)
			f = math.Inf(1)
		}
		ch <- prometheus.MustNewConstMetric(desc, vt, f*scale, u.Name)
	}
	switch kind {
	case "service":
		if c.cfg.RestartsMetrics {
			num(restartsDesc, prometheus.CounterValue, "Service", "NRestarts", 1)
		}
		if c.cfg.TaskMetrics {
			num(tasksCurrentDesc, prometheus.GaugeValue, "Service", "TasksCurrent", 1)
			num(tasksMaxDesc, prometheus.GaugeValue, "Service", "TasksMax", 1)
		}
	case "socket":
		num(acceptedDesc, prometheus.CounterValue, "Socket", "NAccepted", 1)
		num(connectionsDesc, prometheus.GaugeValue, "Socket", "NConnections", 1)
		num(refusedDesc, prometheus.CounterValue, "Socket", "NRefused", 1)
	case "timer":
		if version >= minVersionSystemState {
			num(timerDesc, prometheus.GaugeValue, "Timer", "LastTriggerUSec", 1e-6)
		}
	}
	if c.cfg.StartTimeMetrics {
		start := 0.0
		if u.ActiveState == "active" {
			v, err := m.UnitProperty(ctx, u.Name, "ActiveEnterTimestamp")
			if f, ferr := toFloat(v); err == nil && ferr == nil {
				start = f / 1e6
			} else if err != nil {
				errs = append(errs, fmt.Errorf("%s ActiveEnterTimestamp: %w", u.Name, err))
			}
		}
		ch <- prometheus.MustNewConstMetric(startTimeDesc, prometheus.GaugeValue, start, u.Name)
	}
	return errs
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

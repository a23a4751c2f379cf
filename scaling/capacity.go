package scaling

import (
	"context"
	"fmt"
	"time"
)

// Capacity compares what the recommended extra replicas need with what the
// hosts have free: idle CPU and available memory (from the node
// collector) and, on a Swarm, what the nodes' reservations leave.
type Capacity struct {
	// Known is false when neither the node collector's series nor the Swarm inventory is available.
	Known              bool    `json:"known"`
	CPUCores           float64 `json:"cpu_cores"`
	FreeCPUCores       float64 `json:"free_cpu_cores"`
	NeededCPUCores     float64 `json:"needed_cpu_cores"`
	MissingCPUCores    float64 `json:"missing_cpu_cores"`
	MemoryBytes        float64 `json:"memory_bytes"`
	FreeMemoryBytes    float64 `json:"free_memory_bytes"`
	NeededMemoryBytes  float64 `json:"needed_memory_bytes"`
	MissingMemoryBytes float64 `json:"missing_memory_bytes"`
	// Reservations is the Swarm scheduler's view, when an Inventory is given.
	Reservations *ReservationCapacity `json:"reservations,omitempty"`
	Reason       string               `json:"reason,omitempty"`
}

// ReservationCapacity compares the extra replicas' reservations with what
// the nodes have not reserved yet.
type ReservationCapacity struct {
	Resources
	NeededCPUCores     float64 `json:"needed_cpu_cores"`
	MissingCPUCores    float64 `json:"missing_cpu_cores"`
	NeededMemoryBytes  float64 `json:"needed_memory_bytes"`
	MissingMemoryBytes float64 `json:"missing_memory_bytes"`
	Error              string  `json:"error,omitempty"`
}

// The node collector's series (node_exporter's names), summed over hosts.
func capacityQueries(window time.Duration) map[string]string {
	return map[string]string{
		"cores":     `sum(count without (cpu, mode) (node_cpu_seconds_total{mode="idle"}))`,
		"idle":      fmt.Sprintf(`sum(rate(node_cpu_seconds_total{mode="idle"}[%s]))`, shortDur(window)),
		"mem":       `sum(node_memory_MemTotal_bytes)`,
		"mem_avail": `sum(node_memory_MemAvailable_bytes)`,
	}
}

// need is what n more replicas of svc take: each the limit of its
// replicas, or their average usage when they have none.
func need(svc *service, n int) (cpu, mem float64) {
	if n <= 0 || len(svc.replicas) == 0 {
		return 0, 0
	}
	var cpuLim, cpuUse, memLim, memUse float64
	for _, r := range svc.replicas {
		cpuLim += r.cpuLimit
		cpuUse += r.cpu
		memLim += r.memLimit
		memUse += r.mem
	}
	per := func(limit, use float64) float64 {
		if limit > 0 {
			return limit / float64(len(svc.replicas))
		}
		return use / float64(len(svc.replicas))
	}
	return per(cpuLim, cpuUse) * float64(n), per(memLim, memUse) * float64(n)
}

// limits returns the average limits of a service's replicas (0 when none is set).
func limits(svc *service) (cpu, mem float64) {
	for _, r := range svc.replicas {
		cpu += r.cpuLimit
		mem += r.memLimit
	}
	if n := float64(len(svc.replicas)); n > 0 {
		return cpu / n, mem / n
	}
	return 0, 0
}

// capacity sums what the services' added replicas need and compares it
// with the idle CPU and available memory of the hosts, and with the
// Swarm's unreserved resources when inv is set.
func capacity(ctx context.Context, q QueryFunc, cfg Config, services []ServiceStatus, inv Inventory, now time.Time) Capacity {
	var c Capacity
	for _, s := range services {
		c.NeededCPUCores += s.NeedCPUCores
		c.NeededMemoryBytes += s.NeedMemoryBytes
	}
	if vals, ok := hostFigures(ctx, q, cfg, now); ok {
		c.Known = true
		c.CPUCores, c.FreeCPUCores = vals["cores"], vals["idle"]
		c.MemoryBytes, c.FreeMemoryBytes = vals["mem"], vals["mem_avail"]
		c.MissingCPUCores = max(0, c.NeededCPUCores-c.FreeCPUCores)
		c.MissingMemoryBytes = max(0, c.NeededMemoryBytes-c.FreeMemoryBytes)
		if c.MissingCPUCores > 0 || c.MissingMemoryBytes > 0 {
			c.Reason = fmt.Sprintf("recommended replicas do not fit: they need %s CPU and %s memory, the hosts have %s CPU and %s free; missing %s CPU and %s: time for a bigger host or another node",
				num(c.NeededCPUCores), byteSize(c.NeededMemoryBytes), num(c.FreeCPUCores), byteSize(c.FreeMemoryBytes), num(c.MissingCPUCores), byteSize(c.MissingMemoryBytes))
		}
	}
	if inv != nil {
		r := reservations(ctx, inv, services)
		c.Reservations = &r
		if r.Error == "" {
			c.Known = true
			c.MissingCPUCores = max(c.MissingCPUCores, r.MissingCPUCores)
			c.MissingMemoryBytes = max(c.MissingMemoryBytes, r.MissingMemoryBytes)
			if r.MissingCPUCores > 0 || r.MissingMemoryBytes > 0 {
				if c.Reason != "" {
					c.Reason += "; "
				}
				c.Reason += fmt.Sprintf("the Swarm cannot place them: their reservations need %s CPU and %s memory, the %d node(s) have %s CPU and %s unreserved; missing %s CPU and %s",
					num(r.NeededCPUCores), byteSize(r.NeededMemoryBytes), r.Nodes, num(r.CPUCores-r.ReservedCPUCores), byteSize(r.MemoryBytes-r.ReservedMemoryBytes), num(r.MissingCPUCores), byteSize(r.MissingMemoryBytes))
			}
		}
	}
	if !c.Known {
		c.Reason = "capacity unknown: the node collector's series (node_cpu_seconds_total, node_memory_MemAvailable_bytes) are missing"
	}
	return c
}

func hostFigures(ctx context.Context, q QueryFunc, cfg Config, now time.Time) (map[string]float64, bool) {
	vals := map[string]float64{}
	for name, expr := range capacityQueries(cfg.RateWindow.D()) {
		v, err := q(ctx, expr, now)
		if err != nil || len(v) == 0 {
			return nil, false
		}
		vals[name] = v[0].F
	}
	return vals, true
}

// reservations is what the Swarm services' extra replicas reserve against
// what the nodes have left.
func reservations(ctx context.Context, inv Inventory, services []ServiceStatus) ReservationCapacity {
	res, err := inv.Resources(ctx)
	if err != nil {
		return ReservationCapacity{Error: err.Error()}
	}
	r := ReservationCapacity{Resources: res}
	for _, s := range services {
		per, ok := res.Services[s.Name]
		if s.Kind != "swarm" || !ok || s.Desired <= s.Current {
			continue
		}
		n := float64(s.Desired - s.Current)
		r.NeededCPUCores += per.CPUCores * n
		r.NeededMemoryBytes += per.MemoryBytes * n
	}
	r.MissingCPUCores = max(0, r.NeededCPUCores-(res.CPUCores-res.ReservedCPUCores))
	r.MissingMemoryBytes = max(0, r.NeededMemoryBytes-(res.MemoryBytes-res.ReservedMemoryBytes))
	return r
}

func byteSize(b float64) string {
	const unit = 1024
	if b < unit {
		return fmt.Sprintf("%.0f B", b)
	}
	div, exp := float64(unit), 0
	for n := b / unit; n >= unit && exp < 4; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", b/div, "KMGTP"[exp])
}

// RightSizing is a recommended limit from a service's usage history.
type RightSizing struct {
	CPULimitCores      float64 `json:"cpu_limit_cores"`
	MemoryLimitBytes   float64 `json:"memory_limit_bytes"`
	CurrentCPUCores    float64 `json:"current_cpu_limit_cores"`
	CurrentMemoryBytes float64 `json:"current_memory_limit_bytes"`
	Reason             string  `json:"reason"`
}

// rightSizingQueries: a quantile of each container's usage over the
// window (CPU: of its step-long averages), the highest container of each
// service, plus headroom.
func rightSizingQueries(cfg Config) (cpu, mem string) {
	rs := cfg.RightSizing
	by := `swarm_service, compose_project, compose_service`
	f := 1 + rs.HeadroomPercent/100
	cpu = fmt.Sprintf(`max by (%s) (quantile_over_time(%g, rate(container_cpu_usage_seconds_total[%s])[%s:%s])) * %g`,
		by, rs.Quantile, shortDur(rs.Step.D()), shortDur(rs.Window.D()), shortDur(rs.Step.D()), f)
	mem = fmt.Sprintf(`max by (%s) (quantile_over_time(%g, container_memory_working_set_bytes[%s])) * %g`,
		by, rs.Quantile, shortDur(rs.Window.D()), f)
	return cpu, mem
}

// rightSize runs the history queries every right_sizing.interval and
// attaches the figures to each service.
func (s *Scaler) rightSize(ctx context.Context, cfg Config, res *Result, now time.Time) {
	s.mu.RLock()
	due := s.sized.IsZero() || now.Sub(s.sized) >= cfg.RightSizing.Interval.D()
	s.mu.RUnlock()
	if due {
		sizing := map[string]RightSizing{}
		cpuQ, memQ := rightSizingQueries(cfg)
		for i, expr := range []string{cpuQ, memQ} {
			v, err := s.query(ctx, expr, now)
			if err != nil {
				s.logger.Warn("right-sizing query failed", "err", err)
				return
			}
			for _, smp := range v {
				key := smp.Metric.Get("swarm_service")
				if key == "" {
					key = smp.Metric.Get("compose_project") + "/" + smp.Metric.Get("compose_service")
				}
				rs := sizing[key]
				if i == 0 {
					rs.CPULimitCores = smp.F
				} else {
					rs.MemoryLimitBytes = smp.F
				}
				sizing[key] = rs
			}
		}
		s.mu.Lock()
		s.sizing, s.sized = sizing, now
		s.mu.Unlock()
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range res.Services {
		st := &res.Services[i]
		rs, ok := s.sizing[st.Service]
		if !ok {
			continue
		}
		rs.CurrentCPUCores, rs.CurrentMemoryBytes = st.CPULimitCores, st.MemoryLimitBytes
		rs.Reason = fmt.Sprintf("p%g of usage over %s plus %g%% headroom", cfg.RightSizing.Quantile*100, shortDur(cfg.RightSizing.Window.D()), cfg.RightSizing.HeadroomPercent)
		st.RightSizing = &rs
	}
}

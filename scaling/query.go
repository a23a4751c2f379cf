package scaling

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// QueryFunc evaluates an instant PromQL query at ts, as Prometheus'
// rules.QueryFunc does (rules.EngineQueryFunc(engine, db) fits).
type QueryFunc func(ctx context.Context, expr string, ts time.Time) (promql.Vector, error)

// svcKey names a service: a Swarm service by its name, a Compose service
// by project and service.
type svcKey struct {
	compose bool
	project string
	name    string
}

func keyOf(s ServiceConfig) svcKey {
	if p, n, ok := strings.Cut(s.Service, "/"); ok {
		return svcKey{compose: true, project: p, name: n}
	}
	return svcKey{name: s.Service}
}

// replica is one running container of a service, as the container
// collector (cAdvisor's names) reports it.
type replica struct {
	instance, id, name string
	ready              bool
	cpu, cpuLimit      float64
	mem, memLimit      float64
	hasCPU, hasMem     bool
}

// service is what the TSDB says about one service.
type service struct {
	stack    string
	mode     string  // replicated, global, replicated-job, global-job, compose
	desired  float64 // the spec's replicas (vigie_service_replicas_desired)
	known    bool
	replicas []*replica
}

// snapshot is one evaluation's reading of the TSDB.
type snapshot struct {
	services map[svcKey]*service
}

// The queries, over the container collector's series (collector/container).
const (
	qReplicas = `vigie_service_replicas_desired`
	qRunning  = `vigie_container_state{state="running"} == 1`
	qUnready  = `vigie_container_health_status{status!="healthy"} == 1`
	qCPULimit = `container_spec_cpu_quota / container_spec_cpu_period`
	qMem      = `container_memory_working_set_bytes`
	qMemLimit = `container_spec_memory_limit_bytes > 0`
)

func qCPU(window time.Duration) string {
	return fmt.Sprintf(`rate(container_cpu_usage_seconds_total[%s])`, shortDur(window))
}

// read runs the queries of one evaluation: a handful for all services
// together, whatever their number.
func read(ctx context.Context, q QueryFunc, cfg Config, now time.Time) (*snapshot, error) {
	snap := &snapshot{services: map[svcKey]*service{}}
	get := func(k svcKey) *service {
		s := snap.services[k]
		if s == nil {
			s = &service{}
			snap.services[k] = s
		}
		return s
	}
	v, err := q(ctx, qReplicas, now)
	if err != nil {
		return nil, fmt.Errorf("query replicas: %w", err)
	}
	for _, smp := range v {
		l := smp.Metric
		k := svcKey{name: l.Get("service")}
		if l.Get("mode") == "compose" {
			k = svcKey{compose: true, project: l.Get("stack"), name: l.Get("service")}
		}
		s := get(k)
		s.known, s.desired, s.stack, s.mode = true, smp.F, l.Get("stack"), l.Get("mode")
	}
	byID := map[string]*replica{}
	v, err = q(ctx, qRunning, now)
	if err != nil {
		return nil, fmt.Errorf("query running containers: %w", err)
	}
	for _, smp := range v {
		l := smp.Metric
		var k svcKey
		switch {
		case l.Get("swarm_service") != "":
			k = svcKey{name: l.Get("swarm_service")}
		case l.Get("compose_service") != "":
			k = svcKey{compose: true, project: l.Get("compose_project"), name: l.Get("compose_service")}
		default:
			continue
		}
		r := &replica{instance: l.Get("instance"), id: l.Get("id"), name: l.Get("name"), ready: true}
		byID[r.instance+"/"+r.id] = r
		s := get(k)
		s.replicas = append(s.replicas, r)
	}
	each := func(expr string, f func(r *replica, v float64)) error {
		v, err := q(ctx, expr, now)
		if err != nil {
			return fmt.Errorf("query %s: %w", expr, err)
		}
		for _, smp := range v {
			if r := byID[smp.Metric.Get("instance")+"/"+smp.Metric.Get("id")]; r != nil {
				f(r, smp.F)
			}
		}
		return nil
	}
	needCPU, needMem := cfg.uses()
	steps := []struct {
		need bool
		expr string
		f    func(r *replica, v float64)
	}{
		{true, qUnready, func(r *replica, _ float64) { r.ready = false }},
		{needCPU, qCPU(cfg.RateWindow.D()), func(r *replica, v float64) { r.cpu, r.hasCPU = v, true }},
		{true, qCPULimit, func(r *replica, v float64) { r.cpuLimit = v }},
		{needMem, qMem, func(r *replica, v float64) { r.mem, r.hasMem = v, true }},
		{true, qMemLimit, func(r *replica, v float64) { r.memLimit = v }},
	}
	for _, st := range steps {
		if !st.need {
			continue
		}
		if err := each(st.expr, st.f); err != nil {
			return nil, err
		}
	}
	return snap, nil
}

// uses tells which resource metrics some service targets.
func (c Config) uses() (cpu, mem bool) {
	for _, s := range c.Services {
		for _, m := range s.Metrics {
			cpu = cpu || m.CPU != nil
			mem = mem || m.Memory != nil
		}
	}
	return cpu, mem
}

// inputs builds the algorithm's metric inputs for one service.
func inputs(ctx context.Context, q QueryFunc, sc ServiceConfig, svc *service, now time.Time) []MetricInput {
	var out []MetricInput
	for _, m := range sc.Metrics {
		switch {
		case m.CPU != nil:
			out = append(out, resource("cpu", *m.CPU, svc, "CPU limit (deploy.resources.limits.cpus)",
				func(r *replica) (float64, bool, float64) { return r.cpu, r.hasCPU, r.cpuLimit }))
		case m.Memory != nil:
			out = append(out, resource("memory", *m.Memory, svc, "memory limit (deploy.resources.limits.memory)",
				func(r *replica) (float64, bool, float64) { return r.mem, r.hasMem, r.memLimit }))
		default:
			out = append(out, exprInput(ctx, q, m, svc, now))
		}
	}
	return out
}

func resource(name string, target float64, svc *service, limitName string, get func(*replica) (float64, bool, float64)) MetricInput {
	m := MetricInput{Name: name, Utilization: true, Target: target}
	for _, r := range svc.replicas {
		v, ok, limit := get(r)
		if limit <= 0 {
			m.Invalid = fmt.Sprintf("replica %s has no %s: utilisation needs one", r.name, limitName)
			return m
		}
		m.Replicas = append(m.Replicas, Replica{Name: r.name, Value: v, HasValue: ok, Request: limit, Ready: r.ready})
	}
	if len(svc.replicas) == 0 {
		m.Invalid = "no running replica"
	}
	return m
}

// exprInput takes one sample of the expression per replica; replicas that
// run without a sample count as missing.
func exprInput(ctx context.Context, q QueryFunc, mc MetricConfig, svc *service, now time.Time) MetricInput {
	name := mc.Name
	if name == "" {
		name = mc.Expr
	}
	m := MetricInput{Name: name, Target: *mc.Target}
	v, err := q(ctx, mc.Expr, now)
	if err != nil {
		m.Invalid = fmt.Sprintf("query failed: %v", err)
		return m
	}
	if len(v) == 0 {
		m.Invalid = "the expression returned no sample"
		return m
	}
	for _, s := range v {
		m.Replicas = append(m.Replicas, Replica{Name: replicaName(s.Metric), Value: s.F, HasValue: true, Ready: true})
	}
	for i := len(v); i < len(svc.replicas); i++ {
		m.Replicas = append(m.Replicas, Replica{Name: svc.replicas[i].name})
	}
	return m
}

func replicaName(l labels.Labels) string {
	if n := l.Get("name"); n != "" {
		return n
	}
	return l.String()
}

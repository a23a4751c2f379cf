package scaling

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	desiredDesc   = prometheus.NewDesc("vigie_scaling_desired_replicas", "Replicas the HPA algorithm recommends for the service.", []string{"service", "stack"}, nil)
	currentDesc   = prometheus.NewDesc("vigie_scaling_current_replicas", "Replicas the service is set to run.", []string{"service", "stack"}, nil)
	proposedDesc  = prometheus.NewDesc("vigie_scaling_proposed_replicas", "Replicas the metrics propose before stabilisation, policies and bounds.", []string{"service", "stack"}, nil)
	limitedDesc   = prometheus.NewDesc("vigie_scaling_limited", "1 when the recommendation was limited or withheld for the reason (max_replicas, min_replicas, scale_up_policy, scale_down_policy, stabilisation, invalid_metric, unknown_service, not_replicated, scaled_to_zero, capacity).", []string{"service", "stack", "reason"}, nil)
	metricValDesc = prometheus.NewDesc("vigie_scaling_metric_value", "The service's current value of a scaling metric: utilisation in percent of the limit, or the average per replica.", []string{"service", "stack", "metric"}, nil)
	metricTgtDesc = prometheus.NewDesc("vigie_scaling_metric_target", "The target of a scaling metric, in the unit of vigie_scaling_metric_value.", []string{"service", "stack", "metric"}, nil)
	missCPUDesc   = prometheus.NewDesc("vigie_scaling_capacity_missing_cpu_cores", "CPU cores the recommended extra replicas need beyond what the hosts have idle.", nil, nil)
	missMemDesc   = prometheus.NewDesc("vigie_scaling_capacity_missing_memory_bytes", "Memory the recommended extra replicas need beyond what the hosts have available.", nil, nil)
	needCPUDesc   = prometheus.NewDesc("vigie_scaling_capacity_needed_cpu_cores", "CPU cores the recommended extra replicas need (their limits, or usage without limits).", nil, nil)
	needMemDesc   = prometheus.NewDesc("vigie_scaling_capacity_needed_memory_bytes", "Memory the recommended extra replicas need (their limits, or usage without limits).", nil, nil)
	recCPUDesc    = prometheus.NewDesc("vigie_scaling_recommended_cpu_limit_cores", "Recommended CPU limit per replica: a quantile of usage over the right-sizing window plus headroom.", []string{"service", "stack"}, nil)
	recMemDesc    = prometheus.NewDesc("vigie_scaling_recommended_memory_limit_bytes", "Recommended memory limit per replica: a quantile of usage over the right-sizing window plus headroom.", []string{"service", "stack"}, nil)
)

// metrics exposes the last evaluation, and counts evaluations and actions.
type metrics struct {
	s        *Scaler
	evals    *prometheus.CounterVec
	duration prometheus.Gauge
	actions  *prometheus.CounterVec
}

func newMetrics(s *Scaler) *metrics {
	return &metrics{
		s: s,
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigie_scaling_evaluations_total",
			Help: "Scaling evaluations, by result (success, failure)."}, []string{"result"}),
		duration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigie_scaling_evaluation_duration_seconds",
			Help: "Duration of the last scaling evaluation."}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigie_scaling_actions_total",
			Help: "Scalings done by apply mode, by result (applied, dry_run, failed)."}, []string{"service", "stack", "result"}),
	}
}

func (m *metrics) observe(took time.Duration, ok bool) {
	m.duration.Set(took.Seconds())
	if ok {
		m.evals.WithLabelValues("success").Inc()
	} else {
		m.evals.WithLabelValues("failure").Inc()
	}
}

func (m *metrics) action(service, stack, result string) {
	m.actions.WithLabelValues(service, stack, result).Inc()
}

// Describe sends nothing: the set of series follows the configuration.
func (m *metrics) Describe(chan<- *prometheus.Desc) {}

// Collect writes the last evaluation.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.evals.Collect(ch)
	m.duration.Collect(ch)
	m.actions.Collect(ch)
	res := m.s.Last()
	if res.Time.IsZero() {
		return
	}
	g := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	for _, st := range res.Services {
		name, stack := st.Name, st.Stack
		for _, l := range st.Limits {
			g(limitedDesc, 1, name, stack, l)
		}
		if !st.Known {
			continue
		}
		g(desiredDesc, float64(st.Desired), name, stack)
		g(currentDesc, float64(st.Current), name, stack)
		g(proposedDesc, float64(st.Proposed), name, stack)
		for _, mr := range st.Metrics {
			if mr.Valid {
				g(metricValDesc, mr.Value, name, stack, mr.Name)
				g(metricTgtDesc, mr.Target, name, stack, mr.Name)
			}
		}
		if rs := st.RightSizing; rs != nil {
			if rs.CPULimitCores > 0 {
				g(recCPUDesc, rs.CPULimitCores, name, stack)
			}
			if rs.MemoryLimitBytes > 0 {
				g(recMemDesc, rs.MemoryLimitBytes, name, stack)
			}
		}
	}
	if c := res.Capacity; c.Known {
		g(missCPUDesc, c.MissingCPUCores)
		g(missMemDesc, c.MissingMemoryBytes)
		g(needCPUDesc, c.NeededCPUCores)
		g(needMemDesc, c.NeededMemoryBytes)
	}
}

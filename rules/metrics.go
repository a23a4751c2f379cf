package rules

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promrules "github.com/prometheus/prometheus/rules"
)

// metrics are vigie_rule_* (Prometheus's own prometheus_rule_* are
// registered too, by the rules engine).
type metrics struct {
	duration *prometheus.HistogramVec
	evals    *prometheus.CounterVec
	failures *prometheus.CounterVec
	delay    prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, m *Manager) *metrics {
	x := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigie_rule_evaluation_duration_seconds",
			Help:    "Time taken by one evaluation round of a rule group.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"rule_group"}),
		evals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_rule_evaluations_total",
			Help: "Rule evaluations, per rule group (one per rule per round).",
		}, []string{"rule_group"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_rule_evaluation_failures_total",
			Help: "Rule evaluations that failed (query error, or results that could not be stored), per rule group.",
		}, []string{"rule_group"}),
		delay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "vigie_rule_evaluation_delay_seconds",
			Help:    "Time from a collection's timestamp to the start of the rule evaluations it triggered.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5},
		}),
	}
	alerts := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "vigie_alerts",
		Help:        "Active alerts, by state (pending or firing).",
		ConstLabels: prometheus.Labels{"state": "firing"},
	}, func() float64 { return float64(m.countAlerts(promrules.StateFiring)) })
	pending := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "vigie_alerts",
		Help:        "Active alerts, by state (pending or firing).",
		ConstLabels: prometheus.Labels{"state": "pending"},
	}, func() float64 { return float64(m.countAlerts(promrules.StatePending)) })
	if reg != nil {
		reg.MustRegister(x.duration, x.evals, x.failures, x.delay, alerts, pending)
	}
	return x
}

func (x *metrics) observe(g *group, d time.Duration) {
	x.duration.WithLabelValues(g.key).Observe(d.Seconds())
	rs := g.g.Rules()
	x.evals.WithLabelValues(g.key).Add(float64(len(rs)))
	failed := 0
	for _, r := range rs {
		if r.LastError() != nil {
			failed++
		}
	}
	c := x.failures.WithLabelValues(g.key)
	if failed > 0 {
		c.Add(float64(failed))
	}
}

// forget drops the series of a removed group, here and in Prometheus's metrics.
func (x *metrics) forget(pm *promrules.Metrics, key string) {
	x.duration.DeleteLabelValues(key)
	x.evals.DeleteLabelValues(key)
	x.failures.DeleteLabelValues(key)
	if pm == nil {
		return
	}
	for _, v := range []interface{ DeleteLabelValues(...string) bool }{
		pm.IterationsMissed, pm.IterationsScheduled, pm.EvalTotal, pm.EvalFailures, pm.GroupInterval,
		pm.GroupLastEvalTime, pm.GroupLastDuration, pm.GroupRules, pm.GroupSamples,
		pm.GroupLastRuleDurationSum, pm.GroupLastRestoreDuration,
	} {
		v.DeleteLabelValues(key)
	}
}

func (m *Manager) countAlerts(state promrules.AlertState) int {
	n := 0
	for _, g := range m.ruleGroups() {
		for _, r := range g.AlertingRules() {
			for _, a := range r.ActiveAlerts() {
				if a.State == state {
					n++
				}
			}
		}
	}
	return n
}

func (m *Manager) ruleGroups() []*promrules.Group {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]*promrules.Group, len(m.groups))
	for i, g := range m.groups {
		out[i] = g.g
	}
	return out
}

package uptime

import (
	"context"
	"sort"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/uptime/probe"
)

// Collector serves the latest result of every probe at each gather.
type Collector struct{ m *Manager }

var _ collector.Collector = Collector{}

// Collector returns the collector to add to the collector.Set.
func (m *Manager) Collector() Collector { return Collector{m: m} }

// Name is the collector label of vigie_collector_success.
func (Collector) Name() string { return "uptime" }

// Update sends, for each probe that has run, probe_success (after flap
// damping), probe_duration_seconds and the prober's own families, labelled
// instance (the target), job (the group) and the probe's labels.
func (c Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	for _, ps := range c.m.Probes() {
		if ps.Last == nil || ps.State == nil || ctx.Err() != nil {
			continue
		}
		base, values := baseLabels(ps.Config)
		up := 0.0
		if ps.State.Up {
			up = 1
		}
		send := func(name, help string, names, vals []string, v float64) {
			desc := prometheus.NewDesc(name, help, append(append([]string{}, names...), base...), nil)
			m, err := prometheus.NewConstMetric(desc, prometheus.GaugeValue, v, append(append([]string{}, vals...), values...)...)
			if err == nil {
				ch <- m
			}
		}
		send("probe_success", "Displays whether or not the probe was a success", nil, nil, up)
		send("probe_duration_seconds", "Returns how long the probe took to complete in seconds", nil, nil, ps.Last.Duration.Seconds())
		send("vigie_probe_consecutive_failures", "Failed checks in a row of the probe (flap damping counts them).", nil, nil, float64(ps.State.ConsecutiveFailures))
		for _, m := range ps.Last.Metrics {
			send(m.Name, m.Help, m.LabelNames, m.LabelValues, m.Value)
		}
	}
	return nil
}

// baseLabels are instance, job and the probe's own labels, sorted.
func baseLabels(c probe.Config) ([]string, []string) {
	names := []string{"instance", "job"}
	values := []string{c.Instance(), c.Group}
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		names, values = append(names, k), append(values, c.Labels[k])
	}
	return names, values
}

package node

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
)

// updateMeminfo reports every /proc/meminfo field as node_memory_<Field>[_bytes].
func (c *Collector) updateMeminfo(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("meminfo")
	if err != nil {
		return err
	}
	return parseMeminfo(b, c.scratch, func(key []byte, v float64) {
		d, ok := c.memDescs[string(key)]
		if !ok {
			k := string(key)
			d = prometheus.NewDesc("node_memory_"+k, "Memory information field "+k+".", nil, nil)
			c.memDescs[k] = d
		}
		ch <- gauge(d, v)
	})
}

// updateVmstat reports the selected /proc/vmstat fields as node_vmstat_<field> (untyped, as node_exporter).
func (c *Collector) updateVmstat(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("vmstat")
	if err != nil {
		return err
	}
	return parseKeyValues(b, func(key []byte, v float64) {
		d, ok := c.vmstatDescs[string(key)]
		if !ok {
			k := string(key)
			if c.vmstatFields.MatchString(k) {
				d = prometheus.NewDesc("node_vmstat_"+k, "/proc/vmstat information field "+k+".", nil, nil)
			}
			c.vmstatDescs[k] = d
		}
		if d != nil {
			ch <- untyped(d, v)
		}
	})
}

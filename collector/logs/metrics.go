package logs

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the pipeline's and sources' counters; a prometheus.Collector.
type Metrics struct {
	lines       *prometheus.CounterVec
	matches     *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	truncated   prometheus.Counter
	invalidUTF8 prometheus.Counter
	fileEvents  *prometheus.CounterVec
	files       prometheus.Gauge

	forwarded       *prometheus.CounterVec
	forwardFailures *prometheus.CounterVec
}

// DropStoreError is the reason of vigie_log_lines_dropped_total when the
// store refused a push's entries (files are read again instead).
const DropStoreError = "store_error"

// NewMetrics builds the counters (register them with prometheus.Registerer.Register).
func NewMetrics() *Metrics {
	return &Metrics{
		lines: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_lines_total", Help: "Log entries processed, by source and detected level.",
		}, []string{"source", "level"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_pattern_matches_total", Help: "Log entries that matched a pattern (reason: the postgres failure, the HTTP status...).",
		}, []string{"pattern", "reason", "source"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_lines_dropped_total", Help: "Log entries not stored, by reason.",
		}, []string{"reason"}),
		truncated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_log_lines_truncated_total", Help: "Lines cut at logs.max_line_size.",
		}),
		invalidUTF8: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_log_lines_invalid_utf8_total", Help: "Lines whose invalid UTF-8 was replaced by U+FFFD.",
		}),
		fileEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_file_events_total", Help: "Tailed file events: opened, rotated (renamed), truncated (copytruncate), removed, read_error.",
		}, []string{"event"}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_log_files_watched", Help: "Files being tailed.",
		}),
		forwarded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_forwarded_total", Help: "Log entries an external Loki accepted.",
		}, []string{"url"}),
		forwardFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_forward_failures_total", Help: "Pushes to an external Loki that failed and will be retried.",
		}, []string{"url"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.lines, m.matches, m.dropped, m.truncated, m.invalidUTF8, m.fileEvents, m.files, m.forwarded, m.forwardFailures}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

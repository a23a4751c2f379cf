package notify

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent           *prometheus.CounterVec
	failed         *prometheus.CounterVec
	queued         prometheus.Gauge
	latency        *prometheus.HistogramVec
	alertsReceived prometheus.Counter
	rejected       *prometheus.CounterVec
	logRepeats     prometheus.Counter
}

// Reasons of vigie_notify_alerts_rejected_total.
const (
	rejectPerRequest  = "max_alerts_per_request"
	rejectActiveLimit = "max_active_alerts"
	rejectBodySize    = "max_request_size"
	rejectInvalid     = "invalid"
)

func newMetrics(reg prometheus.Registerer, n *Notifier) *metrics {
	m := &metrics{
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_notifications_sent_total", Help: "Notifications delivered, by receiver and integration.",
		}, []string{"receiver", "integration"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_notifications_failed_total",
			Help: "Failed delivery attempts, by receiver and reason (timeout, unreachable, auth, rate_limited, server_error, rejected, template, expired, unknown_receiver, other).",
		}, []string{"receiver", "reason"}),
		queued: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_notifications_queued", Help: "Notifications in the outbox waiting for delivery.",
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigie_notification_delivery_seconds", Help: "Time from queueing a notification to its delivery.",
			Buckets: []float64{.01, .05, .1, .5, 1, 5, 30, 60, 300, 1800, 3600},
		}, []string{"receiver"}),
		alertsReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_notify_alerts_received_total", Help: "Alerts received by the notifier.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_notify_alerts_rejected_total",
			Help: "Alerts refused by the notifier, by reason: the limit that refused them (max_alerts_per_request, max_active_alerts; max_request_size counts one per request) or invalid (one per request).",
		}, []string{"reason"}),
		logRepeats: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_notify_log_repeated_errors_total",
			Help: "Errors logged at debug instead of warn because they repeated the previous one (a full disk, an unreachable provider).",
		}),
	}
	for _, r := range []string{rejectPerRequest, rejectActiveLimit, rejectBodySize, rejectInvalid} {
		m.rejected.WithLabelValues(r)
	}
	if reg != nil {
		groups := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigie_notify_alert_groups", Help: "Alert groups being tracked.",
		}, func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			return float64(len(n.groups))
		})
		reg.MustRegister(m.sent, m.failed, m.queued, m.latency, m.alertsReceived, m.rejected, m.logRepeats, groups)
	}
	return m
}

package notify

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	sent           *prometheus.CounterVec
	failed         *prometheus.CounterVec
	queued         prometheus.Gauge
	latency        *prometheus.HistogramVec
	alertsReceived prometheus.Counter
}

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
	}
	if reg != nil {
		groups := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "vigie_notify_alert_groups", Help: "Alert groups being tracked.",
		}, func() float64 {
			n.mu.Lock()
			defer n.mu.Unlock()
			return float64(len(n.groups))
		})
		reg.MustRegister(m.sent, m.failed, m.queued, m.latency, m.alertsReceived, groups)
	}
	return m
}

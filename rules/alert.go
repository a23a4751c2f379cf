package rules

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// Alert is one alert handed to the notification layer: the data
// Prometheus's notifier sends to Alertmanager, plus the rule's view of it.
type Alert struct {
	Labels      labels.Labels // identifying labels, alertname included
	Annotations labels.Labels
	// State is "firing" or "resolved".
	State string
	// Value is the expression's value at the last evaluation (for a
	// resolved alert: the last value while it was active).
	Value float64
	// ActiveAt is when the condition started holding (the `for` clock).
	ActiveAt time.Time
	// FiredAt is when this process saw it turn firing.
	FiredAt time.Time
	// StartsAt is when the alert started firing. After a restart it is the
	// start recorded in the alert history, not the restart.
	StartsAt time.Time
	// EndsAt is ValidUntil for a firing alert (the notification layer
	// should consider it resolved if not refreshed by then) and ResolvedAt
	// for a resolved one.
	EndsAt     time.Time
	ValidUntil time.Time
	ResolvedAt time.Time
	// GeneratorURL links to the expression in the query UI.
	GeneratorURL string
}

// Fingerprint identifies the alert by its labels, as Alertmanager does.
func (a Alert) Fingerprint() uint64 { return a.Labels.Hash() }

// Sink receives alerts to notify, as Prometheus's notifier receives them:
// every firing alert at its transition and again each resend_delay while it
// keeps firing, every resolved alert at its resolution (and again while the
// engine still holds it, up to 15 minutes). Send is called from the
// evaluation loop: it must queue and return, not deliver inline.
type Sink interface {
	Send(ctx context.Context, alerts []Alert)
}

// SinkFunc adapts a function to Sink.
type SinkFunc func(ctx context.Context, alerts []Alert)

// Send calls f.
func (f SinkFunc) Send(ctx context.Context, alerts []Alert) { f(ctx, alerts) }

// LogSink logs each alert it receives at debug level. The Manager itself
// logs every transition (firing, resolved) at info level, whatever the Sink.
type LogSink struct{ Logger *slog.Logger }

// Send logs the alerts.
func (s LogSink) Send(_ context.Context, alerts []Alert) {
	for _, a := range alerts {
		s.Logger.Debug("alert sent", "alertname", a.Labels.Get(labels.AlertName), "state", a.State,
			"labels", a.Labels.String(), "value", a.Value, "starts_at", a.StartsAt, "ends_at", a.EndsAt)
	}
}

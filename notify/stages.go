package notify

import (
	"log/slog"
	"time"
)

// A flush runs each due group through a linear pipeline of small stages,
// as Alertmanager's notify package does (time mute, inhibit, silence, then
// per integration: dedup and enqueue), without its context-value plumbing:
// each stage is a plain function built from what it needs for one flush,
// pure, and tested on its own (stages_test.go). The flush (flush.go) takes
// a snapshot under the notifier's lock, runs the stages without it, writes
// to SQLite, and takes the lock again to record the outcome.

// flushAlert is an alert going through a flush, with what the stages
// learned about it.
type flushAlert struct {
	*alertEntry
	resolved bool // ended at the flush's time
	muted    bool // silenced or inhibited
	acked    bool // acknowledged (meaningful for firing alerts)
}

// stage takes a group's alerts and returns the ones that go on, marked.
type stage func([]flushAlert) []flushAlert

// runStages runs the stages in order. A stage returns nil to stop the
// group's pipeline (an empty, non-nil list goes on: a group whose alerts
// are gone still clears its notification log).
func runStages(alerts []flushAlert, stages ...stage) []flushAlert {
	for _, s := range stages {
		if alerts == nil {
			return nil
		}
		alerts = s(alerts)
	}
	return alerts
}

// newFlushAlerts starts a group's pipeline: its alerts, resolved or not at now.
func newFlushAlerts(alerts []*alertEntry, now time.Time) []flushAlert {
	out := make([]flushAlert, len(alerts)) // non-nil even when empty
	for i, a := range alerts {
		out[i] = flushAlert{alertEntry: a, resolved: a.Resolved(now)}
	}
	return out
}

// timeMuteStage stops the whole group while the route's time intervals
// keep it quiet (mute_time_intervals, active_time_intervals).
func timeMuteStage(rc *runtimeConfig, r *routeNode, groupKey string, now time.Time, logger *slog.Logger) stage {
	return func(as []flushAlert) []flushAlert {
		if rc.routeMuted(r, now) {
			logger.Debug("group muted by a time interval", "group", groupKey)
			return nil
		}
		return as
	}
}

// inhibitStage marks the alerts that firing alerts inhibit.
func inhibitStage(inh *inhibitor) stage {
	return func(as []flushAlert) []flushAlert {
		for i := range as {
			if !as[i].muted && len(inh.inhibitedBy(as[i].fpStr, as[i].Labels)) > 0 {
				as[i].muted = true
			}
		}
		return as
	}
}

// silenceStage marks the alerts an active silence mutes. silences are the
// live (pending or active) ones only: expired silences are never scanned.
func silenceStage(silences []*Silence, now time.Time) stage {
	return func(as []flushAlert) []flushAlert {
		for i := range as {
			if as[i].muted {
				continue
			}
			for _, s := range silences {
				if s.active(now) && s.matchers.Matches(as[i].Labels) {
					as[i].muted = true
					break
				}
			}
		}
		return as
	}
}

// ackStage marks the alerts acknowledged for this incident.
func ackStage(acks map[string]*Ack, now time.Time) stage {
	return func(as []flushAlert) []flushAlert {
		for i := range as {
			if a, ok := acks[as[i].fpStr]; ok && a.valid(as[i].alertEntry, now) {
				as[i].acked = true
			}
		}
		return as
	}
}

// suppressStage drops, for one integration, the muted alerts it is not to
// hear about: a muted firing alert goes on (to stay in the notification
// log, unsent) only if the integration was told it fired, so that its
// resolution goes out later; a muted resolved alert goes on only if it was
// told firing or the route sends resolutions when muted.
func suppressStage(entry *logEntry, resolvedMuted bool) stage {
	return func(as []flushAlert) []flushAlert {
		out := make([]flushAlert, 0, len(as))
		for _, a := range as {
			told := entry != nil && entry.firing[a.fpStr]
			if a.muted && !told && (!a.resolved || !resolvedMuted) {
				continue
			}
			out = append(out, a)
		}
		return out
	}
}

// dedupDecision is what dedup decided for one integration of one group.
type dedupDecision struct {
	// firing and resolved are the sets the notification log records.
	firing, resolved map[string]bool
	// sendFiring and sendResolved are the alerts the notification carries.
	sendFiring, sendResolved []flushAlert
}

// dedup is Alertmanager's dedup stage: from the alerts that went through
// suppressStage and the integration's last log entry, whether anything
// must be told (ok) and what.
func dedup(entry *logEntry, as []flushAlert, sendResolved, resolvedMuted bool, repeat time.Duration, now time.Time) (d dedupDecision, ok bool) {
	d.firing, d.resolved = map[string]bool{}, map[string]bool{}
	allAcked := true
	for _, a := range as {
		switch {
		case a.resolved:
			d.resolved[a.fpStr] = true
			d.sendResolved = append(d.sendResolved, a)
		case a.muted:
			// Told before, muted now: kept in the log, not repeated.
			d.firing[a.fpStr] = true
		default:
			d.firing[a.fpStr] = true
			d.sendFiring = append(d.sendFiring, a)
			allAcked = allAcked && a.acked
		}
	}
	return d, needsUpdate(entry, d.firing, d.resolved, sendResolved, resolvedMuted, allAcked, repeat, now)
}

// enqueueStage builds the outbox row of a decision, or nil when there is
// nothing to send (the log entry is still written: it records, say, that
// every alert resolved without send_resolved).
func enqueueStage(g *groupSnapshot, integ *integration, d dedupDecision, now time.Time) *outboxRow {
	if len(d.sendFiring) == 0 && (!integ.sendResolved || len(d.sendResolved) == 0) {
		return nil
	}
	send := make([]payloadAlert, 0, len(d.sendFiring)+len(d.sendResolved))
	for _, a := range d.sendFiring {
		send = append(send, payloadAlert{Alert: a.Alert, Fingerprint: a.fpStr, Status: "firing"})
	}
	if integ.sendResolved {
		for _, a := range d.sendResolved {
			send = append(send, payloadAlert{Alert: a.Alert, Fingerprint: a.fpStr, Status: "resolved"})
		}
	}
	status := "firing"
	if len(d.sendFiring) == 0 {
		status = "resolved"
	}
	return &outboxRow{
		Receiver: g.route.receiver, Integration: integ.name, GroupKey: g.key, NotifStatus: status,
		Firing: len(d.sendFiring), Resolved: len(send) - len(d.sendFiring), CreatedAt: now, NextAttempt: now,
		Payload: &payload{Receiver: g.route.receiver, GroupKey: g.key, GroupLabels: g.labels, Status: status, Alerts: send},
	}
}

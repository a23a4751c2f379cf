package notify

import (
	"context"
	"log/slog"
	"sort"
	"time"
)

// flushSnapshot is what a flush needs, copied under the notifier's lock.
// Alert entries, log entries, silences and acks are never mutated once
// stored (they are replaced), so the snapshot holds pointers to them.
type flushSnapshot struct {
	now    time.Time
	rc     *runtimeConfig
	groups []*groupSnapshot
	// nflog holds the log entries of the due groups' integrations.
	nflog    map[string]*logEntry
	inh      *inhibitor
	silences []*Silence             // live ones: pending or active
	acks     map[string]*Ack        // of the due groups' alerts
	changed  []*Silence             // expire-on-resolve bookkeeping to persist
	seen     map[string]*alertEntry // fingerprint → the entry the flush saw
}

// groupSnapshot is one due group.
type groupSnapshot struct {
	key    string
	route  *routeNode
	labels map[string]string
	alerts []*alertEntry // sorted by fingerprint
}

// flushDue flushes every group due at now and returns the notifications
// it queued. The stages run on a snapshot and the database is written
// without the notifier's lock held, so Put and the API are not blocked by
// SQLite; flushMu keeps flushes one at a time.
func (n *Notifier) flushDue(ctx context.Context, now time.Time) ([]*outboxRow, error) {
	rows, _, err := n.flush(ctx, now)
	return rows, err
}

// flush is flushDue that also says whether anything was due (ran): the
// Run loop tells a flush that worked from one that had nothing to do.
func (n *Notifier) flush(ctx context.Context, now time.Time) (rows []*outboxRow, ran bool, err error) {
	n.flushMu.Lock()
	defer n.flushMu.Unlock()
	snap := n.snapshotDue(now)
	if snap == nil {
		return nil, false, nil
	}
	rows, logs := planFlush(snap, n.logger)
	err = n.persistFlush(ctx, rows, logs, snap.changed)
	n.recordFlush(snap, logs, err)
	if err != nil {
		return nil, true, err
	}
	if len(rows) > 0 {
		n.metrics.queued.Add(float64(len(rows)))
		n.wake(n.wakeOutbox)
	}
	return rows, true, nil
}

// snapshotDue copies, under the lock, what the flush at now needs; nil
// when nothing is due.
func (n *Notifier) snapshotDue(now time.Time) *flushSnapshot {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := &flushSnapshot{now: now, rc: n.rc, nflog: map[string]*logEntry{}, acks: map[string]*Ack{}, seen: map[string]*alertEntry{}}
	s.changed = n.expireResolvedSilences(now)
	s.silences = n.liveSilencesAt(now)
	for _, g := range n.groups {
		if g.nextFlush.After(now) {
			continue
		}
		gs := &groupSnapshot{key: g.key, route: g.route, labels: g.labels, alerts: make([]*alertEntry, 0, len(g.fps))}
		for fp := range g.fps {
			a := n.alerts[fp]
			if a == nil {
				delete(g.fps, fp)
				continue
			}
			gs.alerts = append(gs.alerts, a)
			s.seen[a.fpStr] = a
			if ack, ok := n.acks[a.fpStr]; ok {
				s.acks[a.fpStr] = ack
			}
		}
		sort.Slice(gs.alerts, func(i, j int) bool { return gs.alerts[i].fpStr < gs.alerts[j].fpStr })
		for _, integ := range n.rc.integrations[g.route.receiver] {
			lk := logKey(g.route.receiver, integ.name, g.key)
			if e := n.nflog[lk]; e != nil {
				s.nflog[lk] = e
			}
		}
		s.groups = append(s.groups, gs)
	}
	if len(s.groups) == 0 && len(s.changed) == 0 {
		return nil
	}
	sort.Slice(s.groups, func(i, j int) bool { return s.groups[i].key < s.groups[j].key })
	s.inh = newInhibitor(n.rc.inhibit, n.alerts, now)
	return s
}

// planFlush runs every due group through the stages: the notifications to
// queue and the notification log entries to write. It is pure.
func planFlush(s *flushSnapshot, logger *slog.Logger) (rows []*outboxRow, logs []*logEntry) {
	for _, g := range s.groups {
		alerts := runStages(newFlushAlerts(g.alerts, s.now),
			timeMuteStage(s.rc, g.route, g.key, s.now, logger),
			inhibitStage(s.inh),
			silenceStage(s.silences, s.now),
			ackStage(s.acks, s.now),
		)
		if alerts == nil {
			continue // time-muted
		}
		for _, integ := range s.rc.integrations[g.route.receiver] {
			entry := s.nflog[logKey(g.route.receiver, integ.name, g.key)]
			as := runStages(alerts, suppressStage(entry, g.route.resolvedMuted))
			d, ok := dedup(entry, as, integ.sendResolved, g.route.resolvedMuted, g.route.repeatInterval, s.now)
			if !ok {
				continue
			}
			logs = append(logs, &logEntry{receiver: g.route.receiver, integration: integ.name, groupKey: g.key, firing: d.firing, resolved: d.resolved, at: s.now})
			if r := enqueueStage(g, integ, d, s.now); r != nil {
				rows = append(rows, r)
			}
		}
	}
	return rows, logs
}

// recordFlush takes the lock again to record a flush's outcome: the log
// entries written, the groups' next flush times, and resolved alerts
// leaving their groups. Alerts changed by a Put while the flush was
// writing stay: the next flush tells them.
func (n *Notifier) recordFlush(s *flushSnapshot, logs []*logEntry, err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if err != nil {
		for _, gs := range s.groups {
			if g := n.groups[gs.key]; g != nil {
				g.nextFlush = s.now.Add(time.Second)
			}
		}
		return
	}
	for _, e := range logs {
		n.nflog[e.key()] = e
	}
	for _, gs := range s.groups {
		g := n.groups[gs.key]
		if g == nil {
			continue
		}
		g.nextFlush, g.flushed = s.now.Add(g.route.groupInterval), true
		// Resolved alerts have been told (or didn't need to be): they leave their groups.
		for fp := range g.fps {
			a := n.alerts[fp]
			if a == nil || (a.Resolved(s.now) && s.seen[a.fpStr] == a) {
				delete(g.fps, fp)
			}
		}
		if len(g.fps) == 0 {
			delete(n.groups, g.key)
		}
	}
	n.gcAlerts(s.now)
}

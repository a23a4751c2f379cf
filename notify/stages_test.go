package notify

import (
	"context"
	"database/sql"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/common/model"
)

var stageNow = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// entry builds an alert entry; resolved ones ended a minute before stageNow.
func entry(name string, resolved bool, lbls ...string) *alertEntry {
	a := firingAt(stageNow, alert(name, lbls...))
	a.StartsAt = stageNow.Add(-time.Hour)
	if resolved {
		a.EndsAt = stageNow.Add(-time.Minute)
	}
	fp := fingerprint(a.Labels)
	return &alertEntry{Alert: a, fp: fp, fpStr: fp.String()}
}

// names writes flushAlerts as name[:muted][:acked][:resolved].
func names(as []flushAlert) []string {
	out := []string{}
	for _, a := range as {
		s := a.Name()
		if a.muted {
			s += ":muted"
		}
		if a.acked {
			s += ":acked"
		}
		if a.resolved {
			s += ":resolved"
		}
		out = append(out, s)
	}
	return out
}

func TestTimeMuteStage(t *testing.T) {
	cfg := mustConfig(t, routingConfig)
	rc, err := compileConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var staging *routeNode
	for _, r := range rc.routes {
		if r.receiver == "staging" {
			staging = r
		}
	}
	sunday2h30Paris := time.Date(2026, 3, 1, 1, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		route *routeNode
		at    time.Time
		want  []string
	}{
		{"root route never muted", rc.root, sunday2h30Paris, []string{"A"}},
		{"staging in its maintenance window", staging, sunday2h30Paris, nil},
		{"staging outside it", staging, stageNow, []string{"A"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runStages(newFlushAlerts([]*alertEntry{entry("A", false)}, tc.at), timeMuteStage(rc, tc.route, "g", tc.at, slog.New(slog.DiscardHandler)))
			if tc.want == nil {
				if got != nil {
					t.Fatalf("got %v, want the pipeline stopped", names(got))
				}
				return
			}
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("got %v, want %v", names(got), tc.want)
			}
		})
	}
}

func TestMarkingStages(t *testing.T) {
	hostDown := entry("HostDown", false, "instance", "h1")
	warnH1 := entry("DiskFull", false, "instance", "h1", "severity", "warning")
	warnH2 := entry("DiskFull", false, "instance", "h2", "severity", "warning")
	hushed := entry("Hushed", false)
	resolvedHushed := entry("Hushed", true, "instance", "old")
	all := map[model.Fingerprint]*alertEntry{}
	for _, a := range []*alertEntry{hostDown, warnH1, warnH2, hushed, resolvedHushed} {
		all[a.fp] = a
	}
	inhRule := []inhibitRule{{source: mustMatchers(t, `alertname="HostDown"`), target: mustMatchers(t, `severity="warning"`), equal: []string{"instance"}}}
	sil := &Silence{ID: "s1", StartsAt: stageNow.Add(-time.Hour), EndsAt: stageNow.Add(time.Hour), matchers: mustMatchers(t, `alertname="Hushed"`)}
	pending := &Silence{ID: "s2", StartsAt: stageNow.Add(time.Hour), EndsAt: stageNow.Add(2 * time.Hour), matchers: mustMatchers(t, `alertname="HostDown"`)}
	acks := map[string]*Ack{
		warnH2.fpStr:   {Fingerprint: warnH2.fpStr, StartsAt: warnH2.StartsAt, ExpiresAt: stageNow.Add(time.Hour)},
		hostDown.fpStr: {Fingerprint: hostDown.fpStr, StartsAt: hostDown.StartsAt.Add(-time.Hour), ExpiresAt: stageNow.Add(time.Hour)}, // an earlier incident
	}
	in := []*alertEntry{hostDown, warnH1, warnH2, hushed, resolvedHushed}
	for _, tc := range []struct {
		name  string
		stage stage
		want  []string
	}{
		{"inhibit: a warning on the host that is down", inhibitStage(newInhibitor(inhRule, all, stageNow)),
			[]string{"HostDown", "DiskFull:muted", "DiskFull", "Hushed", "Hushed:resolved"}},
		{"silence: active ones mute, pending ones do not", silenceStage([]*Silence{sil, pending}, stageNow),
			[]string{"HostDown", "DiskFull", "DiskFull", "Hushed:muted", "Hushed:muted:resolved"}},
		{"ack: this incident only", ackStage(acks, stageNow),
			[]string{"HostDown", "DiskFull", "DiskFull:acked", "Hushed", "Hushed:resolved"}},
		{"ack: expired", ackStage(acks, stageNow.Add(2*time.Hour)),
			[]string{"HostDown", "DiskFull", "DiskFull", "Hushed", "Hushed:resolved"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := runStages(newFlushAlerts(in, stageNow), tc.stage)
			if !slices.Equal(names(got), tc.want) {
				t.Fatalf("got %v, want %v", names(got), tc.want)
			}
		})
	}
}

func TestSuppressAndDedup(t *testing.T) {
	a, b := entry("A", false), entry("B", false)
	ra := entry("A", true)
	fl := func(e *alertEntry, muted, acked bool) flushAlert {
		return flushAlert{alertEntry: e, resolved: e.Resolved(stageNow), muted: muted, acked: acked}
	}
	told := func(at time.Duration, fps ...*alertEntry) *logEntry {
		e := &logEntry{firing: map[string]bool{}, resolved: map[string]bool{}, at: stageNow.Add(-at)}
		for _, f := range fps {
			e.firing[f.fpStr] = true
		}
		return e
	}
	for _, tc := range []struct {
		name          string
		entry         *logEntry
		in            []flushAlert
		sendResolved  bool
		resolvedMuted bool
		wantOK        bool
		wantSend      []string
		wantFiring    int
	}{
		{"new group", nil, []flushAlert{fl(a, false, false)}, true, false, true, []string{"A"}, 1},
		{"muted, never told: nothing", nil, []flushAlert{fl(a, true, false)}, true, false, false, nil, 0},
		{"muted, told before: kept in the log, not repeated", told(2*time.Hour, a), []flushAlert{fl(a, true, false), fl(b, false, false)}, true, false, true, []string{"B"}, 2},
		{"same alerts within repeat_interval", told(time.Minute, a), []flushAlert{fl(a, false, false)}, true, false, false, nil, 1},
		{"same alerts after repeat_interval", told(2*time.Hour, a), []flushAlert{fl(a, false, false)}, true, false, true, []string{"A"}, 1},
		{"acknowledged: not repeated", told(2*time.Hour, a), []flushAlert{fl(a, false, true)}, true, false, false, nil, 1},
		{"resolved after being told", told(time.Minute, a), []flushAlert{fl(ra, false, false)}, true, false, true, []string{"A:resolved"}, 0},
		{"resolved while muted, never told", nil, []flushAlert{fl(ra, true, false)}, true, false, false, nil, 0},
		{"resolved while muted, send_resolved_when_muted", nil, []flushAlert{fl(ra, true, false)}, true, true, true, []string{"A:muted:resolved"}, 0},
		{"resolved without send_resolved: log cleared", told(time.Minute, a), []flushAlert{fl(ra, false, false)}, false, false, true, []string{"A:resolved"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			as := runStages(tc.in, suppressStage(tc.entry, tc.resolvedMuted))
			d, ok := dedup(tc.entry, as, tc.sendResolved, tc.resolvedMuted, time.Hour, stageNow)
			if ok != tc.wantOK {
				t.Fatalf("needs update = %v, want %v", ok, tc.wantOK)
			}
			if !ok {
				return
			}
			got := names(append(append([]flushAlert{}, d.sendFiring...), d.sendResolved...))
			if !slices.Equal(got, nonNil(tc.wantSend)) || len(d.firing) != tc.wantFiring {
				t.Fatalf("send %v with %d logged firing, want %v with %d", got, len(d.firing), tc.wantSend, tc.wantFiring)
			}
			g := &groupSnapshot{key: "k", route: &routeNode{receiver: "ops"}, labels: map[string]string{}}
			row := enqueueStage(g, &integration{name: "webhook[0]", sendResolved: tc.sendResolved}, d, stageNow)
			wantRow := len(d.sendFiring) > 0 || (tc.sendResolved && len(d.sendResolved) > 0)
			if (row != nil) != wantRow {
				t.Fatalf("outbox row %v, want one: %v", row, wantRow)
			}
		})
	}
}

// TestFlushWritesOutsideTheLock holds SQLite's write lock from a second
// connection: the flush waits on the database while Put and the API,
// which need only the notifier's lock, go on.
func TestFlushWritesOutsideTheLock(t *testing.T) {
	clock := &fakeClock{t: stageNow}
	n, path := newTestNotifier(t, mustConfig(t, routingConfig), clock.Now)
	ctx := context.Background()
	if err := n.Put(ctx, firingAt(stageNow, alert("A"))); err != nil {
		t.Fatal(err)
	}
	other, err := sql.Open("sqlite3", "file:"+path+"?_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	tx, err := other.Begin()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := n.flushDue(ctx, stageNow.Add(time.Minute))
		done <- err
	}()
	// The flush is in (or about to be in) its write: the lock is free.
	eventually(t, 5*time.Second, "the flush to start", func() bool {
		if n.flushMu.TryLock() {
			n.flushMu.Unlock()
			return false
		}
		return true
	})
	if err := n.Put(ctx, firingAt(stageNow, alert("B"))); err != nil {
		t.Fatal(err)
	}
	if got := len(n.Alerts()); got != 2 {
		t.Fatalf("alerts during the flush: %d", got)
	}
	select {
	case err := <-done:
		t.Fatalf("the flush ended (%v) before Put could run: it held the lock across its write", err)
	default:
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/storage"
)

// TestStateStaysBoundedOverAYear runs a simulated year of hourly alerts on
// an injected clock: every hour a new alert (its own group) fires, is
// delivered, resolves and is delivered again; a silence is created and
// expires; an alert is acknowledged. Hourly maintenance keeps every table
// and the notifier's memory under a bound set by the retention, where
// nothing would otherwise be deleted.
func TestStateStaysBoundedOverAYear(t *testing.T) {
	var received atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { received.Add(1) }))
	t.Cleanup(srv.Close)
	cfg := mustConfig(t, fmt.Sprintf(`
route:
  receiver: ops
  group_by: [alertname, instance]
  group_wait: 0s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: ops
    webhook_configs: [{url: %q}]
`, srv.URL))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	n, _ := newTestNotifier(t, cfg, clock.Now)
	const retention = 14 * 24 * time.Hour
	maint := storage.NewMaintenance(storage.MaintenanceOptions{Retention: retention, Now: clock.Now, Logger: testLogger(t)})
	maint.Add("notify", n)
	ctx := context.Background()
	deliver := func(rows []*outboxRow) {
		for _, r := range rows {
			n.deliver(ctx, r)
		}
	}
	step := func(at time.Time, alerts ...Alert) {
		t.Helper()
		clock.Set(at)
		if err := n.Put(ctx, alerts...); err != nil {
			t.Fatal(err)
		}
		rows, err := n.flushDue(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		deliver(rows)
	}
	// Bound: what retention keeps (one of each per hour), plus a day of slack.
	bound := int((retention + 24*time.Hour) / time.Hour)
	const hours = 365 * 24
	for h := range hours {
		at := start.Add(time.Duration(h) * time.Hour)
		a := alert("Hourly", "instance", fmt.Sprintf("host-%d", h))
		step(at, firingAt(at, a))
		if _, err := n.AddSilence(ctx, Silence{Matchers: APIMatchers(mustMatchers(t, fmt.Sprintf(`instance="host-%d"`, h+1))),
			EndsAt: at.Add(10 * time.Minute), CreatedBy: "test"}); err != nil {
			t.Fatal(err)
		}
		if _, err := n.Acknowledge(ctx, a.Fingerprint(), "test", "", 5*time.Minute); err != nil {
			t.Fatal(err)
		}
		step(at.Add(30*time.Minute), resolvedAt(at.Add(30*time.Minute), a))
		// A flush after group_interval lets the resolved group go.
		step(at.Add(32 * time.Minute))
		clock.Set(at.Add(59 * time.Minute))
		maint.RunOnce(ctx)
		if h%(7*24) == 0 || h == hours-1 {
			assertBounded(t, n, bound, at)
		}
	}
	if got := received.Load(); got != 2*hours {
		t.Fatalf("webhook received %d notifications, want %d", got, 2*hours)
	}
}

func assertBounded(t *testing.T, n *Notifier, bound int, at time.Time) {
	t.Helper()
	for _, table := range []string{"notify_silences", "notify_log", "notify_outbox", "notify_acks", "notify_threads"} {
		var c int
		if err := n.db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&c); err != nil {
			t.Fatal(err)
		}
		if c > bound {
			t.Fatalf("%s: %s has %d rows, bound %d", at.Format(time.DateOnly), table, c, bound)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for what, c := range map[string]int{"silences": len(n.silences), "live silences": len(n.live), "log": len(n.nflog),
		"alerts": len(n.alerts), "groups": len(n.groups), "acks": len(n.acks)} {
		if c > bound {
			t.Fatalf("%s: %d %s in memory, bound %d", at.Format(time.DateOnly), c, what, bound)
		}
	}
	if len(n.live) > 2 {
		t.Fatalf("%d live silences: expired ones are still scanned", len(n.live))
	}
}

package notify

import (
	"context"
	"fmt"
	"net"
	"net/mail"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func plainMailConfig(addr, extra string) string {
	return fmt.Sprintf(`
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 20ms
  group_interval: 100ms
  repeat_interval: 1h
receivers:
  - name: mail
    email_configs:
      - {to: ops@example.com, from: vigie@example.com, smarthost: %q, require_tls: false}
delivery: {min_backoff: 20ms, max_backoff: 100ms}
%s`, addr, extra)
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func subjects(t *testing.T, s *smtpServer) []string {
	var out []string
	for _, m := range s.messages() {
		msg, err := mail.ReadMessage(strings.NewReader(string(m.data)))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, msg.Header.Get("Subject"))
	}
	sort.Strings(out)
	return out
}

// The SMTP server is down for a while, then up: every queued notification
// is delivered exactly once.
func TestSMTPDownThenUp(t *testing.T) {
	addr := freeAddr(t)
	n, _ := newTestNotifier(t, mustConfig(t, plainMailConfig(addr, "")), nil)
	runNotifier(t, n)
	ctx := context.Background()
	const groups = 5
	for i := range groups {
		if err := n.Put(ctx, firingAt(time.Now(), alert(fmt.Sprintf("Alert%d", i), "instance", "h1"))); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "failed attempts of every notification", func() bool {
		list, err := n.Notifications(context.Background(), 100, "pending", "")
		if err != nil || len(list) != groups {
			return false
		}
		for _, nt := range list {
			if nt.Attempts < 2 || nt.LastError == "" {
				return false
			}
		}
		return true
	})
	if q := testutil.ToFloat64(n.metrics.queued); q != groups {
		t.Errorf("vigie_notifications_queued = %v, want %d", q, groups)
	}
	if f := testutil.ToFloat64(n.metrics.failed.WithLabelValues("mail", "unreachable")); f < 2*groups {
		t.Errorf("vigie_notifications_failed_total{reason=unreachable} = %v", f)
	}
	srv := &smtpServer{addr: addr}
	srv.start(t)
	eventually(t, 10*time.Second, "every notification delivered", func() bool { return len(srv.messages()) >= groups })
	// Every notification is sent and the flushes of the next group
	// intervals queue nothing: nothing more comes.
	waitOutboxIdle(t, n)
	assertFlushesQueueNothing(t, n, time.Now(), intervals(5, 100*time.Millisecond)...)
	got := subjects(t, srv)
	var want []string
	for i := range groups {
		want = append(want, fmt.Sprintf("[FIRING:1] Alert%d", i))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("delivered %q, want each of %q exactly once", got, want)
	}
	list, _ := n.Notifications(context.Background(), 100, "", "")
	for _, nt := range list {
		if nt.Status != "sent" || nt.Response == "" {
			t.Errorf("notification %+v", nt)
		}
	}
	eventually(t, 5*time.Second, "queued gauge at 0", func() bool { return testutil.ToFloat64(n.metrics.queued) == 0 })
}

// vigie dies (no shutdown at all) with undelivered notifications in the
// outbox: after a restart on the same database they are delivered, and no
// firing group is notified twice before repeat_interval.
func TestCrashRecovery(t *testing.T) {
	addr := freeAddr(t)
	cfg := mustConfig(t, plainMailConfig(addr, ""))
	ctx := context.Background()
	n1, path := newTestNotifier(t, cfg, nil)
	// The first vigie routes and queues, then "dies" before its outbox worker runs:
	// it is abandoned, nothing is stopped or closed.
	alerts := []Alert{firingAt(time.Now(), alert("Down", "instance", "h1")), firingAt(time.Now(), alert("Slow", "instance", "h1"))}
	if err := n1.Put(ctx, alerts...); err != nil {
		t.Fatal(err)
	}
	rows, err := n1.flushDue(ctx, time.Now().Add(20*time.Millisecond)) // past group_wait
	if err != nil || len(rows) != 2 {
		t.Fatalf("queued %d notifications (%v), want 2", len(rows), err)
	}

	srv := &smtpServer{addr: addr}
	srv.start(t)
	n2, err := New(cfg, Options{State: openState(t, path), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	runNotifier(t, n2)
	// The rules engine re-sends its firing alerts to the new vigie.
	if err := n2.Put(ctx, alerts...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the queued notifications delivered", func() bool { return len(srv.messages()) >= 2 })
	// Several group intervals later, still no second notification of these
	// firing groups: the rules engine keeps re-sending, the flushes of the
	// next intervals queue nothing.
	waitOutboxIdle(t, n2)
	now := time.Now()
	for i := range 5 {
		if err := n2.Put(ctx, alerts...); err != nil {
			t.Fatal(err)
		}
		assertFlushesQueueNothing(t, n2, now, time.Duration(i+1)*100*time.Millisecond)
	}
	if got := subjects(t, srv); strings.Join(got, "|") != "[FIRING:1] Down|[FIRING:1] Slow" {
		t.Fatalf("delivered %q", got)
	}

	// A second crash, after delivery, with a new alert joining a group: only the change goes out.
	n3, err := New(cfg, Options{State: openState(t, path), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	runNotifier(t, n3)
	more := append(alerts, firingAt(time.Now(), alert("Down", "instance", "h2")))
	if err := n3.Put(ctx, more...); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the group's update", func() bool { return len(srv.messages()) >= 3 })
	waitOutboxIdle(t, n3)
	// Neither vigie on this database has anything more to send.
	assertFlushesQueueNothing(t, n3, time.Now(), intervals(3, 100*time.Millisecond)...)
	assertFlushesQueueNothing(t, n2, time.Now(), intervals(3, 100*time.Millisecond)...)
	if got := subjects(t, srv); strings.Join(got, "|") != "[FIRING:1] Down|[FIRING:1] Slow|[FIRING:2] Down" {
		t.Fatalf("delivered %q", got)
	}
}

// A receiver that keeps failing gets the fallback receiver told, once.
func TestFallbackReceiver(t *testing.T) {
	fallback := &smtpServer{}
	fallback.start(t)
	cfg := mustConfig(t, fmt.Sprintf(`
route: {receiver: broken, group_wait: 0s}
receivers:
  - name: broken
    email_configs: [{to: a@example.com, from: v@example.com, smarthost: %q, require_tls: false}]
  - name: backup
    email_configs: [{to: b@example.com, from: v@example.com, smarthost: %q, require_tls: false}]
delivery: {min_backoff: 20ms, max_backoff: 50ms, fallback_receiver: backup, fallback_after: 100ms}
`, freeAddr(t), fallback.addr))
	n, _ := newTestNotifier(t, cfg, nil)
	runNotifier(t, n)
	if err := n.Put(context.Background(), firingAt(time.Now(), alert("A"))); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the fallback mail", func() bool { return len(fallback.messages()) == 1 })
	// The broken receiver keeps failing: three more failed attempts later,
	// the fallback has still been told only once.
	attempts := func() int {
		list, err := n.Notifications(context.Background(), 10, "pending", "broken")
		if err != nil || len(list) != 1 {
			t.Fatalf("pending notifications of broken: %v %v", list, err)
		}
		return list[0].Attempts
	}
	seen := attempts()
	eventually(t, 10*time.Second, "three more failed attempts", func() bool { return attempts() >= seen+3 })
	if list, _ := n.Notifications(context.Background(), 10, "", "backup"); len(list) != 1 || len(fallback.messages()) != 1 {
		t.Fatalf("fallback told %d times, %d notifications queued for it", len(fallback.messages()), len(list))
	}
	p := parseMail(t, fallback.messages()[0].data)
	if s := p.header.Get("Subject"); !strings.HasPrefix(s, "[fallback for broken]") {
		t.Errorf("subject %q", s)
	}
	if !strings.Contains(p.text, "receiver broken (email[0]) has failed") {
		t.Errorf("text does not say why:\n%s", p.text)
	}
}

package notify

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func mustConfig(t testing.TB, y string) Config {
	t.Helper()
	cfg := DefaultConfig()
	if err := config.Decode("notify.yml", []byte(y), &cfg); err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func openState(t testing.TB, path string) *storage.State {
	t.Helper()
	st, err := storage.OpenState(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// newTestNotifier opens a notifier on a fresh state database; now may be nil.
func newTestNotifier(t testing.TB, cfg Config, now func() time.Time) (*Notifier, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	n, err := New(cfg, Options{State: openState(t, path), Logger: testLogger(t), Now: now, ExternalURL: "http://vigie.test:9753"})
	if err != nil {
		t.Fatal(err)
	}
	return n, path
}

// runNotifier runs n until the test ends and waits for Run to return.
func runNotifier(t testing.TB, n *Notifier) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = n.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func alert(name string, lbls ...string) Alert {
	a := Alert{Labels: map[string]string{"alertname": name}, Annotations: map[string]string{"summary": name + " summary"}}
	for i := 0; i+1 < len(lbls); i += 2 {
		a.Labels[lbls[i]] = lbls[i+1]
	}
	return a
}

// firingAt and resolvedAt set the alert's end as Prometheus does.
func firingAt(now time.Time, a Alert) Alert   { a.EndsAt = now.Add(24 * time.Hour); return a }
func resolvedAt(now time.Time, a Alert) Alert { a.EndsAt = now; return a }

// describe writes a queued notification as "receiver status {group} name@instance:status,...".
func describe(r *outboxRow) string {
	var as []string
	for _, a := range r.Payload.Alerts {
		id := a.Labels["alertname"]
		if i := a.Labels["instance"]; i != "" {
			id += "@" + i
		}
		as = append(as, id+":"+a.Status)
	}
	sort.Strings(as)
	return fmt.Sprintf("%s %s %s %s", r.Receiver, r.NotifStatus, labelsString(r.GroupLabels()), strings.Join(as, ","))
}

func (r *outboxRow) GroupLabels() map[string]string { return r.Payload.GroupLabels }

func describeAll(rows []*outboxRow) []string {
	out := []string{}
	for _, r := range rows {
		out = append(out, describe(r))
	}
	sort.Strings(out)
	return out
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// waitOutboxIdle waits until n's outbox holds no pending notification:
// every queued one has been sent (or given up), so the outbox worker will
// send nothing more unless a flush queues something new.
func waitOutboxIdle(t testing.TB, n *Notifier) {
	t.Helper()
	eventually(t, 10*time.Second, "an outbox with nothing pending", func() bool {
		list, err := n.Notifications(context.Background(), 1, "pending", "")
		return err == nil && len(list) == 0
	})
}

// assertFlushesQueueNothing flushes n's groups as if each of the given
// delays had passed since now, in order, and fails if any flush queues a
// notification. With an idle outbox this proves "nothing more is sent"
// without waiting: the dispatcher would run exactly these flushes.
func assertFlushesQueueNothing(t testing.TB, n *Notifier, now time.Time, after ...time.Duration) {
	t.Helper()
	for _, d := range after {
		rows, err := n.flushDue(context.Background(), now.Add(d))
		if err != nil {
			t.Fatalf("flush at +%s: %v", d, err)
		}
		if len(rows) != 0 {
			t.Fatalf("flush at +%s queued %q, want nothing", d, describeAll(rows))
		}
	}
}

// intervals returns n delays, one every step: the flushes of n group or
// repeat intervals.
func intervals(n int, step time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration(i+1) * step
	}
	return out
}

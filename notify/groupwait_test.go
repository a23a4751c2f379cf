package notify

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A new group is flushed group_wait after its first alert even when the
// dispatcher was idle (it used to sleep until its next idle wake-up, up to a
// minute later).
func TestNewGroupFlushedAfterGroupWaitWhenIdle(t *testing.T) {
	arrived := make(chan time.Time, 4)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- time.Now()
	}))
	t.Cleanup(hook.Close)
	cfg := mustConfig(t, fmt.Sprintf(`route:
  receiver: hook
  group_wait: 300ms
  group_interval: 1h
receivers:
  - name: hook
    webhook_configs: [{url: %q}]
`, hook.URL))
	n, _ := newTestNotifier(t, cfg, nil)
	waits := make(chan time.Duration, 1)
	n.onDispatchWait = func(d time.Duration) {
		select {
		case waits <- d:
		default:
		}
	}
	runNotifier(t, n)
	// Let the dispatcher settle into its idle wait first: with no group,
	// it waits a minute.
	select {
	case d := <-waits:
		if d != time.Minute {
			t.Fatalf("the idle dispatcher waits %s, want 1m", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dispatcher never waited")
	}
	a := alert("Idle")
	a.EndsAt = time.Now().Add(time.Hour)
	put := time.Now()
	if err := n.Put(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	select {
	case at := <-arrived:
		if d := at.Sub(put); d < 300*time.Millisecond || d > 5*time.Second {
			t.Fatalf("delivered %s after Put, want about group_wait (300ms)", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("not delivered within 10s of Put with group_wait 300ms")
	}
}

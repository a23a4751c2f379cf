package logs

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/logs"
)

// standInLoki records pushes; while down it answers 503.
type standInLoki struct {
	down     atomic.Bool
	attempts atomic.Int64
	mu       sync.Mutex
	lines    map[string]int
	tenants  map[string]int
}

func (l *standInLoki) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.attempts.Add(1)
	if l.down.Load() {
		http.Error(w, "ingester unavailable", http.StatusServiceUnavailable)
		return
	}
	body, _ := io.ReadAll(r.Body)
	pb, err := snappy.Decode(nil, body)
	var req push.PushRequest
	if err == nil {
		err = req.Unmarshal(pb)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tenants[r.Header.Get("X-Scope-OrgID")]++
	for _, s := range req.Streams {
		for _, e := range s.Entries {
			l.lines[s.Labels+" "+e.Line]++
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (l *standInLoki) received() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// TestForwardWhileLokiIsAway: lines arrive while the external Loki fails;
// they wait on disk (across a restart of the collector) and all arrive,
// once each, when Loki is back. Backoff is 1 ms so the test runs fast.
func TestForwardWhileLokiIsAway(t *testing.T) {
	loki := &standInLoki{lines: map[string]int{}, tenants: map[string]int{}}
	loki.down.Store(true)
	lsrv := httptest.NewServer(loki)
	t.Cleanup(lsrv.Close)

	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cfg := logs.DefaultConfig()
	cfg.PollInterval = config.Duration(20 * time.Millisecond)
	cfg.Forward = []logs.ForwardConfig{{URL: lsrv.URL + "/loki/api/v1/push", Tenant: "team-a"}}
	fast := func(int) time.Duration { return time.Millisecond }
	start := func() (*Collector, func()) {
		c, err := New(Options{Config: cfg, Store: store, Registerer: prometheus.NewRegistry(), Backoff: fast})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Go(func() { _ = c.Run(ctx) })
		return c, func() { cancel(); wg.Wait() }
	}
	c, stop := start()
	t.Cleanup(func() { stop() })
	const total = 2000
	for batch := range 4 {
		entries := make([]logs.Entry, 0, total/4)
		for i := range total / 4 {
			entries = append(entries, logs.Entry{Labels: labelsOf("job", "app"), TS: time.Now().UnixNano(), Line: fmt.Sprintf("line %04d", batch*total/4+i)})
		}
		if err := c.Push(context.Background(), entries); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "lines queued on disk and many failed pushes", func() bool {
		n, _ := store.QueueBytes(context.Background(), cfg.Forward[0].URL+"|team-a")
		return n > 0 && loki.attempts.Load() >= 50
	})
	stop() // the collector restarts while Loki is still away
	c, stop = start()
	waitFor(t, "more failed pushes after the restart", func() bool { return loki.attempts.Load() >= 100 })
	loki.down.Store(false)
	waitFor(t, "every line forwarded", func() bool { return loki.received() >= total })
	stop()
	loki.mu.Lock()
	defer loki.mu.Unlock()
	for k, n := range loki.lines {
		if n != 1 || !strings.HasPrefix(k, `{job="app", level="unknown"} line `) {
			t.Errorf("%q received %d times", k, n)
		}
	}
	if len(loki.lines) != total || len(loki.tenants) != 1 || loki.tenants["team-a"] == 0 {
		t.Errorf("%d lines, tenants %v", len(loki.lines), loki.tenants)
	}
	if v := testutil.ToFloat64(c.metrics.forwarded); v == 0 {
		t.Errorf("forwarded counter = %v", v)
	}
}

func labelsOf(kv ...string) labels.Labels { return labels.FromStrings(kv...) }

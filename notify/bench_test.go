package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

func benchNotifier(b *testing.B, hookURL string) *Notifier {
	b.Helper()
	cfg := mustConfig(b, fmt.Sprintf(`
route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1h, repeat_interval: 4h}
receivers: [{name: hook, webhook_configs: [{url: %q}]}]
delivery: {concurrency: 8}
`, hookURL))
	n, _ := newTestNotifier(b, cfg, nil)
	return n
}

// 10,000 alerts in 500 groups, routed, grouped, queued in the outbox and
// delivered to a webhook receiver that answers at once.
func BenchmarkThroughput10kAlerts500Groups(b *testing.B) {
	const groups, perGroup = 500, 20
	var got atomic.Int64
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m WebhookMessage
		_ = json.NewDecoder(r.Body).Decode(&m)
		got.Add(1)
	}))
	b.Cleanup(hook.Close)
	alerts := make([]Alert, 0, groups*perGroup)
	for g := range groups {
		for i := range perGroup {
			a := alert(fmt.Sprintf("Alert%03d", g), "instance", fmt.Sprintf("host-%02d", i), "severity", "warning", "job", "node")
			a.EndsAt = time.Now().Add(time.Hour)
			alerts = append(alerts, a)
		}
	}
	b.ReportAllocs()
	var total time.Duration
	var heap uint64
	for range b.N {
		b.StopTimer()
		n := benchNotifier(b, hook.URL)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = n.Run(ctx) }()
		got.Store(0)
		b.StartTimer()
		start := time.Now()
		if err := n.Put(ctx, alerts...); err != nil {
			b.Fatal(err)
		}
		for got.Load() < groups {
			time.Sleep(time.Millisecond)
		}
		total += time.Since(start)
		b.StopTimer()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = max(heap, ms.HeapInuse)
		cancel()
		<-done
		b.StartTimer()
	}
	b.ReportMetric(float64(groups*b.N)/total.Seconds(), "groups/s")
	b.ReportMetric(float64(groups*perGroup*b.N)/total.Seconds(), "alerts/s")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
}

// From Put to the receiver's HTTP handler with group_wait: 0s.
func BenchmarkPutToReceiverLatency(b *testing.B) {
	arrived := make(chan struct{}, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
	}))
	b.Cleanup(hook.Close)
	n := benchNotifier(b, hook.URL)
	runNotifier(b, n)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		a := alert(fmt.Sprintf("Latency%d", i))
		a.EndsAt = time.Now().Add(time.Hour)
		if err := n.Put(ctx, a); err != nil {
			b.Fatal(err)
		}
		<-arrived
	}
}

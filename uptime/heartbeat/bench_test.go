package heartbeat

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/internal/web"
)

// BenchmarkPing records success pings with a 1 KiB body through the
// handler (no network): one SQLite insert and prune per ping.
func BenchmarkPing(b *testing.B) {
	db := openStateB(b)
	h, err := New(context.Background(), Options{
		Config:  Config{Heartbeats: []HeartbeatConfig{{Name: "j", Period: config1h}}},
		StateDB: db,
	})
	if err != nil {
		b.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(h.Routes()...)
	url := h.List("http://x")[0].PingURL
	body := strings.Repeat("output line\n", 85)
	b.ResetTimer()
	for b.Loop() {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("POST", url+"/0", strings.NewReader(body)))
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
}

// BenchmarkCollect gathers 100 heartbeats' series.
func BenchmarkCollect(b *testing.B) {
	var cfg Config
	for i := range 100 {
		cfg.Heartbeats = append(cfg.Heartbeats, HeartbeatConfig{Name: "job" + string(rune('a'+i%26)) + strings.Repeat("x", i/26), Schedule: "0 3 * * *", Timezone: "Europe/Paris", Grace: config1h})
	}
	reg := prometheus.NewRegistry()
	if _, err := New(context.Background(), Options{Config: cfg, StateDB: openStateB(b), Registerer: reg}); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := reg.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}

var config1h = dur(time.Hour)

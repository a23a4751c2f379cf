package uptime

import (
	"context"
	"math"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
)

// fakeClock is the injected clock of history tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

func openState(t *testing.T, path string) *storage.State {
	t.Helper()
	st, err := storage.OpenState(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func defaultRetention() RetentionConfig { return DefaultConfig().Retention }

// A 90-day history written by two vigie processes (a restart on day 45)
// keeps every day, its incidents, and exact uptimes.
func TestHistoryRestartKeepsEveryDay(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "state.db")
	start := time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	// Every 2 hours; on day 10 the probe is down from 04:30 to 08:30 (3 checks down).
	write := func(h *History, fromDay, toDay int) {
		st := State{Up: true}
		if s, ok, _ := h.State(ctx, "web"); ok {
			st = s
		}
		for d := fromDay; d < toDay; d++ {
			for i := range 12 {
				now := start.AddDate(0, 0, d).Add(time.Duration(2*i) * time.Hour)
				clock.Set(now)
				ok := !(d == 10 && i >= 2 && i <= 4)
				incident := st.Up && !ok
				st.Up, st.LastCheck = ok, now
				if err := h.Record(ctx, Check{Probe: "web", Time: now, Success: ok, Up: ok, Duration: 100 * time.Millisecond}, st, incident); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	ret := RetentionConfig{Checks: config.Duration(7 * 24 * time.Hour), Daily: config.Duration(400 * 24 * time.Hour)}
	st := openState(t, path)
	h, err := OpenHistory(ctx, st, clock.Now, ret)
	if err != nil {
		t.Fatal(err)
	}
	write(h, 0, 45)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// The restart: a new database handle and history, migrations already applied.
	st = openState(t, path)
	t.Cleanup(func() { st.Close() })
	h, err = OpenHistory(ctx, st, clock.Now, ret)
	if err != nil {
		t.Fatal(err)
	}
	write(h, 45, 90)
	if err := h.Prune(ctx); err != nil {
		t.Fatal(err)
	}

	bars, err := h.Daily(ctx, "web", 90)
	if err != nil {
		t.Fatal(err)
	}
	if len(bars) != 90 || !bars[0].Day.Equal(start.Truncate(24*time.Hour)) {
		t.Fatalf("%d bars from %v", len(bars), bars[0].Day)
	}
	for i, b := range bars {
		want := 1.0
		if i == 10 {
			want = 9.0 / 12
			if b.Incidents != 1 {
				t.Errorf("day 10: %d incidents, want 1", b.Incidents)
			}
		}
		if b.Checks != 12 || b.Uptime != want {
			t.Errorf("day %d (%s): %d checks, uptime %v; want 12 and %v", i, b.Day.Format(dayFormat), b.Checks, b.Uptime, want)
		}
	}
	// Rows older than 7 days are gone; the 90d uptime comes from the aggregates and stays exact.
	if recent, _ := h.Recent(ctx, "web", 10000); len(recent) != 7*12+1 {
		t.Errorf("%d rows kept, want %d", len(recent), 7*12+1)
	}
	now := clock.Now()
	for _, tc := range []struct {
		since  time.Duration
		checks int
		ratio  float64
	}{
		{24*time.Hour - time.Minute, 12, 1},
		{7*24*time.Hour - time.Minute, 7 * 12, 1},
		{90*24*time.Hour - time.Minute, 90 * 12, 1 - 3.0/1080},
	} {
		ratio, checks, err := h.Uptime(ctx, "web", now.Add(-tc.since))
		if err != nil {
			t.Fatal(err)
		}
		if checks != tc.checks || math.Abs(ratio-tc.ratio) > 1e-12 {
			t.Errorf("uptime over %s: %v of %d checks, want %v of %d", tc.since, ratio, checks, tc.ratio, tc.checks)
		}
	}
	if r, n, _ := h.Uptime(ctx, "nothing", now.Add(-time.Hour)); r != -1 || n != 0 {
		t.Errorf("unknown probe uptime %v %d", r, n)
	}
	pts, err := h.ResponseTimes(ctx, "web", now.Add(-24*time.Hour), 6*time.Hour)
	if err != nil || len(pts) == 0 || pts[0].Seconds != 0.1 {
		t.Errorf("response times %+v %v", pts, err)
	}
}

// Past the daily retention, aggregates go too.
func TestHistoryPruneDaily(t *testing.T) {
	ctx := context.Background()
	st := openState(t, filepath.Join(t.TempDir(), "state.db"))
	t.Cleanup(func() { st.Close() })
	clock := &fakeClock{t: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)}
	h, err := OpenHistory(ctx, st, clock.Now, defaultRetention())
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Record(ctx, Check{Probe: "a", Time: clock.Now(), Success: true, Up: true}, State{Up: true}, false); err != nil {
		t.Fatal(err)
	}
	clock.Set(clock.Now().AddDate(0, 0, 401))
	if err := h.Prune(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	_ = st.DB.QueryRow(`SELECT COUNT(*) FROM uptime_daily`).Scan(&n)
	if n != 0 {
		t.Errorf("%d daily rows after 401 days", n)
	}
}

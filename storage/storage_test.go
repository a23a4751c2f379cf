package storage

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
)

func openTest(t testing.TB, dir string) *Storage {
	t.Helper()
	s, err := Open(context.Background(), dir, DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStateMigrationsAreVersionedAndIdempotent(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	st, err := OpenState(ctx, filepath.Join(dir, "vigie.db"))
	if err != nil {
		t.Fatal(err)
	}
	migs := []string{
		`CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL)`,
		`ALTER TABLE things ADD COLUMN note TEXT`,
	}
	if err := st.Migrate(ctx, "test", migs[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := st.DB.Exec(`INSERT INTO things (name) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err = OpenState(ctx, filepath.Join(dir, "vigie.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Re-running the first is a no-op; the second is applied once.
	for i := 0; i < 2; i++ {
		if err := st.Migrate(ctx, "test", migs); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := st.DB.QueryRow(`SELECT COUNT(*) FROM things WHERE note IS NULL`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows after migrations: %d, %v", n, err)
	}
	var v int
	_ = st.DB.QueryRow(`SELECT MAX(version) FROM schema_migrations WHERE component='test'`).Scan(&v)
	if v != 2 {
		t.Fatalf("version = %d, want 2", v)
	}
	// A database from a newer vigie is refused, not silently used.
	if err := st.Migrate(ctx, "test", migs[:1]); err == nil {
		t.Fatal("older migration list accepted on a newer database")
	}
	var mode string
	_ = st.DB.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal mode %q", mode)
	}
}

func TestCleanCloseKeepsSamples(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	app := s.TSDB.Appender(context.Background())
	ls := labels.FromStrings("__name__", "m", "a", "b")
	now := time.Now().UnixMilli()
	for i := int64(0); i < 10; i++ {
		if _, err := app.Append(0, ls, now-10000+i*1000, float64(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTest(t, dir)
	defer s.Close()
	q, err := s.TSDB.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	set := q.Select(context.Background(), false, nil, labels.MustNewMatcher(labels.MatchEqual, "__name__", "m"))
	n := 0
	for set.Next() {
		it := set.At().Iterator(nil)
		for it.Next() != 0 {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("%d samples after reopen, want 10", n)
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[string]Bytes{"512MB": 512 << 20, "10GB": 10 << 30, "1TB": 1 << 40, "0": 0, "1.5GB": 3 << 29} {
		var b Bytes
		if err := b.UnmarshalText([]byte(in)); err != nil || b != want {
			t.Errorf("%s → %d, %v; want %d", in, b, err, want)
		}
	}
	var b Bytes
	if err := b.UnmarshalText([]byte("5 pounds")); err == nil {
		t.Error("5 pounds accepted")
	}
}

// BenchmarkTSDBAppend measures raw append throughput into the embedded TSDB
// as collectors and scrapes use it: 1,000 series, one commit per round,
// series references cached as the ingester does.
func BenchmarkTSDBAppend(b *testing.B) {
	s := openTest(b, b.TempDir())
	defer s.Close()
	const series = 1000
	lsets := make([]labels.Labels, series)
	for i := range lsets {
		lsets[i] = labels.FromStrings("__name__", "bench_metric", "instance", "host", "series", fmt.Sprint(i))
	}
	refs := make([]storage.SeriesRef, series)
	ts := time.Now().UnixMilli()
	b.ResetTimer()
	samples := 0
	for i := 0; i < b.N; i++ {
		app := s.TSDB.Appender(context.Background())
		ts += 15000
		for j := range lsets {
			ref, err := app.Append(refs[j], lsets[j], ts, float64(i+j))
			if err != nil {
				b.Fatal(err)
			}
			refs[j] = ref
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
		samples += series
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
}

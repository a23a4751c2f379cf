package rules

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/storage"
)

func TestHistoryKeep(t *testing.T) {
	day := 24 * time.Hour
	for _, tc := range []struct{ own, state, want time.Duration }{
		{30 * day, 90 * day, 30 * day},
		{30 * day, 7 * day, 7 * day},
		{0, 90 * day, 30 * day}, // history_retention's default
		{10 * day, 0, 10 * day},
	} {
		if got := historyKeep(tc.own, tc.state); got != tc.want {
			t.Errorf("historyKeep(%s, %s) = %s, want %s", tc.own, tc.state, got, tc.want)
		}
	}
}

// TestHistoryBoundedOverAYear records a simulated year of hourly firings
// and resolutions, pruned hourly as storage.Maintenance does: the table
// stays under what the retention keeps, and an alert firing all year
// keeps its entry.
func TestHistoryBoundedOverAYear(t *testing.T) {
	ctx := context.Background()
	st, err := storage.OpenState(ctx, filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	h, err := openHistory(ctx, st, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	const keep = 30 * 24 * time.Hour
	insert := `INSERT INTO rules_alert_history (fingerprint, alertname, rule_group, labels, annotations, active_at, started_at, ended_at, fired_value, peak_value)
		VALUES (?, 'Hourly', 'f;g', '{}', '{}', ?, ?, ?, 1, 1)`
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.DB.Exec(insert, "forever", start.UnixMilli(), start.UnixMilli(), nil); err != nil {
		t.Fatal(err)
	}
	bound := int(keep/time.Hour) + 24
	for i := range 365 * 24 {
		at := start.Add(time.Duration(i) * time.Hour)
		if _, err := st.DB.Exec(insert, "hourly", at.UnixMilli(), at.UnixMilli(), at.Add(30*time.Minute).UnixMilli()); err != nil {
			t.Fatal(err)
		}
		if _, err := h.prune(ctx, at.Add(59*time.Minute).Add(-historyKeep(0, keep))); err != nil {
			t.Fatal(err)
		}
		var c int
		if err := st.DB.QueryRow(`SELECT COUNT(*) FROM rules_alert_history`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		if c > bound {
			t.Fatalf("%s: %d history rows, bound %d", at, c, bound)
		}
	}
	var open int
	_ = st.DB.QueryRow(`SELECT COUNT(*) FROM rules_alert_history WHERE ended_at IS NULL`).Scan(&open)
	if open != 1 {
		t.Fatalf("the alert firing all year lost its entry: %d open", open)
	}
}

package storage

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestMaintenanceRunsEveryPrunerWithTheRetention(t *testing.T) {
	now := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	reg := prometheus.NewRegistry()
	m := NewMaintenance(MaintenanceOptions{Retention: 48 * time.Hour, Now: func() time.Time { return now }, Logger: slog.New(slog.DiscardHandler), Registerer: reg})
	var got []time.Duration
	m.Add("broken", PrunerFunc(func(context.Context, time.Time, time.Duration) (int64, error) {
		return 0, errors.New("disk I/O error")
	}))
	m.Add("ok", PrunerFunc(func(_ context.Context, at time.Time, retention time.Duration) (int64, error) {
		if !at.Equal(now) {
			t.Errorf("pruner called at %s, want the injected clock's %s", at, now)
		}
		got = append(got, retention)
		return 3, nil
	}))
	if n := m.RunOnce(context.Background()); n != 3 {
		t.Fatalf("RunOnce = %d rows, want 3", n)
	}
	m.SetRetention(time.Hour)
	m.RunOnce(context.Background())
	if len(got) != 2 || got[0] != 48*time.Hour || got[1] != time.Hour {
		t.Fatalf("retentions passed = %v", got)
	}
	if v := testutil.ToFloat64(m.pruned.WithLabelValues("ok")); v != 6 {
		t.Fatalf("pruned rows metric = %v", v)
	}
	if v := testutil.ToFloat64(m.failures.WithLabelValues("broken")); v != 2 {
		t.Fatalf("failures metric = %v", v)
	}
}

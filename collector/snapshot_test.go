package collector

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSnapshotServesTheLastRound: Last() answers with the families of the
// last Gather, without collecting again, and gathers once before any round.
func TestSnapshotServesTheLastRound(t *testing.T) {
	reg := prometheus.NewRegistry()
	calls := 0
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "calls", Help: "x"}, func() float64 {
		calls++
		return float64(calls)
	}))
	s := NewSnapshot(reg)
	value := func(g prometheus.Gatherer) float64 {
		t.Helper()
		mfs, err := g.Gather()
		if err != nil || len(mfs) != 1 {
			t.Fatalf("gather: %v, %d families", err, len(mfs))
		}
		return mfs[0].GetMetric()[0].GetGauge().GetValue()
	}
	if v := value(s.Last()); v != 1 {
		t.Fatalf("before any round: %v, want a fresh gather (1)", v)
	}
	if v := value(s); v != 2 {
		t.Fatalf("round: %v, want 2", v)
	}
	for range 3 {
		if v := value(s.Last()); v != 2 {
			t.Fatalf("Last() = %v, want the last round's 2 without collecting", v)
		}
	}
	if calls != 2 {
		t.Fatalf("collected %d times, want 2", calls)
	}
}

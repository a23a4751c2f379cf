package scaling

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// util builds a utilisation metric whose replicas have a request of 1 and
// the given usage in percent; a negative usage is a missing sample.
func util(name string, target float64, usage ...float64) MetricInput {
	m := MetricInput{Name: name, Utilization: true, Target: target}
	for i, u := range usage {
		m.Replicas = append(m.Replicas, Replica{Name: string(rune('a' + i)), Value: u / 100, HasValue: u >= 0, Request: 1, Ready: true})
	}
	return m
}

func avg(name string, target float64, values ...float64) MetricInput {
	m := MetricInput{Name: name, Target: target}
	for i, v := range values {
		m.Replicas = append(m.Replicas, Replica{Name: string(rune('a' + i)), Value: v, HasValue: true, Ready: true})
	}
	return m
}

func avgMissing(m MetricInput, i int) MetricInput {
	m.Replicas[i].HasValue = false
	return m
}

func unready(m MetricInput, i int) MetricInput {
	m.Replicas[i].Ready = false
	return m
}

// step is one evaluation of a scenario: the input at offset at from t0,
// and optionally a scale to record before it (what an actuator did).
type step struct {
	at          time.Duration
	scaledFrom  int
	in          Input
	want        int
	wantReason  string // a substring of one of the reasons
	wantLimited string // a Limits label, or "" for none
}

func TestRecommendHPA(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	def := DefaultBehavior()
	in := func(current, lo, hi int, ms ...MetricInput) Input {
		return Input{Service: "web", Current: current, Min: lo, Max: hi, Metrics: ms, Behavior: def}
	}
	with := func(i Input, b Behavior) Input { i.Behavior = b; return i }
	downPolicies := def
	downPolicies.ScaleDown = Rules{SelectPolicy: SelectMax, Policies: []Policy{
		{Type: PolicyPods, Value: 4, Period: time.Minute},
		{Type: PolicyPercent, Value: 10, Period: time.Minute},
	}}
	noDown := def
	noDown.ScaleDown = Rules{SelectPolicy: SelectDisabled}
	upWindow := def
	upWindow.ScaleUp.StabilizationWindow = time.Minute
	upMin := def
	upMin.ScaleUp.SelectPolicy = SelectMin

	tests := []struct {
		name  string
		steps []step
	}{
		// "if the current metric value is 200m, and the desired value is
		// 100m, the number of replicas will be doubled, since 200.0 / 100.0 == 2.0"
		{"doubles at twice the target", []step{{in: in(2, 1, 10, avg("rps", 100, 200, 200)), want: 4, wantReason: "rps 200 per replica against target 100 over 2 ready → 4 replicas"}}},
		// "If the current value is instead 50m, you'll halve the number of replicas"
		{"halves at half the target", []step{{in: in(4, 1, 10, avg("rps", 100, 50, 50, 50, 50)), want: 2}}},
		{"cpu reason names value and target", []step{{in: in(2, 2, 15, util("cpu", 70, 142, 142)), want: 5, wantReason: "cpu 142% of 70% target"}}},
		// "If the ratio is sufficiently close to 1.0 (within a globally-configurable tolerance, 0.1 by default), the control plane skips any scaling action"
		{"within tolerance", []step{{in: in(3, 1, 10, util("cpu", 50, 54, 54, 54)), want: 3, wantReason: "within tolerance"}}},
		{"just outside tolerance", []step{{in: in(3, 1, 10, util("cpu", 50, 56, 56, 56)), want: 4}}},
		{"10% below is within tolerance", []step{{in: in(10, 1, 20, util("cpu", 50, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45)), want: 10}}},
		// "the control plane calculates proposed replica counts for each metric and uses the one with the highest desired replica count"
		{"highest metric wins", []step{{in: in(2, 1, 10, util("cpu", 50, 75, 75), util("memory", 80, 200, 200)), want: 5, wantReason: "memory 200% of 80% target"}}},
		// Missing metrics: "assuming those pods were consuming 100% of the desired value in case of a scale down, and 0% in case of a scale up"
		// (replica_calculator.go: resource metrics at 100% of the request, average values at the target).
		{"missing counts as fully used on scale-down", []step{{in: in(4, 1, 10, util("cpu", 50, 5, 5, 5, -1)), want: 3, wantReason: "1 missing"}}},
		{"missing can hold the count on scale-down", []step{{in: in(3, 1, 10, util("cpu", 50, 10, 10, -1)), want: 3}}},
		{"missing average value counts at the target on scale-down", []step{{in: in(3, 1, 10, avgMissing(avg("rps", 100, 10, 10, 0), 2)), want: 2, wantReason: "1 missing"}}},
		{"missing counts as idle on scale-up", []step{{in: in(3, 1, 10, util("cpu", 50, 100, 100, -1)), want: 4}}},
		{"missing reverses the direction: no change", []step{{in: in(3, 1, 10, util("cpu", 50, 60, -1, -1)), want: 3, wantReason: "no change"}}},
		// Not-ready pods count as 0% when scaling up and are ignored when scaling down.
		{"not ready counts as idle on scale-up", []step{{in: in(3, 1, 10, unready(util("cpu", 50, 100, 100, 100), 2)), want: 4}}},
		{"not ready ignored on scale-down", []step{{in: in(3, 1, 10, unready(util("cpu", 50, 10, 10, 100), 2)), want: 1}}},
		{"clipped by max_replicas", []step{{in: in(10, 2, 15, util("cpu", 50, 100, 100, 100, 100, 100, 100, 100, 100, 100, 100)), want: 15, wantReason: "clipped by max_replicas 15", wantLimited: LimitMaxReplicas}}},
		{"clipped by min_replicas", []step{{in: in(4, 2, 15, util("cpu", 50, 5, 5, 5, 5)), want: 2, wantReason: "clipped by min_replicas 2", wantLimited: LimitMinReplicas}}},
		{"current above max comes down to max", []step{{in: in(20, 2, 15, util("cpu", 50, 50)), want: 15, wantLimited: LimitMaxReplicas}}},
		{"current below min comes up to min", []step{{in: in(1, 2, 15, util("cpu", 50, 50)), want: 2, wantLimited: LimitMinReplicas}}},
		{"scaled to zero is left alone", []step{{in: in(0, 1, 15), want: 0, wantLimited: LimitScaledToZero}}},
		// Default scale-up: "4 pods or a 100% of the currently running replicas may at most be added every 15 seconds"
		{"default scale-up: 4 pods per 15s beats 100% from 1", []step{
			{in: in(1, 1, 20, util("cpu", 10, 100)), want: 5, wantReason: "policy Pods 4/15s", wantLimited: LimitScaleUpPolicy},
			{at: 5 * time.Second, scaledFrom: 1, in: in(5, 1, 20, util("cpu", 10, 20, 20, 20, 20, 20)), want: 5, wantLimited: LimitScaleUpPolicy},
			{at: 20 * time.Second, in: in(5, 1, 20, util("cpu", 10, 20, 20, 20, 20, 20)), want: 10},
		}},
		{"selectPolicy Min takes the smaller policy", []step{{in: with(in(1, 1, 20, util("cpu", 10, 100)), upMin), want: 2, wantReason: "Percent 100%/15s"}}},
		// "stabilizationWindowSeconds ... the highest recommendation within the window is used" (5 minutes by default)
		{"scale-down stabilisation window", []step{
			{in: in(6, 1, 10, util("cpu", 50, 50, 50, 50, 50, 50, 50)), want: 6},
			{at: time.Minute, in: in(6, 1, 10, util("cpu", 50, 10, 10, 10, 10, 10, 10)), want: 6, wantReason: "scale-down stabilised (window 5m, highest 6)", wantLimited: LimitStabilisation},
			{at: 4 * time.Minute, in: in(6, 1, 10, util("cpu", 50, 30, 30, 30, 30, 30, 30)), want: 6},
			// the 6 of t0 left the window; the 4 of 4m is now the highest
			{at: 5*time.Minute + time.Second, in: in(6, 1, 10, util("cpu", 50, 10, 10, 10, 10, 10, 10)), want: 4, wantReason: "highest 4"},
			{at: 9*time.Minute + time.Second, scaledFrom: 6, in: in(4, 1, 10, util("cpu", 50, 10, 10, 10, 10)), want: 2, wantReason: "highest 2"},
		}},
		{"scale-up stabilisation takes the lowest", []step{
			{in: with(in(2, 1, 10, util("cpu", 50, 50, 50)), upWindow), want: 2},
			{at: 30 * time.Second, in: with(in(2, 1, 10, util("cpu", 50, 100, 100)), upWindow), want: 2, wantReason: "scale-up stabilised", wantLimited: LimitStabilisation},
			{at: 61 * time.Second, in: with(in(2, 1, 10, util("cpu", 50, 100, 100)), upWindow), want: 4},
		}},
		// "if there are 80 replicas and the target has to be scaled down to 10 replicas then during the first step 8 replicas will be reduced. In the next iteration when the number of replicas is 72, 10% of the pods is 7.2 but the number is rounded up to 8."
		{"scale-down policies: 10% of 80, then 8 of 72", []step{
			{in: with(in(80, 10, 100, avg("q", 100, fill(80, 12.5)...)), noWindow(downPolicies)), want: 72, wantReason: "Percent 10%/1m", wantLimited: LimitScaleDownPol},
			{at: 30 * time.Second, scaledFrom: 80, in: with(in(72, 10, 100, avg("q", 100, fill(72, 12.5)...)), noWindow(downPolicies)), want: 72},
			{at: 91 * time.Second, in: with(in(72, 10, 100, avg("q", 100, fill(72, 12.5)...)), noWindow(downPolicies)), want: 64},
		}},
		{"scale-down policies: 4 pods when under 40", []step{{in: with(in(30, 1, 100, avg("q", 100, fill(30, 10)...)), noWindow(downPolicies)), want: 26, wantReason: "Pods 4/1m"}}},
		{"scale-down disabled", []step{{in: with(in(6, 1, 10, util("cpu", 50, 5, 5, 5, 5, 5, 5)), noDown), want: 6, wantReason: "selectPolicy Disabled"}}},
		{"invalid metric blocks scale-down", []step{{in: in(4, 1, 10, util("cpu", 50, 5, 5, 5, 5), MetricInput{Name: "memory", Invalid: "no memory limit"}), want: 4, wantReason: "memory: no memory limit", wantLimited: LimitInvalidMetric}}},
		{"invalid metric does not block scale-up", []step{{in: in(2, 1, 10, util("cpu", 50, 100, 100), MetricInput{Name: "memory", Invalid: "no memory limit"}), want: 4}}},
		{"all metrics invalid", []step{{in: in(2, 1, 10, MetricInput{Name: "cpu", Invalid: "no CPU limit"}), want: 2, wantReason: "no valid metric", wantLimited: LimitInvalidMetric}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hist History
			for i, s := range tt.steps {
				now := t0.Add(s.at)
				if s.scaledFrom != 0 {
					hist.RecordScale(s.scaledFrom, s.in.Current, now.Add(-time.Second))
				}
				got := Recommend(s.in, &hist, now)
				if got.Desired != s.want {
					t.Fatalf("step %d: desired %d, want %d; reasons %q", i, got.Desired, s.want, got.Reasons)
				}
				if s.wantReason != "" && !slices.ContainsFunc(got.Reasons, func(r string) bool { return strings.Contains(r, s.wantReason) }) {
					t.Errorf("step %d: reasons %q lack %q", i, got.Reasons, s.wantReason)
				}
				if s.wantLimited != "" && !slices.Contains(got.Limits, s.wantLimited) {
					t.Errorf("step %d: limits %q lack %q", i, got.Limits, s.wantLimited)
				}
				if s.wantLimited == "" && len(got.Limits) > 0 && got.Desired != s.in.Current && s.wantReason == "" {
					t.Logf("step %d: limits %q", i, got.Limits)
				}
			}
		})
	}
}

func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func noWindow(b Behavior) Behavior {
	b.ScaleDown.StabilizationWindow = 0
	return b
}

func TestHistoryIsPruned(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	var h History
	in := Input{Service: "x", Current: 2, Min: 1, Max: 4, Metrics: []MetricInput{util("cpu", 50, 50, 50)}, Behavior: DefaultBehavior()}
	for i := range 100 {
		Recommend(in, &h, t0.Add(time.Duration(i)*15*time.Second))
	}
	if n := len(h.recs); n > 21 {
		t.Fatalf("history keeps %d recommendations, want at most the 5m window (21)", n)
	}
}

// Package scaling recommends replica counts for Swarm and Compose services
// with Kubernetes' Horizontal Pod Autoscaler algorithm, says when the
// recommendation no longer fits the hosts, recommends CPU and memory limits
// from history, and (for Swarm, when asked) applies the recommendation.
//
// The algorithm is a pure function, Recommend, of the service's replicas and
// metric values, its targets and behavior, a History and the time. The
// Scaler around it reads those values through PromQL, as rules do.
package scaling

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// PolicyType is how a scaling policy counts change: Pods or Percent.
type PolicyType string

// The HPA's policy types.
const (
	PolicyPods    PolicyType = "Pods"
	PolicyPercent PolicyType = "Percent"
)

// SelectPolicy picks among policies: the one allowing the most change (Max),
// the least (Min), or none at all (Disabled).
type SelectPolicy string

// The HPA's selectPolicy values.
const (
	SelectMax      SelectPolicy = "Max"
	SelectMin      SelectPolicy = "Min"
	SelectDisabled SelectPolicy = "Disabled"
)

// Policy allows at most Value pods, or Value percent, of change per Period.
type Policy struct {
	Type   PolicyType
	Value  int
	Period time.Duration
}

func (p Policy) String() string {
	if p.Type == PolicyPercent {
		return fmt.Sprintf("Percent %d%%/%s", p.Value, shortDur(p.Period))
	}
	return fmt.Sprintf("Pods %d/%s", p.Value, shortDur(p.Period))
}

// Rules is one direction of a Behavior (HPAScalingRules).
type Rules struct {
	StabilizationWindow time.Duration
	SelectPolicy        SelectPolicy
	Policies            []Policy
}

// Behavior is the HPA's behavior: rules for scaling up and for scaling down.
type Behavior struct {
	ScaleUp, ScaleDown Rules
}

// DefaultBehavior is the HPA's default (autoscaling/v2): scale up at once
// by the larger of 100% or 4 pods per 15s; scale down by up to 100% per 15s
// once the highest recommendation of the last 5 minutes allows it.
func DefaultBehavior() Behavior {
	return Behavior{
		ScaleUp: Rules{SelectPolicy: SelectMax, Policies: []Policy{
			{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
			{Type: PolicyPods, Value: 4, Period: 15 * time.Second},
		}},
		ScaleDown: Rules{StabilizationWindow: 5 * time.Minute, SelectPolicy: SelectMax, Policies: []Policy{
			{Type: PolicyPercent, Value: 100, Period: 15 * time.Second},
		}},
	}
}

// DefaultTolerance is the HPA's: no scaling while the usage ratio is within 10% of 1.
const DefaultTolerance = 0.1

// Replica is one replica's reading of a metric.
type Replica struct {
	Name string
	// Value is the usage (CPU cores, bytes, or the expression's value).
	Value float64
	// HasValue is false when the replica has no sample (a missing metric).
	HasValue bool
	// Request is what utilisation is measured against (the limit); only for Utilization metrics.
	Request float64
	// Ready is false for a replica that runs but is not ready (starting, unhealthy).
	Ready bool
}

// MetricInput is one metric of a service with its target.
type MetricInput struct {
	// Name names the metric in reasons: "cpu", "memory", or the expression.
	Name string
	// Utilization targets a percentage of each replica's Request (cpu,
	// memory); otherwise Target is an average value per replica.
	Utilization bool
	Target      float64
	Replicas    []Replica
	// Invalid, when set, says why the metric cannot be used (no limit, no data).
	Invalid string
}

// Input is everything Recommend needs about one service.
type Input struct {
	Service  string
	Current  int
	Min, Max int
	// Tolerance is the dead band around a usage ratio of 1 (0 means DefaultTolerance).
	Tolerance float64
	Metrics   []MetricInput
	Behavior  Behavior
}

// MetricResult is what one metric proposes.
type MetricResult struct {
	Name     string  `json:"name"`
	Value    float64 `json:"value"`  // utilisation in percent, or the average value
	Target   float64 `json:"target"` // the same unit as Value
	Replicas int     `json:"replicas"`
	Valid    bool    `json:"valid"`
	Reason   string  `json:"reason"`
}

// Limit labels for vigie_scaling_limited: which bound or rule changed the
// metrics' proposal. Kept few, as they are label values.
const (
	LimitMaxReplicas   = "max_replicas"
	LimitMinReplicas   = "min_replicas"
	LimitScaleUpPolicy = "scale_up_policy"
	LimitScaleDownPol  = "scale_down_policy"
	LimitStabilisation = "stabilisation"
	LimitInvalidMetric = "invalid_metric"
	LimitScaledToZero  = "scaled_to_zero"
	LimitUnknownSvc    = "unknown_service"
	LimitNotReplicated = "not_replicated"
	LimitCapacity      = "capacity"
)

// Recommendation is Recommend's answer, with every reason kept.
type Recommendation struct {
	Service string `json:"service"`
	Current int    `json:"current"`
	Desired int    `json:"desired"`
	// Proposed is the metrics' highest proposal before stabilisation, policies and bounds.
	Proposed int            `json:"proposed"`
	Metric   string         `json:"metric,omitempty"`
	Metrics  []MetricResult `json:"metrics"`
	Reasons  []string       `json:"reasons"`
	Limits   []string       `json:"limits"`
	Time     time.Time      `json:"time"`
}

func (r *Recommendation) limit(label, format string, args ...any) {
	r.Reasons = append(r.Reasons, fmt.Sprintf(format, args...))
	for _, l := range r.Limits {
		if l == label {
			return
		}
	}
	r.Limits = append(r.Limits, label)
}

// History is what the HPA remembers about one service: its recent
// recommendations (for stabilisation) and scale events (for policies).
// The zero value is ready to use; it is not safe for concurrent use.
type History struct {
	recs []timedValue
	up   []timedValue
	down []timedValue
}

type timedValue struct {
	at time.Time
	n  int
}

// RecordScale records that the service went from replicas from to to at
// now; rate policies count these changes over their periods, in both
// directions (storeScaleEvent; events older than the longest period are
// pruned, as markScaleEventsOutdated lets them be replaced).
func (h *History) RecordScale(from, to int, now time.Time) {
	switch {
	case to > from:
		h.up = append(h.up, timedValue{now, to - from})
	case to < from:
		h.down = append(h.down, timedValue{now, from - to})
	}
}

// prune drops what no window or period can reach any more.
func (h *History) prune(b Behavior, now time.Time) {
	keep := max(b.ScaleUp.StabilizationWindow, b.ScaleDown.StabilizationWindow)
	for _, r := range []Rules{b.ScaleUp, b.ScaleDown} {
		for _, p := range r.Policies {
			keep = max(keep, p.Period)
		}
	}
	cut := func(s []timedValue) []timedValue {
		i := 0
		for i < len(s) && !s[i].at.After(now.Add(-keep)) {
			i++
		}
		return append(s[:0], s[i:]...)
	}
	h.recs, h.up, h.down = cut(h.recs), cut(h.up), cut(h.down)
}

func changedWithin(events []timedValue, period time.Duration, now time.Time) int {
	n := 0
	for _, e := range events {
		if e.at.After(now.Add(-period)) {
			n += e.n
		}
	}
	return n
}

// Recommend runs the HPA algorithm for one service at now, records the
// proposal in hist and returns the recommendation with its reasons. It
// follows pkg/controller/podautoscaler (horizontal.go, replica_calculator.go).
func Recommend(in Input, hist *History, now time.Time) Recommendation {
	rec := Recommendation{Service: in.Service, Current: in.Current, Desired: in.Current, Time: now}
	if hist == nil {
		hist = &History{}
	}
	switch {
	case in.Current == 0 && in.Min != 0:
		rec.limit(LimitScaledToZero, "scaled to 0 replicas: autoscaling is off until it runs again")
		return rec
	case in.Current > in.Max:
		rec.Desired, rec.Proposed = in.Max, in.Max
		rec.limit(LimitMaxReplicas, "current %d above max_replicas %d", in.Current, in.Max)
		return rec
	case in.Current < in.Min:
		rec.Desired, rec.Proposed = in.Min, in.Min
		rec.limit(LimitMinReplicas, "current %d below min_replicas %d", in.Current, in.Min)
		return rec
	}
	proposed, ok := proposeFromMetrics(in, &rec)
	if !ok {
		return rec
	}
	rec.Proposed = proposed
	hist.prune(in.Behavior, now)
	stable := stabilise(in, hist, proposed, now, &rec)
	hist.recs = append(hist.recs, timedValue{now, proposed})
	rec.Desired = rateLimit(in, hist, stable, now, &rec)
	return rec
}

// proposeFromMetrics is computeReplicasForMetrics: the highest proposal
// wins; no metric valid, or an invalid one while the others would scale
// down, keeps the current count.
func proposeFromMetrics(in Input, rec *Recommendation) (int, bool) {
	tol := in.Tolerance
	if tol == 0 {
		tol = DefaultTolerance
	}
	best, invalid := -1, 0
	for _, m := range in.Metrics {
		r := metricReplicas(m, in.Current, tol)
		rec.Metrics = append(rec.Metrics, r)
		if !r.Valid {
			invalid++
			rec.Reasons = append(rec.Reasons, r.Reason)
			continue
		}
		if r.Replicas > best {
			best, rec.Metric = r.Replicas, r.Name
		}
	}
	for _, r := range rec.Metrics {
		if r.Valid && r.Name == rec.Metric {
			rec.Reasons = append(rec.Reasons, r.Reason)
		}
	}
	switch {
	case len(in.Metrics) == 0:
		rec.limit(LimitInvalidMetric, "no metrics configured")
		return 0, false
	case invalid == len(in.Metrics):
		rec.limit(LimitInvalidMetric, "no valid metric: keeping %d replicas", in.Current)
		return 0, false
	case invalid > 0 && best < in.Current:
		rec.limit(LimitInvalidMetric, "%d metric(s) invalid: not scaling down from %d", invalid, in.Current)
		return 0, false
	}
	return best, true
}

// metricReplicas is GetResourceReplicas / plainMetricsReplicaCalculation.
func metricReplicas(m MetricInput, current int, tol float64) MetricResult {
	res := MetricResult{Name: m.Name, Target: m.Target, Replicas: current}
	if m.Invalid != "" {
		res.Reason = m.Name + ": " + m.Invalid
		return res
	}
	var ready, unready, missing []Replica
	for _, r := range m.Replicas {
		switch {
		case !r.HasValue:
			missing = append(missing, r)
		case !r.Ready:
			unready = append(unready, r)
		default:
			ready = append(ready, r)
		}
	}
	if len(ready) == 0 {
		res.Reason = fmt.Sprintf("%s: no ready replica reports it", m.Name)
		return res
	}
	ratio, value := usageRatio(m, ready)
	res.Value, res.Valid = value, true
	within := func(x float64) bool { return math.Abs(1-x) <= tol }
	scaleUpWithUnready := len(unready) > 0 && ratio > 1
	if !scaleUpWithUnready && len(missing) == 0 {
		if within(ratio) {
			res.Reason = describe(m, value, "within tolerance", len(ready), current)
			return res
		}
		res.Replicas = ceil(ratio * float64(len(ready)))
		res.Reason = describe(m, value, "", len(ready), res.Replicas)
		return res
	}
	// Conservative recomputation: when scaling down, missing replicas count
	// as using all of their limit (max(100%, target), as the HPA counts them
	// at their request) or, for average values, the target; when scaling
	// up they count as idle, and so do unready ones.
	all := append([]Replica(nil), ready...)
	for _, r := range missing {
		switch {
		case ratio < 1:
			r.Value = m.Target
			if m.Utilization {
				r.Value = r.Request * max(100, m.Target) / 100
			}
		default:
			r.Value = 0
		}
		all = append(all, r)
	}
	if scaleUpWithUnready {
		for _, r := range unready {
			r.Value = 0
			all = append(all, r)
		}
	}
	newRatio, _ := usageRatio(m, all)
	note := fmt.Sprintf("%d missing, %d not ready counted conservatively", len(missing), len(unready))
	if within(newRatio) || (ratio > 1 && newRatio < 1) || (ratio < 1 && newRatio > 1) {
		res.Reason = describe(m, value, note+": no change", len(ready), current)
		return res
	}
	n := ceil(newRatio * float64(len(all)))
	if (newRatio < 1 && n > current) || (newRatio > 1 && n < current) {
		res.Reason = describe(m, value, note+": no change", len(ready), current)
		return res
	}
	res.Replicas = n
	res.Reason = describe(m, value, note, len(ready), n)
	return res
}

// usageRatio returns usage over target and the value shown: utilisation in
// whole percent (the HPA truncates it so), or the average.
func usageRatio(m MetricInput, rs []Replica) (ratio, value float64) {
	var sum, req float64
	for _, r := range rs {
		sum += r.Value
		req += r.Request
	}
	if m.Utilization {
		if req <= 0 {
			return 0, 0
		}
		util := math.Floor(sum*100/req + 1e-9)
		return util / m.Target, util
	}
	avg := sum / float64(len(rs))
	return avg / m.Target, avg
}

func describe(m MetricInput, value float64, note string, ready, replicas int) string {
	var s string
	if m.Utilization {
		s = fmt.Sprintf("%s %s%% of %s%% target", m.Name, num(value), num(m.Target))
	} else {
		s = fmt.Sprintf("%s %s per replica against target %s", m.Name, num(value), num(m.Target))
	}
	if note != "" {
		s += " (" + note + ")"
	}
	return fmt.Sprintf("%s over %d ready → %d replicas", s, ready, replicas)
}

// ceil rounds up, ignoring float noise (1.1×10 is 11, not 12): the HPA
// computes in milli-units, where this noise does not arise.
func ceil(x float64) int { return int(math.Ceil(x - 1e-9)) }

func num(v float64) string {
	s := fmt.Sprintf("%.3f", v)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

// stabilise is stabilizeRecommendationWithBehaviors: scaling up takes the
// lowest recommendation of the scale-up window, scaling down the highest of
// the scale-down window.
func stabilise(in Input, hist *History, proposed int, now time.Time, rec *Recommendation) int {
	upRec, downRec := proposed, proposed
	upCut := now.Add(-in.Behavior.ScaleUp.StabilizationWindow)
	downCut := now.Add(-in.Behavior.ScaleDown.StabilizationWindow)
	for _, r := range hist.recs {
		if r.at.After(upCut) {
			upRec = min(upRec, r.n)
		}
		if r.at.After(downCut) {
			downRec = max(downRec, r.n)
		}
	}
	out := max(in.Current, upRec)
	out = min(out, downRec)
	switch {
	case proposed < in.Current && out > proposed:
		rec.limit(LimitStabilisation, "scale-down stabilised (window %s, highest %d)", shortDur(in.Behavior.ScaleDown.StabilizationWindow), downRec)
	case proposed > in.Current && out < proposed:
		rec.limit(LimitStabilisation, "scale-up stabilised (window %s, lowest %d)", shortDur(in.Behavior.ScaleUp.StabilizationWindow), upRec)
	}
	return out
}

// rateLimit is convertDesiredReplicasWithBehaviorRate: policies bound the
// change from the replicas at the start of each period, then min and max.
func rateLimit(in Input, hist *History, desired int, now time.Time, rec *Recommendation) int {
	switch {
	case desired > in.Current:
		limit, policy := scaleUpLimit(in.Current, hist, in.Behavior.ScaleUp, now)
		limit = max(limit, in.Current)
		if in.Max <= limit {
			if desired > in.Max {
				rec.limit(LimitMaxReplicas, "clipped by max_replicas %d", in.Max)
				return in.Max
			}
			return desired
		}
		if desired > limit {
			rec.limit(LimitScaleUpPolicy, "scale-up limited by policy %s to %d", policy, limit)
			return limit
		}
	case desired < in.Current:
		limit, policy := scaleDownLimit(in.Current, hist, in.Behavior.ScaleDown, now)
		limit = min(limit, in.Current)
		if in.Min >= limit {
			if desired < in.Min {
				rec.limit(LimitMinReplicas, "clipped by min_replicas %d", in.Min)
				return in.Min
			}
			return desired
		}
		if desired < limit {
			rec.limit(LimitScaleDownPol, "scale-down limited by policy %s to %d", policy, limit)
			return limit
		}
	}
	return desired
}

func scaleUpLimit(current int, hist *History, r Rules, now time.Time) (int, string) {
	if r.SelectPolicy == SelectDisabled {
		return current, "selectPolicy Disabled"
	}
	result, chosen := math.MinInt, ""
	if r.SelectPolicy == SelectMin {
		result = math.MaxInt
	}
	for _, p := range r.Policies {
		start := current - changedWithin(hist.up, p.Period, now) + changedWithin(hist.down, p.Period, now)
		proposed := start + p.Value
		if p.Type == PolicyPercent {
			proposed = int(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		if (r.SelectPolicy == SelectMin && proposed < result) || (r.SelectPolicy != SelectMin && proposed > result) {
			result, chosen = proposed, p.String()
		}
	}
	if len(r.Policies) == 0 {
		return math.MaxInt, ""
	}
	return result, chosen
}

func scaleDownLimit(current int, hist *History, r Rules, now time.Time) (int, string) {
	if r.SelectPolicy == SelectDisabled {
		return current, "selectPolicy Disabled"
	}
	result, chosen := math.MaxInt, ""
	if r.SelectPolicy == SelectMin {
		result = math.MinInt
	}
	for _, p := range r.Policies {
		start := current - changedWithin(hist.up, p.Period, now) + changedWithin(hist.down, p.Period, now)
		proposed := start - p.Value
		if p.Type == PolicyPercent {
			proposed = int(float64(start) * (1 - float64(p.Value)/100))
		}
		if (r.SelectPolicy == SelectMin && proposed > result) || (r.SelectPolicy != SelectMin && proposed < result) {
			result, chosen = proposed, p.String()
		}
	}
	if len(r.Policies) == 0 {
		return math.MinInt, ""
	}
	return result, chosen
}

// shortDur prints durations as Prometheus does: 5m, 15s, 1m30s.
func shortDur(d time.Duration) string { return model.Duration(d).String() }

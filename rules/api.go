package rules

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	promrules "github.com/prometheus/prometheus/rules"
)

// The JSON of /api/v1/rules and /api/v1/alerts, field for field as
// Prometheus's web/api/v1 writes it.

// RuleDiscovery is the data of /api/v1/rules.
type RuleDiscovery struct {
	RuleGroups []*RuleGroup `json:"groups"`
}

// RuleGroup is one group in /api/v1/rules.
type RuleGroup struct {
	Name           string    `json:"name"`
	File           string    `json:"file"`
	Rules          []any     `json:"rules"` // AlertingRule or RecordingRule, in file order
	Interval       float64   `json:"interval"`
	Limit          int       `json:"limit"`
	EvaluationTime float64   `json:"evaluationTime"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// AlertingRule is an alerting rule in /api/v1/rules.
type AlertingRule struct {
	State          string               `json:"state"`
	Name           string               `json:"name"`
	Query          string               `json:"query"`
	Duration       float64              `json:"duration"`
	KeepFiringFor  float64              `json:"keepFiringFor"`
	Labels         labels.Labels        `json:"labels"`
	Annotations    labels.Labels        `json:"annotations"`
	Alerts         []*APIAlert          `json:"alerts"`
	Health         promrules.RuleHealth `json:"health"`
	LastError      string               `json:"lastError,omitempty"`
	EvaluationTime float64              `json:"evaluationTime"`
	LastEvaluation time.Time            `json:"lastEvaluation"`
	Type           string               `json:"type"`
}

// RecordingRule is a recording rule in /api/v1/rules.
type RecordingRule struct {
	Name           string               `json:"name"`
	Query          string               `json:"query"`
	Labels         labels.Labels        `json:"labels"`
	Health         promrules.RuleHealth `json:"health"`
	LastError      string               `json:"lastError,omitempty"`
	EvaluationTime float64              `json:"evaluationTime"`
	LastEvaluation time.Time            `json:"lastEvaluation"`
	Type           string               `json:"type"`
}

// AlertDiscovery is the data of /api/v1/alerts.
type AlertDiscovery struct {
	Alerts []*APIAlert `json:"alerts"`
}

// APIAlert is an active (pending or firing) alert in the API.
type APIAlert struct {
	Labels          labels.Labels `json:"labels"`
	Annotations     labels.Labels `json:"annotations"`
	State           string        `json:"state"`
	ActiveAt        *time.Time    `json:"activeAt,omitempty"`
	KeepFiringSince *time.Time    `json:"keepFiringSince,omitempty"`
	Value           string        `json:"value"`
}

func apiAlerts(as []*promrules.Alert) []*APIAlert {
	out := make([]*APIAlert, len(as))
	for i, a := range as {
		out[i] = &APIAlert{
			Labels:      a.Labels,
			Annotations: a.Annotations,
			State:       a.State.String(),
			ActiveAt:    &a.ActiveAt,
			Value:       strconv.FormatFloat(a.Value, 'e', -1, 64),
		}
		if !a.KeepFiringSince.IsZero() {
			out[i].KeepFiringSince = &a.KeepFiringSince
		}
	}
	return out
}

// AlertsData is the data of /api/v1/alerts: every pending and firing alert.
func (m *Manager) AlertsData() any {
	res := &AlertDiscovery{Alerts: []*APIAlert{}}
	for _, g := range m.ruleGroups() {
		for _, r := range g.AlertingRules() {
			res.Alerts = append(res.Alerts, apiAlerts(r.ActiveAlerts())...)
		}
	}
	return res
}

// RulesData is the data of /api/v1/rules, with Prometheus's filters:
// type=alert|record, rule_name[], rule_group[], file[], match[],
// exclude_alerts. An invalid parameter is an error (bad_data).
func (m *Manager) RulesData(q url.Values) (any, error) {
	set := func(vs []string) map[string]bool {
		s := make(map[string]bool, len(vs))
		for _, v := range vs {
			s[v] = true
		}
		return s
	}
	names, groups, files := set(q["rule_name[]"]), set(q["rule_group[]"]), set(q["file[]"])
	typ := strings.ToLower(q.Get("type"))
	if typ != "" && typ != "alert" && typ != "record" {
		return nil, fmt.Errorf("invalid parameter \"type\": not supported value %q", typ)
	}
	excludeAlerts := false
	if s := q.Get("exclude_alerts"); s != "" {
		b, err := strconv.ParseBool(strings.ToLower(s))
		if err != nil {
			return nil, fmt.Errorf("invalid parameter \"exclude_alerts\": error converting exclude_alerts: %w", err)
		}
		excludeAlerts = b
	}
	var matcherSets [][]*labels.Matcher
	if ms := q["match[]"]; len(ms) > 0 {
		var err error
		matcherSets, err = parser.NewParser(parser.Options{}).ParseMetricSelectors(ms)
		if err != nil {
			return nil, err
		}
	}
	res := &RuleDiscovery{RuleGroups: []*RuleGroup{}}
	for _, g := range m.ruleGroups() {
		if len(groups) > 0 && !groups[g.Name()] || len(files) > 0 && !files[g.File()] {
			continue
		}
		rg := &RuleGroup{
			Name:           g.Name(),
			File:           g.File(),
			Interval:       g.Interval().Seconds(),
			Limit:          g.Limit(),
			Rules:          []any{},
			EvaluationTime: g.GetEvaluationTime().Seconds(),
			LastEvaluation: g.GetLastEvaluation(),
		}
		for _, r := range g.Rules(matcherSets...) {
			if len(names) > 0 && !names[r.Name()] {
				continue
			}
			lastErr := ""
			if err := r.LastError(); err != nil {
				lastErr = err.Error()
			}
			switch r := r.(type) {
			case *promrules.AlertingRule:
				if typ == "record" {
					continue
				}
				var alerts []*APIAlert
				if !excludeAlerts {
					alerts = apiAlerts(r.ActiveAlerts())
				}
				rg.Rules = append(rg.Rules, AlertingRule{
					State:          r.State().String(),
					Name:           r.Name(),
					Query:          r.Query().String(),
					Duration:       r.HoldDuration().Seconds(),
					KeepFiringFor:  r.KeepFiringFor().Seconds(),
					Labels:         r.Labels(),
					Annotations:    r.Annotations(),
					Alerts:         alerts,
					Health:         r.Health(),
					LastError:      lastErr,
					EvaluationTime: r.GetEvaluationDuration().Seconds(),
					LastEvaluation: r.GetEvaluationTimestamp(),
					Type:           "alerting",
				})
			case *promrules.RecordingRule:
				if typ == "alert" {
					continue
				}
				rg.Rules = append(rg.Rules, RecordingRule{
					Name:           r.Name(),
					Query:          r.Query().String(),
					Labels:         r.Labels(),
					Health:         r.Health(),
					LastError:      lastErr,
					EvaluationTime: r.GetEvaluationDuration().Seconds(),
					LastEvaluation: r.GetEvaluationTimestamp(),
					Type:           "recording",
				})
			}
		}
		if len(rg.Rules) > 0 {
			res.RuleGroups = append(res.RuleGroups, rg)
		}
	}
	return res, nil
}

package rules

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	promrules "github.com/prometheus/prometheus/rules"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/vigie-dev/vigie/config"
)

// The rule unit-test format of `promtool test rules`
// (https://prometheus.io/docs/prometheus/latest/configuration/unit_testing_rules/),
// run the way promtool runs it: Prometheus's lazy loader expands the input
// series, groups are evaluated every evaluation_interval from time 0, and
// alerts are compared at each eval_time with the evaluation at or just
// before it.

type unitTestFile struct {
	RuleFiles          []string       `yaml:"rule_files"`
	EvaluationInterval model.Duration `yaml:"evaluation_interval,omitempty"`
	GroupEvalOrder     []string       `yaml:"group_eval_order"`
	Tests              []testGroup    `yaml:"tests"`
	FuzzyCompare       bool           `yaml:"fuzzy_compare,omitempty"`
}

type testGroup struct {
	Interval        model.Duration    `yaml:"interval"`
	InputSeries     []inputSeries     `yaml:"input_series"`
	AlertRuleTests  []alertTestCase   `yaml:"alert_rule_test,omitempty"`
	PromqlExprTests []promqlTestCase  `yaml:"promql_expr_test,omitempty"`
	ExternalLabels  map[string]string `yaml:"external_labels,omitempty"`
	ExternalURL     string            `yaml:"external_url,omitempty"`
	TestGroupName   string            `yaml:"name,omitempty"`
	StartTimestamp  string            `yaml:"start_timestamp,omitempty"`
}

type inputSeries struct {
	Series string `yaml:"series"`
	Values string `yaml:"values"`
}

type alertTestCase struct {
	EvalTime  model.Duration `yaml:"eval_time"`
	Alertname string         `yaml:"alertname"`
	ExpAlerts []expAlert     `yaml:"exp_alerts"`
}

type expAlert struct {
	ExpLabels      map[string]string `yaml:"exp_labels"`
	ExpAnnotations map[string]string `yaml:"exp_annotations"`
}

type promqlTestCase struct {
	Expr       string         `yaml:"expr"`
	EvalTime   model.Duration `yaml:"eval_time"`
	ExpSamples []expSample    `yaml:"exp_samples"`
}

type expSample struct {
	Labels    string  `yaml:"labels"`
	Value     float64 `yaml:"value"`
	Histogram string  `yaml:"histogram"`
}

// RunTests runs rule unit-test files in promtool's format and writes a
// report to w ("Unit Testing: FILE", then SUCCESS or FAILED: and each
// failure). ok is false when any test failed; err is set only when w fails.
func RunTests(w io.Writer, files ...string) (ok bool, err error) {
	var out bytes.Buffer
	ok = true
	for _, f := range files {
		fmt.Fprintln(&out, "Unit Testing: ", f)
		if errs := runTestFile(f); len(errs) > 0 {
			ok = false
			fmt.Fprintln(&out, "  FAILED:")
			for _, e := range errs {
				fmt.Fprintln(&out, e.Error())
				fmt.Fprintln(&out)
			}
		} else {
			fmt.Fprintln(&out, "  SUCCESS")
		}
		fmt.Fprintln(&out)
	}
	if _, err := w.Write(out.Bytes()); err != nil {
		return ok, err
	}
	return ok, nil
}

func runTestFile(filename string) []error {
	b, err := config.ReadFile(filename)
	if err != nil {
		return []error{err}
	}
	doc, err := config.ParseBounded(filename, b)
	if err != nil {
		return []error{syntaxError(filename, err)}
	}
	var utf unitTestFile
	if errs := config.CheckYAML(doc, &utf); len(errs) > 0 {
		return fileErrors(filename, errs)
	}
	if err := doc.Decode(&utf); err != nil {
		return []error{&FileError{File: filename, Msg: err.Error()}}
	}
	var ruleFiles []string
	for _, rf := range utf.RuleFiles {
		if rf != "" && !filepath.IsAbs(rf) {
			rf = filepath.Join(filepath.Dir(filename), rf)
		}
		m, err := filepath.Glob(rf)
		if err != nil {
			return []error{err}
		}
		ruleFiles = append(ruleFiles, m...)
	}
	// Check the rule files first, for file:line errors.
	if err := CheckFiles(ruleFiles...); err != nil {
		return []error{err}
	}
	if utf.EvaluationInterval == 0 {
		utf.EvaluationInterval = model.Duration(time.Minute)
	}
	order := map[string]int{}
	for i, gn := range utf.GroupEvalOrder {
		if _, dup := order[gn]; dup {
			return []error{fmt.Errorf("group name repeated in evaluation order: %s", gn)}
		}
		order[gn] = i
	}
	var errs []error
	for i, tg := range utf.Tests {
		name := tg.TestGroupName
		if name == "" {
			name = fmt.Sprintf("unnamed#%d", i)
		}
		if tg.Interval == 0 {
			tg.Interval = utf.EvaluationInterval
		}
		for _, err := range tg.run(time.Duration(utf.EvaluationInterval), order, utf.FuzzyCompare, ruleFiles) {
			if tg.TestGroupName != "" || len(utf.Tests) > 1 {
				err = fmt.Errorf("test group %s: %w", name, err)
			}
			errs = append(errs, err)
		}
	}
	return errs
}

func parseStart(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("start_timestamp %q: want RFC 3339 or a Unix timestamp", s)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

func (tg *testGroup) maxEvalTime() time.Duration {
	var m model.Duration
	for _, a := range tg.AlertRuleTests {
		m = max(m, a.EvalTime)
	}
	for _, p := range tg.PromqlExprTests {
		m = max(m, p.EvalTime)
	}
	return time.Duration(m)
}

type labelsAndAnnotations struct{ Labels, Annotations labels.Labels }

func sortLA(la []labelsAndAnnotations) {
	sort.Slice(la, func(i, j int) bool {
		if c := labels.Compare(la[i].Labels, la[j].Labels); c != 0 {
			return c < 0
		}
		return labels.Compare(la[i].Annotations, la[j].Annotations) < 0
	})
}

func laString(la []labelsAndAnnotations) string {
	if len(la) == 0 {
		return "[]"
	}
	var b strings.Builder
	b.WriteString("[")
	for i, a := range la {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "\n            %d:\n              Labels:%s\n              Annotations:%s", i, a.Labels, a.Annotations)
	}
	b.WriteString("\n            ]")
	return b.String()
}

func (tg *testGroup) run(evalInterval time.Duration, order map[string]int, fuzzy bool, ruleFiles []string) (errs []error) {
	start, err := parseStart(tg.StartTimestamp)
	if err != nil {
		return []error{err}
	}
	p := parser.NewParser(parser.Options{})
	suite, err := newSeriesLoader(tg.InputSeries, time.Duration(tg.Interval), start, evalInterval, p)
	if err != nil {
		return []error{err}
	}
	defer func() {
		if err := suite.Close(); err != nil {
			errs = append(errs, err)
		}
	}()
	opts := &promrules.ManagerOptions{
		QueryFunc:  promrules.EngineQueryFunc(suite.engine, suite.db),
		Appendable: suite.db,
		Context:    context.Background(),
		NotifyFunc: func(context.Context, string, ...*promrules.Alert) {},
		Logger:     slog.New(slog.DiscardHandler),
		Parser:     p,
	}
	mgr := promrules.NewManager(opts)
	groupsMap, ers := mgr.LoadGroups(time.Duration(tg.Interval), labels.FromMap(tg.ExternalLabels), tg.ExternalURL, nil, false, ruleFiles...)
	if ers != nil {
		return ers
	}
	groups := make([]*promrules.Group, 0, len(groupsMap))
	for _, g := range groupsMap {
		groups = append(groups, g)
	}
	sort.Slice(groups, func(i, j int) bool { return order[groups[i].Name()] < order[groups[j].Name()] })
	for _, g := range groups {
		for _, r := range g.AlertingRules() {
			r.SetRestored(true) // so that ALERTS series are written
		}
	}

	mint := time.Unix(0, 0).UTC()
	if !start.IsZero() {
		mint = start
	}
	maxt := mint.Add(tg.maxEvalTime())
	prefix := ""
	if tg.TestGroupName != "" {
		prefix = fmt.Sprintf("    name: %s,\n", tg.TestGroupName)
	}

	alertTests := map[model.Duration][]alertTestCase{}
	var evalTimes []model.Duration
	for _, a := range tg.AlertRuleTests {
		if a.Alertname == "" {
			return []error{fmt.Errorf("an item under alert_rule_test misses required attribute alertname at eval_time %v", a.EvalTime)}
		}
		if _, ok := alertTests[a.EvalTime]; !ok {
			evalTimes = append(evalTimes, a.EvalTime)
		}
		alertTests[a.EvalTime] = append(alertTests[a.EvalTime], a)
	}
	sort.Slice(evalTimes, func(i, j int) bool { return evalTimes[i] < evalTimes[j] })

	curr := 0
	for ts := mint; !ts.After(maxt); ts = ts.Add(evalInterval) {
		var evalErrs []error
		if err := suite.appendTill(ts); err != nil {
			errs = append(errs, err)
		} else {
			for _, g := range groups {
				g.Eval(suite.ctx, ts)
				for _, r := range g.Rules() {
					if r.LastError() != nil {
						evalErrs = append(evalErrs, fmt.Errorf("    rule: %s, time: %s, err: %w", r.Name(), ts.Sub(time.Unix(0, 0).UTC()), r.LastError()))
					}
				}
			}
		}
		errs = append(errs, evalErrs...)
		if len(evalErrs) > 0 {
			return errs
		}
		for curr < len(evalTimes) && ts.Sub(mint) <= time.Duration(evalTimes[curr]) && time.Duration(evalTimes[curr]) < ts.Add(evalInterval).Sub(mint) {
			t := evalTimes[curr]
			got := map[string][]labelsAndAnnotations{}
			for _, g := range groups {
				for _, r := range g.AlertingRules() {
					for _, a := range r.ActiveAlerts() {
						if a.State == promrules.StateFiring {
							got[r.Name()] = append(got[r.Name()], labelsAndAnnotations{a.Labels.Copy(), a.Annotations.Copy()})
						}
					}
				}
			}
			for _, tc := range alertTests[t] {
				gotAlerts := got[tc.Alertname]
				var exp []labelsAndAnnotations
				for _, a := range tc.ExpAlerts {
					l := map[string]string{}
					for k, v := range a.ExpLabels {
						l[k] = v
					}
					l[labels.AlertName] = tc.Alertname
					exp = append(exp, labelsAndAnnotations{labels.FromMap(l), labels.FromMap(a.ExpAnnotations)})
				}
				sortLA(gotAlerts)
				sortLA(exp)
				if !equalLA(exp, gotAlerts) {
					errs = append(errs, fmt.Errorf("%s    alertname: %s, time: %s, \n        exp:%v, \n        got:%v",
						prefix, tc.Alertname, tc.EvalTime, laString(exp), laString(gotAlerts)))
				}
			}
			curr++
		}
	}

	for _, tc := range tg.PromqlExprTests {
		got, err := instantQuery(suite.ctx, suite.engine, suite.db, tc.Expr, mint.Add(time.Duration(tc.EvalTime)))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s    expr: %q, time: %s, err: %s", prefix, tc.Expr, tc.EvalTime, err))
			continue
		}
		var gotS, expS []parsedSample
		for _, s := range got {
			gotS = append(gotS, parsedSample{s.Metric.Copy(), s.F, histogramExpression(s.H)})
		}
		var bad error
		for _, s := range tc.ExpSamples {
			lb, err := p.ParseMetric(s.Labels)
			var h *histogram.FloatHistogram
			if err == nil && s.Histogram != "" {
				_, vals, perr := p.ParseSeriesDesc("{} " + s.Histogram)
				switch {
				case perr != nil:
					err = perr
				case len(vals) != 1 || vals[0].Histogram == nil:
					err = fmt.Errorf("expected one histogram, got %v", vals)
				default:
					h = vals[0].Histogram
				}
			}
			if err != nil {
				bad = fmt.Errorf("%s    expr: %q, time: %s, err: labels %q: %w", prefix, tc.Expr, tc.EvalTime, s.Labels, err)
				break
			}
			expS = append(expS, parsedSample{lb, s.Value, histogramExpression(h)})
		}
		if bad != nil {
			errs = append(errs, bad)
			continue
		}
		sortSamples(gotS)
		sortSamples(expS)
		if !equalSamples(expS, gotS, fuzzy) {
			errs = append(errs, fmt.Errorf("%s    expr: %q, time: %s,\n        exp: %v\n        got: %v", prefix, tc.Expr, tc.EvalTime, samplesString(expS), samplesString(gotS)))
		}
	}
	return errs
}

func equalLA(a, b []labelsAndAnnotations) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !labels.Equal(a[i].Labels, b[i].Labels) || !labels.Equal(a[i].Annotations, b[i].Annotations) {
			return false
		}
	}
	return true
}

type parsedSample struct {
	Labels    labels.Labels
	Value     float64
	Histogram string
}

func (s parsedSample) String() string {
	if s.Histogram != "" {
		return s.Labels.String() + " " + s.Histogram
	}
	return s.Labels.String() + " " + strconv.FormatFloat(s.Value, 'E', -1, 64)
}

func sortSamples(s []parsedSample) {
	sort.Slice(s, func(i, j int) bool { return labels.Compare(s[i].Labels, s[j].Labels) <= 0 })
}

func samplesString(s []parsedSample) string {
	if len(s) == 0 {
		return "nil"
	}
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = x.String()
	}
	return strings.Join(parts, ", ")
}

func equalSamples(a, b []parsedSample, fuzzy bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !labels.Equal(a[i].Labels, b[i].Labels) || a[i].Histogram != b[i].Histogram {
			return false
		}
		x, y := a[i].Value, b[i].Value
		same := x == y
		if !same && fuzzy {
			same = math.Nextafter(x, math.Inf(-1)) == y || math.Nextafter(x, math.Inf(1)) == y
		}
		if !same {
			return false
		}
	}
	return true
}

func instantQuery(ctx context.Context, engine promql.QueryEngine, q promstorage.Queryable, qs string, t time.Time) (promql.Vector, error) {
	return promrules.EngineQueryFunc(engine, q)(ctx, qs, t)
}

// histogramExpression is h in the series notation ("" for none), as
// promtool compares histograms.
func histogramExpression(h *histogram.FloatHistogram) string {
	if h == nil {
		return ""
	}
	return h.TestExpression()
}

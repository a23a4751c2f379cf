// Package api serves the Prometheus HTTP query API over vigie's storage, in
// Prometheus's own JSON envelope, so that Grafana's Prometheus data source,
// promtool and any Prometheus API client work against vigie unchanged.
//
// It declares the small interfaces it needs (targets, metadata, rules) and
// knows nothing of the packages that implement them; cmd/vigie wires them.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"

	"github.com/vigie-dev/vigie/internal/web"
)

// Error types of the Prometheus API.
const (
	errorBadData     = "bad_data"
	errorExec        = "execution"
	errorTimeout     = "timeout"
	errorCanceled    = "canceled"
	errorInternal    = "internal"
	errorNotFound    = "not_found"
	errorUnavailable = "unavailable"
)

type apiError struct {
	typ string
	err error
}

func (e *apiError) Error() string { return e.typ + ": " + e.err.Error() }

func badData(format string, args ...any) *apiError {
	return &apiError{errorBadData, fmt.Errorf(format, args...)}
}

// TargetRetriever gives the scrape targets (Prometheus's scrape.Manager has these methods).
type TargetRetriever interface {
	TargetsActive() map[string][]*scrape.Target
	TargetsDropped() map[string][]*scrape.Target
}

// MetricMetadata is one metric family's metadata.
type MetricMetadata struct {
	Type string `json:"type"`
	Help string `json:"help"`
	Unit string `json:"unit"`
}

// RulesSource renders /api/v1/rules and /api/v1/alerts data.
type RulesSource interface {
	RulesData(q url.Values) (any, error)
	AlertsData() any
}

// BuildInfo is what /api/v1/status/buildinfo reports.
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// Options wire the API to the rest of vigie. Nil sources answer empty.
type Options struct {
	Engine    promql.QueryEngine
	Queryable storage.Queryable
	// LookbackDelta is the staleness window of instant vectors (default 5m).
	LookbackDelta time.Duration
	// QueryTimeout bounds a query's evaluation (default 2m).
	QueryTimeout time.Duration
	// MaxQueryLength is the longest query accepted, in bytes (default 64 KiB).
	MaxQueryLength int
	// MaxQueryDepth is the deepest nesting of parentheses, brackets and
	// braces accepted in a query (default 256).
	MaxQueryDepth int
	// MaxQueryOperators is the most binary operators accepted in a query
	// (default 1000).
	MaxQueryOperators int
	// MaxConcurrentQueries is how many queries evaluate at once (default 20).
	MaxConcurrentQueries int
	Targets              func() TargetRetriever
	Metadata             func() map[string][]MetricMetadata
	Rules                func() RulesSource
	// Config returns the running configuration, secrets redacted, as YAML.
	Config    func() string
	BuildInfo BuildInfo
	StartTime time.Time
	Logger    *slog.Logger
}

// API is the Prometheus HTTP API.
type API struct {
	o      Options
	limits atomic.Pointer[queryLimits] // swapped whole by ApplyConfig
}

// New returns the API.
func New(o Options) *API {
	if o.LookbackDelta == 0 {
		o.LookbackDelta = 5 * time.Minute
	}
	if o.QueryTimeout == 0 {
		o.QueryTimeout = 2 * time.Minute
	}
	if o.MaxQueryLength <= 0 {
		o.MaxQueryLength = DefaultMaxQueryLength
	}
	if o.MaxQueryDepth <= 0 {
		o.MaxQueryDepth = DefaultMaxQueryDepth
	}
	if o.MaxQueryOperators <= 0 {
		o.MaxQueryOperators = DefaultMaxQueryOperators
	}
	if o.MaxConcurrentQueries <= 0 {
		o.MaxConcurrentQueries = DefaultMaxConcurrentQueries
	}
	if o.BuildInfo.GoVersion == "" {
		o.BuildInfo.GoVersion = runtime.Version()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	a := &API{o: o}
	a.limits.Store(&queryLimits{
		timeout: o.QueryTimeout, maxLength: o.MaxQueryLength, maxDepth: o.MaxQueryDepth, maxOperators: o.MaxQueryOperators,
		slots: make(chan struct{}, o.MaxConcurrentQueries),
	})
	return a
}

type apiFunc func(r *http.Request) (any, annotations.Annotations, *apiError)

// Register mounts the endpoints on mux under /api/v1/.
func (a *API) Register(mux *http.ServeMux) {
	for _, r := range a.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
}

// Routes is the API's route table: every endpoint only reads.
func (a *API) Routes() []web.Route {
	var routes []web.Route
	h := func(pattern string, f apiFunc) {
		routes = append(routes, web.Route{Pattern: pattern, Access: web.Read, Handler: a.wrap(f)})
	}
	h("/api/v1/query", a.query)
	h("/api/v1/query_range", a.queryRange)
	h("/api/v1/query_exemplars", a.queryExemplars)
	h("/api/v1/format_query", a.formatQuery)
	h("/api/v1/parse_query", a.parseQuery)
	h("/api/v1/series", a.series)
	h("/api/v1/labels", a.labelNames)
	h("/api/v1/label/{name}/values", a.labelValues)
	h("/api/v1/metadata", a.metadata)
	h("/api/v1/targets", a.targets)
	h("/api/v1/targets/metadata", a.targetsMetadata)
	h("/api/v1/rules", a.rules)
	h("/api/v1/alerts", a.alerts)
	h("/api/v1/status/buildinfo", a.buildinfo)
	h("/api/v1/status/config", a.config)
	h("/api/v1/status/flags", func(*http.Request) (any, annotations.Annotations, *apiError) { return map[string]string{}, nil, nil })
	h("/api/v1/status/runtimeinfo", a.runtimeinfo)
	h("/api/v1/alertmanagers", func(*http.Request) (any, annotations.Annotations, *apiError) {
		return map[string]any{"activeAlertmanagers": []any{}, "droppedAlertmanagers": []any{}}, nil, nil
	})
	return routes
}

type response struct {
	Status    string   `json:"status"`
	Data      any      `json:"data,omitempty"`
	ErrorType string   `json:"errorType,omitempty"`
	Error     string   `json:"error,omitempty"`
	Warnings  []string `json:"warnings,omitempty"`
	Infos     []string `json:"infos,omitempty"`
}

func (a *API) wrap(f apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			writeJSON(w, http.StatusMethodNotAllowed, response{Status: "error", ErrorType: errorBadData, Error: "method not allowed"})
			return
		}
		if err := r.ParseForm(); err != nil {
			writeJSON(w, http.StatusBadRequest, response{Status: "error", ErrorType: errorBadData, Error: fmt.Sprintf("error parsing form values: %v", err)})
			return
		}
		data, annos, apiErr := f(r)
		warnings, infos := annos.AsStrings("", 10, 10)
		if apiErr != nil {
			writeJSON(w, statusCode(apiErr.typ), response{Status: "error", ErrorType: apiErr.typ, Error: apiErr.err.Error(), Data: data, Warnings: warnings, Infos: infos})
			return
		}
		writeJSON(w, http.StatusOK, response{Status: "success", Data: data, Warnings: warnings, Infos: infos})
	})
}

func statusCode(typ string) int {
	switch typ {
	case errorBadData:
		return http.StatusBadRequest
	case errorExec:
		return http.StatusUnprocessableEntity
	case errorCanceled:
		return 499
	case errorTimeout, errorUnavailable:
		return http.StatusServiceUnavailable
	case errorNotFound:
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(response{Status: "error", ErrorType: errorInternal, Error: "encode response: " + err.Error()})
		code = http.StatusInternalServerError
	}
	// encoding/json escapes <, > and & (\u003c…), so input echoed in an
	// error message cannot become markup; nosniff stops a browser from
	// guessing another type.
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

type queryData struct {
	ResultType parser.ValueType `json:"resultType"`
	Result     parser.Value     `json:"result"`
}

var (
	minTime = time.Unix(math.MinInt64/1000+62135596801, 0).UTC()
	maxTime = time.Unix(math.MaxInt64/1000-62135596801, 999999999).UTC()
)

func parseTime(s string) (time.Time, error) {
	if t, err := strconv.ParseFloat(s, 64); err == nil {
		sec, ns := math.Modf(t)
		ns = math.Round(ns*1000) / 1000
		return time.Unix(int64(sec), int64(ns*float64(time.Second))).UTC(), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	switch s {
	case minTime.Format(time.RFC3339Nano):
		return minTime, nil
	case maxTime.Format(time.RFC3339Nano):
		return maxTime, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q to a valid timestamp", s)
}

func parseTimeParam(r *http.Request, name string, def time.Time) (time.Time, *apiError) {
	v := r.Form.Get(name)
	if v == "" {
		return def, nil
	}
	t, err := parseTime(v)
	if err != nil {
		return time.Time{}, badData("invalid parameter %q: %v", name, err)
	}
	return t, nil
}

func parseDuration(s string) (time.Duration, error) {
	if d, err := strconv.ParseFloat(s, 64); err == nil {
		ts := d * float64(time.Second)
		if ts > float64(math.MaxInt64) || ts < float64(math.MinInt64) {
			return 0, fmt.Errorf("cannot parse %q to a valid duration. It overflows int64", s)
		}
		return time.Duration(ts), nil
	}
	if d, err := model.ParseDuration(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("cannot parse %q to a valid duration", s)
}

func (a *API) queryContext(r *http.Request) (context.Context, context.CancelFunc, *apiError) {
	timeout := a.limits.Load().timeout
	if v := r.Form.Get("timeout"); v != "" {
		d, err := parseDuration(v)
		if err != nil {
			return nil, nil, badData("invalid parameter \"timeout\": %v", err)
		}
		timeout = min(timeout, d)
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	return ctx, cancel, nil
}

func (a *API) query(r *http.Request) (any, annotations.Annotations, *apiError) {
	ts, apiErr := parseTimeParam(r, "time", time.Now())
	if apiErr != nil {
		return nil, nil, apiErr
	}
	ctx, cancel, apiErr := a.queryContext(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer cancel()
	qs := r.Form.Get("query")
	if qs == "" {
		return nil, nil, badData("invalid parameter \"query\": query is empty")
	}
	if apiErr := a.checkQuery("query", qs); apiErr != nil {
		return nil, nil, apiErr
	}
	release, apiErr := a.acquire(ctx)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer release()
	q, err := a.o.Engine.NewInstantQuery(ctx, a.o.Queryable, a.queryOpts(r), qs, ts)
	if err != nil {
		return nil, nil, badData("invalid parameter \"query\": %v", err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Warnings, queryError(res.Err)
	}
	return queryData{ResultType: res.Value.Type(), Result: res.Value}, res.Warnings, nil
}

func (a *API) queryOpts(r *http.Request) promql.QueryOpts {
	lookback := a.o.LookbackDelta
	if v := r.Form.Get("lookback_delta"); v != "" {
		if d, err := parseDuration(v); err == nil && d > 0 {
			lookback = d
		}
	}
	return promql.NewPrometheusQueryOpts(false, lookback)
}

func (a *API) queryRange(r *http.Request) (any, annotations.Annotations, *apiError) {
	if r.Form.Get("start") == "" || r.Form.Get("end") == "" || r.Form.Get("step") == "" {
		for _, p := range []string{"start", "end", "step"} {
			if r.Form.Get(p) == "" {
				return nil, nil, badData("invalid parameter %q: missing", p)
			}
		}
	}
	start, apiErr := parseTimeParam(r, "start", time.Time{})
	if apiErr != nil {
		return nil, nil, apiErr
	}
	end, apiErr := parseTimeParam(r, "end", time.Time{})
	if apiErr != nil {
		return nil, nil, apiErr
	}
	if end.Before(start) {
		return nil, nil, badData("invalid parameter \"end\": end timestamp must not be before start time")
	}
	step, err := parseDuration(r.Form.Get("step"))
	if err != nil {
		return nil, nil, badData("invalid parameter \"step\": %v", err)
	}
	if step <= 0 {
		return nil, nil, badData("invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer")
	}
	// For safety, limit the number of returned points per timeseries, as Prometheus does.
	if end.Sub(start)/step > 11000 {
		return nil, nil, badData("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
	}
	ctx, cancel, apiErr := a.queryContext(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer cancel()
	qs := r.Form.Get("query")
	if qs == "" {
		return nil, nil, badData("invalid parameter \"query\": query is empty")
	}
	if apiErr := a.checkQuery("query", qs); apiErr != nil {
		return nil, nil, apiErr
	}
	release, apiErr := a.acquire(ctx)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer release()
	q, err := a.o.Engine.NewRangeQuery(ctx, a.o.Queryable, a.queryOpts(r), qs, start, end, step)
	if err != nil {
		return nil, nil, badData("invalid parameter \"query\": %v", err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Warnings, queryError(res.Err)
	}
	return queryData{ResultType: res.Value.Type(), Result: res.Value}, res.Warnings, nil
}

func queryError(err error) *apiError {
	var (
		timeout promql.ErrQueryTimeout
		cancel  promql.ErrQueryCanceled
		es      promql.ErrStorage
	)
	switch {
	case errors.As(err, &timeout), errors.Is(err, context.DeadlineExceeded):
		return &apiError{errorTimeout, err}
	case errors.As(err, &cancel), errors.Is(err, context.Canceled):
		return &apiError{errorCanceled, err}
	case errors.As(err, &es):
		return &apiError{errorInternal, err}
	}
	return &apiError{errorExec, err}
}

func (a *API) queryExemplars(r *http.Request) (any, annotations.Annotations, *apiError) {
	if apiErr := a.checkQuery("query", r.Form.Get("query")); apiErr != nil {
		return nil, nil, apiErr
	}
	if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Form.Get("query")); err != nil {
		return nil, nil, badData("invalid parameter \"query\": %v", err)
	}
	return []any{}, nil, nil
}

func (a *API) formatQuery(r *http.Request) (any, annotations.Annotations, *apiError) {
	if apiErr := a.checkQuery("query", r.Form.Get("query")); apiErr != nil {
		return nil, nil, apiErr
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Form.Get("query"))
	if err != nil {
		return nil, nil, badData("invalid parameter \"query\": %v", err)
	}
	return expr.Pretty(0), nil, nil
}

func (a *API) parseQuery(r *http.Request) (any, annotations.Annotations, *apiError) {
	if apiErr := a.checkQuery("query", r.Form.Get("query")); apiErr != nil {
		return nil, nil, apiErr
	}
	expr, err := parser.NewParser(parser.Options{}).ParseExpr(r.Form.Get("query"))
	if err != nil {
		return nil, nil, badData("invalid parameter \"query\": %v", err)
	}
	return map[string]any{"type": expr.Type(), "expr": expr.String()}, nil, nil
}

func parseMatchers(r *http.Request) ([][]*labels.Matcher, *apiError) {
	var out [][]*labels.Matcher
	p := parser.NewParser(parser.Options{})
	for _, s := range r.Form["match[]"] {
		ms, err := p.ParseMetricSelector(s)
		if err != nil {
			return nil, badData("invalid parameter \"match[]\": %v", err)
		}
		empty := true
		for _, m := range ms {
			if !m.Matches("") {
				empty = false
				break
			}
		}
		if empty {
			return nil, badData("invalid parameter \"match[]\": match[] must contain at least one non-empty matcher")
		}
		out = append(out, ms)
	}
	return out, nil
}

func parseLimit(r *http.Request) (int, *apiError) {
	s := r.Form.Get("limit")
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, badData("invalid parameter \"limit\": must be a non-negative integer")
	}
	return n, nil
}

func (a *API) querier(r *http.Request) (storage.Querier, *storage.SelectHints, *apiError) {
	start, apiErr := parseTimeParam(r, "start", minTime)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	end, apiErr := parseTimeParam(r, "end", maxTime)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	q, err := a.o.Queryable.Querier(timestamp(start), timestamp(end))
	if err != nil {
		return nil, nil, &apiError{errorExec, err}
	}
	return q, &storage.SelectHints{Start: timestamp(start), End: timestamp(end), Func: "series"}, nil
}

func timestamp(t time.Time) int64 {
	switch {
	case t.Equal(minTime):
		return math.MinInt64
	case t.Equal(maxTime):
		return math.MaxInt64
	}
	return t.UnixMilli()
}

func (a *API) series(r *http.Request) (any, annotations.Annotations, *apiError) {
	if len(r.Form["match[]"]) == 0 {
		return nil, nil, badData("no match[] parameter provided")
	}
	matchers, apiErr := parseMatchers(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	limit, apiErr := parseLimit(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	q, hints, apiErr := a.querier(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer q.Close()
	var sets []storage.SeriesSet
	for _, ms := range matchers {
		sets = append(sets, q.Select(r.Context(), len(matchers) > 1, hints, ms...))
	}
	set := storage.NewMergeSeriesSet(sets, 0, storage.ChainedSeriesMerge)
	out := []labels.Labels{}
	var warnings annotations.Annotations
	for set.Next() {
		out = append(out, set.At().Labels())
		if limit > 0 && len(out) > limit {
			out = out[:limit]
			warnings.Add(errors.New("results truncated due to limit"))
			break
		}
	}
	warnings.Merge(set.Warnings())
	if err := set.Err(); err != nil {
		return nil, warnings, &apiError{errorExec, err}
	}
	return out, warnings, nil
}

func (a *API) labelNames(r *http.Request) (any, annotations.Annotations, *apiError) {
	return a.labelStrings(r, func(ctx context.Context, q storage.Querier, h *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelNames(ctx, h, ms...)
	})
}

func (a *API) labelValues(r *http.Request) (any, annotations.Annotations, *apiError) {
	name := r.PathValue("name")
	if strings.HasPrefix(name, "U__") {
		name = model.UnescapeName(name, model.ValueEncodingEscaping)
	}
	if !model.UTF8Validation.IsValidLabelName(name) {
		return nil, nil, badData("invalid label name: %q", name)
	}
	return a.labelStrings(r, func(ctx context.Context, q storage.Querier, h *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
		return q.LabelValues(ctx, name, h, ms...)
	})
}

type labelFetch func(ctx context.Context, q storage.Querier, h *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error)

// labelStrings answers /labels and /label/<name>/values: the strings fetch
// returns for each match[] selector (or for all series), merged, sorted and
// cut at limit.
func (a *API) labelStrings(r *http.Request, fetch labelFetch) (any, annotations.Annotations, *apiError) {
	matchers, apiErr := parseMatchers(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	limit, apiErr := parseLimit(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	q, _, apiErr := a.querier(r)
	if apiErr != nil {
		return nil, nil, apiErr
	}
	defer q.Close()
	// One more than the limit, to know whether the answer was truncated.
	hints := &storage.LabelHints{}
	if limit > 0 {
		hints.Limit = limit + 1
	}
	var out []string
	var warnings annotations.Annotations
	if len(matchers) == 0 {
		vs, ws, err := fetch(r.Context(), q, hints)
		if err != nil {
			return nil, ws, &apiError{errorExec, err}
		}
		out, warnings = vs, ws
		slices.Sort(out)
	} else {
		set := map[string]struct{}{}
		for _, ms := range matchers {
			vs, ws, err := fetch(r.Context(), q, hints, ms...)
			if err != nil {
				return nil, ws, &apiError{errorExec, err}
			}
			warnings.Merge(ws)
			for _, v := range vs {
				set[v] = struct{}{}
			}
		}
		for v := range set {
			out = append(out, v)
		}
		slices.Sort(out)
	}
	if out == nil {
		out = []string{}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
		warnings.Add(errors.New("results truncated due to limit"))
	}
	return out, warnings, nil
}

func (a *API) metadata(r *http.Request) (any, annotations.Annotations, *apiError) {
	limit := -1
	if s := r.Form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, nil, badData("limit must be a number")
		}
		limit = n
	}
	metric := r.Form.Get("metric")
	all := map[string][]MetricMetadata{}
	if a.o.Metadata != nil {
		for k, v := range a.o.Metadata() {
			all[k] = append(all[k], v...)
		}
	}
	if a.o.Targets != nil {
		if tr := a.o.Targets(); tr != nil {
			for _, ts := range tr.TargetsActive() {
				for _, t := range ts {
					for _, md := range t.ListMetadata() {
						m := MetricMetadata{Type: string(md.Type), Help: md.Help, Unit: md.Unit}
						if !slices.Contains(all[md.MetricFamily], m) {
							all[md.MetricFamily] = append(all[md.MetricFamily], m)
						}
					}
				}
			}
		}
	}
	names := make([]string, 0, len(all))
	for k := range all {
		names = append(names, k)
	}
	sort.Strings(names)
	out := map[string][]MetricMetadata{}
	for _, k := range names {
		if metric != "" && k != metric {
			continue
		}
		if limit >= 0 && len(out) >= limit {
			break
		}
		out[k] = all[k]
	}
	return out, nil, nil
}

type target struct {
	DiscoveredLabels   labels.Labels       `json:"discoveredLabels"`
	Labels             labels.Labels       `json:"labels"`
	ScrapePool         string              `json:"scrapePool"`
	ScrapeURL          string              `json:"scrapeUrl"`
	GlobalURL          string              `json:"globalUrl"`
	LastError          string              `json:"lastError"`
	LastScrape         time.Time           `json:"lastScrape"`
	LastScrapeDuration float64             `json:"lastScrapeDuration"`
	Health             scrape.TargetHealth `json:"health"`
	ScrapeInterval     string              `json:"scrapeInterval"`
	ScrapeTimeout      string              `json:"scrapeTimeout"`
}

type droppedTarget struct {
	DiscoveredLabels labels.Labels `json:"discoveredLabels"`
	ScrapePool       string        `json:"scrapePool"`
}

func (a *API) targets(r *http.Request) (any, annotations.Annotations, *apiError) {
	res := struct {
		ActiveTargets  []target        `json:"activeTargets"`
		DroppedTargets []droppedTarget `json:"droppedTargets"`
	}{[]target{}, []droppedTarget{}}
	var tr TargetRetriever
	if a.o.Targets != nil {
		tr = a.o.Targets()
	}
	if tr == nil {
		return res, nil, nil
	}
	pool := r.Form.Get("scrapePool")
	state := strings.ToLower(r.Form.Get("state"))
	b := labels.NewBuilder(labels.EmptyLabels())
	if state == "" || state == "any" || state == "active" {
		active := tr.TargetsActive()
		for _, p := range sortedKeys(active) {
			if pool != "" && p != pool {
				continue
			}
			for _, t := range active[p] {
				lastErr := ""
				if err := t.LastError(); err != nil {
					lastErr = err.Error()
				}
				res.ActiveTargets = append(res.ActiveTargets, target{
					DiscoveredLabels:   t.DiscoveredLabels(b),
					Labels:             t.Labels(b),
					ScrapePool:         p,
					ScrapeURL:          t.URL().String(),
					GlobalURL:          t.URL().String(),
					LastError:          lastErr,
					LastScrape:         t.LastScrape(),
					LastScrapeDuration: t.LastScrapeDuration().Seconds(),
					Health:             t.Health(),
					ScrapeInterval:     t.GetValue(model.ScrapeIntervalLabel),
					ScrapeTimeout:      t.GetValue(model.ScrapeTimeoutLabel),
				})
			}
		}
	}
	if state == "" || state == "any" || state == "dropped" {
		dropped := tr.TargetsDropped()
		for _, p := range sortedKeys(dropped) {
			if pool != "" && p != pool {
				continue
			}
			for _, t := range dropped[p] {
				res.DroppedTargets = append(res.DroppedTargets, droppedTarget{DiscoveredLabels: t.DiscoveredLabels(b), ScrapePool: p})
			}
		}
	}
	return res, nil, nil
}

func (a *API) targetsMetadata(r *http.Request) (any, annotations.Annotations, *apiError) {
	type md struct {
		Target labels.Labels `json:"target"`
		Metric string        `json:"metric,omitempty"`
		Type   string        `json:"type"`
		Help   string        `json:"help"`
		Unit   string        `json:"unit"`
	}
	out := []md{}
	if a.o.Targets == nil || a.o.Targets() == nil {
		return out, nil, nil
	}
	metric := r.Form.Get("metric")
	b := labels.NewBuilder(labels.EmptyLabels())
	active := a.o.Targets().TargetsActive()
	for _, p := range sortedKeys(active) {
		for _, t := range active[p] {
			for _, m := range t.ListMetadata() {
				if metric != "" && m.MetricFamily != metric {
					continue
				}
				out = append(out, md{Target: t.Labels(b), Metric: m.MetricFamily, Type: string(m.Type), Help: m.Help, Unit: m.Unit})
			}
		}
	}
	return out, nil, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (a *API) rules(r *http.Request) (any, annotations.Annotations, *apiError) {
	if a.o.Rules == nil || a.o.Rules() == nil {
		return map[string]any{"groups": []any{}}, nil, nil
	}
	data, err := a.o.Rules().RulesData(r.Form)
	if err != nil {
		return nil, nil, badData("%v", err)
	}
	return data, nil, nil
}

func (a *API) alerts(*http.Request) (any, annotations.Annotations, *apiError) {
	if a.o.Rules == nil || a.o.Rules() == nil {
		return map[string]any{"alerts": []any{}}, nil, nil
	}
	return a.o.Rules().AlertsData(), nil, nil
}

func (a *API) buildinfo(*http.Request) (any, annotations.Annotations, *apiError) {
	return a.o.BuildInfo, nil, nil
}

func (a *API) config(*http.Request) (any, annotations.Annotations, *apiError) {
	yaml := ""
	if a.o.Config != nil {
		yaml = a.o.Config()
	}
	return map[string]string{"yaml": yaml}, nil, nil
}

func (a *API) runtimeinfo(*http.Request) (any, annotations.Annotations, *apiError) {
	return map[string]any{
		"startTime":           a.o.StartTime,
		"CWD":                 "",
		"reloadConfigSuccess": true,
		"goroutineCount":      runtime.NumGoroutine(),
		"GOMAXPROCS":          runtime.GOMAXPROCS(0),
		"GOGC":                "",
		"GODEBUG":             "",
		"storageRetention":    "",
	}, nil, nil
}

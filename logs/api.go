package logs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/internal/web"
)

// Query limits of the API.
const (
	DefaultQueryLimit = 100
	MaxQueryLimit     = 5000
	defaultRange      = time.Hour
)

// API serves the store in Loki's HTTP shapes.
type API struct {
	store *Store
	now   func() time.Time
}

// NewAPI returns the query API over s.
func NewAPI(s *Store) *API { return &API{store: s, now: s.now} }

// Routes are the read routes of the query API (Grafana's Loki data source
// browses them).
func (a *API) Routes() []web.Route {
	return []web.Route{
		web.R("GET /loki/api/v1/query_range", web.Read, a.queryRange),
		web.R("GET /loki/api/v1/query", web.Read, a.query),
		web.R("GET /loki/api/v1/labels", web.Read, a.labelNames),
		web.R("GET /loki/api/v1/label/{name}/values", web.Read, a.labelValues),
		web.R("GET /loki/api/v1/series", web.Read, a.series),
		web.R("POST /loki/api/v1/series", web.Read, a.series),
	}
}

type streamJSON struct {
	Stream map[string]string `json:"stream"`
	Values [][2]string       `json:"values"`
}

func (a *API) queryRange(w http.ResponseWriter, r *http.Request) {
	start, end, err := a.timeRange(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	a.runQuery(w, r, start, end)
}

// query answers an instant log query over the hour before time (Loki's
// instant queries are meant for metric queries, which vigie does not do).
func (a *API) query(w http.ResponseWriter, r *http.Request) {
	end := a.now()
	if v := r.FormValue("time"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			badRequest(w, fmt.Errorf("time: %w", err))
			return
		}
		end = t
	}
	a.runQuery(w, r, end.Add(-defaultRange), end)
}

func (a *API) runQuery(w http.ResponseWriter, r *http.Request, start, end time.Time) {
	q, err := ParseQuery(r.FormValue("query"))
	if err != nil {
		badRequest(w, err)
		return
	}
	limit := DefaultQueryLimit
	if v := r.FormValue("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit <= 0 || limit > MaxQueryLimit {
			badRequest(w, fmt.Errorf("limit: must be an integer between 1 and %d", MaxQueryLimit))
			return
		}
	}
	forward := false
	switch r.FormValue("direction") {
	case "", "backward", "BACKWARD":
	case "forward", "FORWARD":
		forward = true
	default:
		badRequest(w, errors.New("direction: must be forward or backward"))
		return
	}
	hits, err := a.store.Select(r.Context(), Selection{
		Matchers: q.Matchers, Start: start.UnixNano(), End: end.UnixNano(),
		Contains: q.Contains(), Forward: forward, Limit: limit,
	}, q.Keep)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"status": "success", "data": map[string]any{
		"resultType": "streams", "result": groupHits(hits), "stats": map[string]any{},
	}})
}

func groupHits(hits []Hit) []streamJSON {
	out := []streamJSON{}
	index := map[string]int{}
	for _, h := range hits {
		k := h.Labels.String()
		i, ok := index[k]
		if !ok {
			i = len(out)
			index[k] = i
			out = append(out, streamJSON{Stream: h.Labels.Map()})
		}
		out[i].Values = append(out[i].Values, [2]string{strconv.FormatInt(h.TS, 10), h.Line})
	}
	return out
}

func (a *API) labelNames(w http.ResponseWriter, r *http.Request) {
	start, end, err := a.timeRange(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	writeJSON(w, map[string]any{"status": "success", "data": nonNil(a.store.LabelNames(start.UnixNano(), end.UnixNano()))})
}

func (a *API) labelValues(w http.ResponseWriter, r *http.Request) {
	start, end, err := a.timeRange(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	vals := a.store.LabelValues(r.PathValue("name"), start.UnixNano(), end.UnixNano())
	writeJSON(w, map[string]any{"status": "success", "data": nonNil(vals)})
}

func (a *API) series(w http.ResponseWriter, r *http.Request) {
	start, end, err := a.timeRange(r)
	if err != nil {
		badRequest(w, err)
		return
	}
	var sels [][]*labels.Matcher
	for _, s := range r.Form["match[]"] {
		ms, err := ParseSelector(s)
		if err != nil {
			badRequest(w, fmt.Errorf("match[]: %w", err))
			return
		}
		sels = append(sels, ms)
	}
	out := []map[string]string{}
	for _, ls := range a.store.Series(sels, start.UnixNano(), end.UnixNano()) {
		out = append(out, ls.Map())
	}
	writeJSON(w, map[string]any{"status": "success", "data": out})
}

// timeRange reads start/end (and since), defaulting to the last hour.
func (a *API) timeRange(r *http.Request) (time.Time, time.Time, error) {
	if err := r.ParseForm(); err != nil {
		return time.Time{}, time.Time{}, err
	}
	end := a.now()
	if v := r.FormValue("end"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("end: %w", err)
		}
		end = t
	}
	start := end.Add(-defaultRange)
	if v := r.FormValue("since"); v != "" {
		d, err := model.ParseDuration(v)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("since: %w", err)
		}
		start = end.Add(-time.Duration(d))
	}
	if v := r.FormValue("start"); v != "" {
		t, err := parseTime(v)
		if err != nil {
			return time.Time{}, time.Time{}, fmt.Errorf("start: %w", err)
		}
		start = t
	}
	if end.Before(start) {
		return time.Time{}, time.Time{}, errors.New("end must not be before start")
	}
	return start, end, nil
}

// parseTime takes Unix nanoseconds, Unix seconds (with a fraction) or RFC 3339, as Loki does.
func parseTime(v string) (time.Time, error) {
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if len(v) > 12 { // nanoseconds
			return time.Unix(0, n), nil
		}
		return time.Unix(n, 0), nil
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		s, frac := math.Modf(f)
		return time.Unix(int64(s), int64(frac*1e9)), nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, fmt.Errorf("cannot parse %q: want Unix ns, seconds or RFC 3339", v)
	}
	return t, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func badRequest(w http.ResponseWriter, err error) {
	http.Error(w, err.Error(), http.StatusBadRequest)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

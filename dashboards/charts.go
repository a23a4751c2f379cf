package dashboards

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// chartSpec is a chart to draw: one or more expressions, each series of
// an expression with a name renamed to it (usage against limit).
type chartSpec struct {
	Title string
	Unit  string
	Exprs []namedExpr
}

type namedExpr struct {
	Name string // "" keeps the series' own labels
	Expr string
}

func one(title, unit, expr string) chartSpec {
	return chartSpec{Title: title, Unit: unit, Exprs: []namedExpr{{Expr: expr}}}
}

// expand puts the rate window in place of $w.
func expand(expr string, rateWin time.Duration) string {
	return strings.ReplaceAll(expr, "$w", strconv.FormatInt(int64(rateWin/time.Second), 10)+"s")
}

// charts runs every spec's range queries concurrently and lays them out.
func (u *UI) charts(ctx context.Context, r *http.Request, specs []chartSpec) []Chart {
	_, d, step, rateWin := window(r)
	end := u.o.Now()
	start := end.Add(-d)
	out := make([]Chart, len(specs))
	var wg sync.WaitGroup
	for i, s := range specs {
		wg.Go(func() {
			var all promql.Matrix
			var errs []string
			for _, e := range s.Exprs {
				m, err := u.o.Query.Range(ctx, expand(e.Expr, rateWin), start, end, step)
				if err != nil {
					errs = append(errs, err.Error())
					continue
				}
				if e.Name != "" {
					for j := range m {
						m[j].Metric = labels.FromStrings("name", e.Name)
					}
				}
				all = append(all, m...)
			}
			c := newChart(s.Title, expand(s.Exprs[0].Expr, rateWin), s.Unit, all, start, end)
			c.Error = strings.Join(errs, "; ")
			out[i] = c
		})
	}
	wg.Wait()
	return out
}

// instant runs expr now and returns the values by one label.
func (u *UI) instant(ctx context.Context, expr, by string) (map[string]float64, error) {
	v, err := u.o.Query.Instant(ctx, expr, u.o.Now())
	if err != nil {
		return nil, err
	}
	out := make(map[string]float64, len(v))
	for _, s := range v {
		out[s.Metric.Get(by)] = s.F
	}
	return out, nil
}

// quote makes a PromQL string literal of a label value.
func quote(s string) string { return strconv.Quote(s) }

package dashboards

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"
)

// Querier runs PromQL, as the HTTP API does.
type Querier interface {
	Instant(ctx context.Context, expr string, t time.Time) (promql.Vector, error)
	Range(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error)
}

// EngineQuerier is the Querier of an engine over a queryable (the TSDB),
// the same pair the API queries.
type EngineQuerier struct {
	Engine    *promql.Engine
	Queryable storage.Queryable
}

// Instant evaluates expr at t; a scalar becomes a one-sample vector.
func (q EngineQuerier) Instant(ctx context.Context, expr string, t time.Time) (promql.Vector, error) {
	qry, err := q.Engine.NewInstantQuery(ctx, q.Queryable, nil, expr, t)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		// Close hands the result's memory back to the engine's pools.
		return append(promql.Vector(nil), v...), nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V}}, nil
	}
	return nil, fmt.Errorf("expression returns %s, want a vector or a scalar", res.Value.Type())
}

// Range evaluates expr from start to end every step.
func (q EngineQuerier) Range(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
	qry, err := q.Engine.NewRangeQuery(ctx, q.Queryable, nil, expr, start, end, step)
	if err != nil {
		return nil, err
	}
	defer qry.Close()
	res := qry.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	m, ok := res.Value.(promql.Matrix)
	if !ok {
		return nil, fmt.Errorf("expression returns %s, want a matrix", res.Value.Type())
	}
	// Close hands the points' memory back to the engine's pools: copy them.
	out := make(promql.Matrix, len(m))
	for i, s := range m {
		out[i] = promql.Series{Metric: s.Metric, Floats: append([]promql.FPoint(nil), s.Floats...)}
	}
	return out, nil
}

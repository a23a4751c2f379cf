package rules

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/tsdb"
)

// seriesLoader appends a unit-test group's input series to a throw-away
// TSDB up to each evaluation time, as promtool's promqltest.LazyLoader
// does. promqltest is not used because it links the testing package and
// testify into the server binary; the series notation is parsed by
// promql/parser's ParseSeriesDesc, which is what promqltest uses too.
type seriesLoader struct {
	dir     string
	db      *tsdb.DB
	engine  *promql.Engine
	pending []loadSeries
	ctx     context.Context
	cancel  context.CancelFunc
}

type loadSeries struct {
	lset    labels.Labels
	samples []promql.Sample // not appended yet, in time order
}

// newSeriesLoader expands the input series, one value every interval from
// start (the Unix epoch when zero). A series given twice keeps its last values.
func newSeriesLoader(in []inputSeries, interval time.Duration, start time.Time, subqueryInterval time.Duration, p parser.Parser) (*seriesLoader, error) {
	if start.IsZero() {
		start = time.Unix(0, 0).UTC()
	}
	index := map[uint64]int{}
	var pending []loadSeries
	for i, is := range in {
		lset, vals, err := p.ParseSeriesDesc(is.Series + " " + is.Values)
		if err != nil {
			// Numbered as promtool numbers them: line 1 is its "load"
			// command, line 2 the first series.
			parser.EnrichParseError(err, func(pe *parser.ParseErr) { pe.LineOffset = i + 1 })
			return nil, err
		}
		s := loadSeries{lset: lset}
		ts := start
		for _, v := range vals {
			if !v.Omitted {
				s.samples = append(s.samples, promql.Sample{T: ts.UnixMilli(), F: v.Value, H: v.Histogram})
			}
			ts = ts.Add(interval)
		}
		if j, dup := index[lset.Hash()]; dup {
			pending[j] = s
			continue
		}
		index[lset.Hash()] = len(pending)
		pending = append(pending, s)
	}
	dir, err := os.MkdirTemp("", "vigie-rule-test")
	if err != nil {
		return nil, fmt.Errorf("rule test storage: %w", err)
	}
	// Tests load each series in order over a long span: one wide block
	// range, no retention and no out-of-order window, as Prometheus's
	// teststorage does.
	opts := tsdb.DefaultOptions()
	opts.MinBlockDuration = int64(24 * time.Hour / time.Millisecond)
	opts.MaxBlockDuration = opts.MinBlockDuration
	opts.RetentionDuration = 0
	opts.OutOfOrderTimeWindow = 0
	db, err := tsdb.Open(dir, slog.New(slog.DiscardHandler), nil, opts, nil)
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("rule test storage: %w", err)
	}
	l := &seriesLoader{dir: dir, db: db, pending: pending}
	l.engine = promql.NewEngine(promql.EngineOpts{
		MaxSamples:               10000,
		Timeout:                  100 * time.Second,
		NoStepSubqueryIntervalFn: func(int64) int64 { return subqueryInterval.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
	})
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// appendTill appends the samples at or before ts not appended yet.
func (l *seriesLoader) appendTill(ts time.Time) error {
	till := ts.UnixMilli()
	app := l.db.Appender(l.ctx)
	for i := range l.pending {
		s := &l.pending[i]
		n := 0
		for ; n < len(s.samples) && s.samples[n].T <= till; n++ {
			smp := s.samples[n]
			var err error
			if smp.H != nil {
				_, err = app.AppendHistogram(0, s.lset, smp.T, nil, smp.H)
			} else {
				_, err = app.Append(0, s.lset, smp.T, smp.F)
			}
			if err != nil {
				return errors.Join(err, app.Rollback())
			}
		}
		s.samples = s.samples[n:]
	}
	return app.Commit()
}

// Close stops the engine and removes the storage.
func (l *seriesLoader) Close() error {
	l.cancel()
	err := errors.Join(l.engine.Close(), l.db.Close())
	return errors.Join(err, os.RemoveAll(l.dir))
}

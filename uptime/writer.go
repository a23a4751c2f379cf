package uptime

import (
	"context"
	"time"
)

// Checks reach the history through one writer that commits them in
// batches: at most every flushEvery, or at once when maxBatch are waiting.
const (
	flushEvery = 500 * time.Millisecond
	maxBatch   = 256
)

// record hands a check to the writer, or writes it at once when the
// writer is not running (a runner driven directly).
func (m *Manager) record(ctx context.Context, r Record) {
	if m.history == nil {
		return
	}
	if m.writing.Load() {
		select {
		case m.records <- r:
		case <-ctx.Done():
		}
		return
	}
	if err := m.history.Record(ctx, r.Check, r.State, r.Incident); err != nil {
		m.logger.Warn("cannot record check", "err", err)
	}
}

// writeLoop batches records until stop is closed, then drains what is left.
func (m *Manager) writeLoop(stop <-chan struct{}) {
	var batch []Record
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := m.history.RecordBatch(ctx, batch); err != nil {
			m.logger.Warn("cannot record checks", "checks", len(batch), "err", err)
		}
		batch = batch[:0]
	}
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case r := <-m.records:
			batch = append(batch, r)
			if len(batch) >= maxBatch {
				flush()
			}
		case <-tick.C:
			flush()
		case <-stop:
			for {
				select {
				case r := <-m.records:
					batch = append(batch, r)
				default:
					flush()
					return
				}
			}
		}
	}
}

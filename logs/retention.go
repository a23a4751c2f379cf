package logs

import (
	"context"
	"fmt"
	"time"
)

// RetentionInterval is how often Run enforces the retention.
const RetentionInterval = time.Minute

// Run enforces the retention until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	t := time.NewTicker(RetentionInterval)
	defer t.Stop()
	for {
		if err := s.EnforceRetention(ctx); err != nil && ctx.Err() == nil {
			s.logger.Warn("log retention failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// EnforceRetention deletes lines older than max_age, then the oldest lines
// until the store uses less than max_size.
func (s *Store) EnforceRetention(ctx context.Context) error {
	s.mu.RLock()
	r := s.retention
	s.mu.RUnlock()
	if r.MaxAge > 0 {
		if err := s.deleteOlder(ctx, s.now().Add(-r.MaxAge.D()).UnixNano()); err != nil {
			return err
		}
	}
	used, err := s.UsedBytes(ctx)
	if err != nil {
		return err
	}
	for r.MaxSize > 0 && used > int64(r.MaxSize) {
		n, err := s.deleteOldest(ctx, used, int64(r.MaxSize))
		if err != nil || n == 0 {
			return err
		}
		if used, err = s.UsedBytes(ctx); err != nil {
			return err
		}
	}
	s.size.Set(float64(used))
	return nil
}

// UsedBytes is the size of the pages in use (the file does not shrink:
// freed pages are reused by later inserts).
func (s *Store) UsedBytes(ctx context.Context) (int64, error) {
	var pages, free, size int64
	for q, v := range map[string]*int64{"PRAGMA page_count": &pages, "PRAGMA freelist_count": &free, "PRAGMA page_size": &size} {
		if err := s.db.QueryRowContext(ctx, q).Scan(v); err != nil {
			return 0, fmt.Errorf("log store: %s: %w", q, err)
		}
	}
	return (pages - free) * size, nil
}

func (s *Store) deleteOlder(ctx context.Context, cutoff int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for id, st := range s.byID {
		if st.first >= cutoff {
			continue
		}
		res, err := s.db.ExecContext(ctx, `DELETE FROM log_lines WHERE stream_id = ? AND ts < ?`, id, cutoff)
		if err != nil {
			return fmt.Errorf("log store: age retention: %w", err)
		}
		n, _ := res.RowsAffected()
		total += n
		st.first = cutoff
		if st.last < cutoff {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM log_streams WHERE id = ?`, id); err != nil {
				return fmt.Errorf("log store: age retention: %w", err)
			}
			s.forget(st)
		}
	}
	s.deleted.WithLabelValues("age").Add(float64(total))
	return nil
}

// forget drops st from the in-memory index; s.mu held.
func (s *Store) forget(st *stream) {
	k := streamKey{st.base.Hash(), parseLevel(st.labels.Get(LevelLabel))}
	list := s.streams[k]
	for i, x := range list {
		if x == st {
			s.streams[k] = append(list[:i], list[i+1:]...)
			break
		}
	}
	delete(s.byID, st.id)
}

// deleteOldest removes the oldest rows (by insertion order), about the
// share of rows that brings used under 90% of max.
func (s *Store) deleteOldest(ctx context.Context, used, maxSize int64) (int64, error) {
	var lo, hi int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MIN(rowid), 0), COALESCE(MAX(rowid), 0) FROM log_lines`).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("log store: size retention: %w", err)
	}
	rows := hi - lo + 1
	if hi == 0 || rows <= 0 {
		return 0, nil
	}
	n := rows * (used - maxSize*9/10) / used
	n = max(n, 1000)
	res, err := s.db.ExecContext(ctx, `DELETE FROM log_lines WHERE rowid < ?`, lo+n)
	if err != nil {
		return 0, fmt.Errorf("log store: size retention: %w", err)
	}
	deleted, _ := res.RowsAffected()
	s.deleted.WithLabelValues("size").Add(float64(deleted))
	return deleted, nil
}

package logs

import (
	"context"
	"fmt"
	"math"
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
		if _, err := s.deleteOlder(ctx, s.now().Add(-r.MaxAge.D()).UnixNano(), "age"); err != nil {
			return err
		}
	}
	used, err := s.UsedBytes(ctx)
	if err != nil {
		return err
	}
	for try := 0; r.MaxSize > 0 && used > int64(r.MaxSize) && try < 64; try++ {
		n, err := s.deleteOldest(ctx, used, int64(r.MaxSize), try)
		if err != nil {
			return err
		}
		if n > 0 {
			try = -1
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

func (s *Store) deleteOlder(ctx context.Context, cutoff int64, reason string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var total int64
	for id, st := range s.byID {
		if st.first >= cutoff {
			continue
		}
		res, err := s.db.ExecContext(ctx, `DELETE FROM log_lines WHERE stream_id = ? AND ts < ?`, id, cutoff)
		if err != nil {
			return total, fmt.Errorf("log store: %s retention: %w", reason, err)
		}
		n, _ := res.RowsAffected()
		total += n
		st.first = cutoff
		if st.last < cutoff {
			if _, err := s.db.ExecContext(ctx, `DELETE FROM log_streams WHERE id = ?`, id); err != nil {
				return total, fmt.Errorf("log store: %s retention: %w", reason, err)
			}
			s.forget(st)
		}
	}
	s.deleted.WithLabelValues(reason).Add(float64(total))
	return total, nil
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

// deleteOldest removes the oldest part of the time span covered, about
// the share that brings used under 90% of max (doubled at each try that
// deleted nothing).
func (s *Store) deleteOldest(ctx context.Context, used, maxSize int64, try int) (int64, error) {
	s.mu.RLock()
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for _, st := range s.byID {
		lo, hi = min(lo, st.first), max(hi, st.last)
	}
	s.mu.RUnlock()
	if hi < lo {
		return 0, nil
	}
	frac := float64(used-maxSize*9/10) / float64(used) * float64(int64(1)<<min(try, 20))
	cutoff := lo + int64(float64(hi-lo)*min(frac, 1)) + 1
	return s.deleteOlder(ctx, cutoff, "size")
}

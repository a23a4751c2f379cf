package logs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// The forward queue keeps encoded pushes for an external Loki until it
// takes them, in the store's database so they survive restarts.

// Enqueue adds a batch for target, then drops the target's oldest batches
// while its queue is over maxBytes. It returns the entries dropped.
func (s *Store) Enqueue(ctx context.Context, target string, body []byte, entries int, maxBytes int64) (int, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO log_forward_queue (target, entries, body) VALUES (?, ?, ?)`, target, entries, body); err != nil {
		return 0, fmt.Errorf("log forward queue: %w", err)
	}
	dropped := 0
	for {
		size, err := s.QueueBytes(ctx, target)
		if err != nil || size <= maxBytes {
			return dropped, err
		}
		var id int64
		var n int
		if err := s.db.QueryRowContext(ctx, `SELECT id, entries FROM log_forward_queue WHERE target = ? ORDER BY id LIMIT 1`, target).Scan(&id, &n); err != nil {
			return dropped, fmt.Errorf("log forward queue: %w", err)
		}
		if err := s.Dequeue(ctx, id); err != nil {
			return dropped, err
		}
		dropped += n
	}
}

// QueueBytes is the size of target's queued bodies.
func (s *Store) QueueBytes(ctx context.Context, target string) (int64, error) {
	var size int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(length(body)), 0) FROM log_forward_queue WHERE target = ?`, target).Scan(&size); err != nil {
		return 0, fmt.Errorf("log forward queue: %w", err)
	}
	return size, nil
}

// Peek returns target's oldest batch; ok is false when the queue is empty.
func (s *Store) Peek(ctx context.Context, target string) (id int64, body []byte, entries int, ok bool, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT id, body, entries FROM log_forward_queue WHERE target = ? ORDER BY id LIMIT 1`, target).Scan(&id, &body, &entries)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, 0, false, nil
	}
	if err != nil {
		return 0, nil, 0, false, fmt.Errorf("log forward queue: %w", err)
	}
	return id, body, entries, true, nil
}

// Dequeue removes a batch.
func (s *Store) Dequeue(ctx context.Context, id int64) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM log_forward_queue WHERE id = ?`, id); err != nil {
		return fmt.Errorf("log forward queue: %w", err)
	}
	return nil
}

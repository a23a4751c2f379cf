package notify

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// PruneState deletes what the notifier keeps in the state database beyond
// retention (storage.state_retention), and is what storage.Maintenance
// calls periodically:
//
//   - silences that expired more than retention ago;
//   - notification log entries last written more than retention ago, of
//     groups that no longer exist (a live group keeps its entry, so a
//     long, quiet incident is not notified again);
//   - delivered and dropped notifications older than the shorter of
//     retention and delivery.retention;
//   - acknowledgements that expired, and thread references last used,
//     more than retention ago.
//
// It returns the number of rows deleted.
func (n *Notifier) PruneState(ctx context.Context, now time.Time, retention time.Duration) (int64, error) {
	cutoff := ms(now.Add(-retention))
	keys := n.forgetOld(now.Add(-retention))
	var total int64
	var errs []error
	exec := func(what, q string, args ...any) {
		res, err := n.db.ExecContext(ctx, q, args...)
		if err != nil {
			errs = append(errs, fmt.Errorf("prune %s: %w", what, err))
			return
		}
		c, _ := res.RowsAffected()
		total += c
	}
	exec("silences", `DELETE FROM notify_silences WHERE ends_at < ?`, cutoff)
	for _, k := range keys {
		// The at condition keeps an entry a flush wrote since forgetOld.
		exec("notification log", `DELETE FROM notify_log WHERE receiver = ? AND integration = ? AND group_key = ? AND at < ?`,
			k.receiver, k.integration, k.groupKey, cutoff)
	}
	keep := min(retention, n.config().cfg.Delivery.Retention.D())
	exec("outbox", `DELETE FROM notify_outbox WHERE status != 'pending' AND done_at < ?`, ms(now.Add(-keep)))
	exec("acknowledgements", `DELETE FROM notify_acks WHERE expires_at < ?`, cutoff)
	exec("thread references", `DELETE FROM notify_threads WHERE updated_at < ?`, cutoff)
	return total, errors.Join(errs...)
}

// forgetOld drops from memory the silences that ended, the acks that
// expired and the log entries of gone groups written before cutoff, and
// returns those log entries' keys.
func (n *Notifier) forgetOld(cutoff time.Time) []*logEntry {
	n.mu.Lock()
	defer n.mu.Unlock()
	for id, s := range n.silences {
		if s.EndsAt.Before(cutoff) {
			delete(n.silences, id)
			delete(n.live, id)
		}
	}
	for fp, a := range n.acks {
		if a.ExpiresAt.Before(cutoff) {
			delete(n.acks, fp)
		}
	}
	var keys []*logEntry
	for k, e := range n.nflog {
		if _, live := n.groups[e.groupKey]; live || !e.at.Before(cutoff) {
			continue
		}
		delete(n.nflog, k)
		keys = append(keys, e)
	}
	return keys
}

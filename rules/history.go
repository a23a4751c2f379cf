package rules

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promrules "github.com/prometheus/prometheus/rules"

	"github.com/vigie-dev/vigie/storage"
)

// migrations of the rules component's tables; append only.
var migrations = []string{
	`CREATE TABLE rules_alert_history (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		fingerprint TEXT NOT NULL,    -- hex of the alert's labels hash
		alertname   TEXT NOT NULL,
		rule_group  TEXT NOT NULL,    -- file;group
		labels      TEXT NOT NULL,    -- JSON object
		annotations TEXT NOT NULL,    -- JSON object, as expanded when it fired
		active_at   INTEGER NOT NULL, -- unix ms: the condition started holding
		started_at  INTEGER NOT NULL, -- unix ms: it fired
		ended_at    INTEGER,          -- unix ms: it resolved; NULL while firing
		fired_value REAL NOT NULL,
		peak_value  REAL NOT NULL
	);
	CREATE INDEX rules_alert_history_open ON rules_alert_history (fingerprint) WHERE ended_at IS NULL;
	CREATE INDEX rules_alert_history_ended ON rules_alert_history (ended_at);
	CREATE INDEX rules_alert_history_started ON rules_alert_history (started_at);`,
}

// HistoryEntry is one firing of an alert, from its firing to its resolution.
type HistoryEntry struct {
	ID          int64             `json:"id"`
	Alertname   string            `json:"alertname"`
	RuleGroup   string            `json:"ruleGroup"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	ActiveAt    time.Time         `json:"activeAt"`
	StartsAt    time.Time         `json:"startsAt"`
	// EndsAt is nil while the alert fires.
	EndsAt     *time.Time `json:"endsAt,omitempty"`
	FiredValue float64    `json:"firedValue"`
	// PeakValue is the highest value seen while it fired.
	PeakValue float64 `json:"peakValue"`
}

// HistoryFilter selects history entries; zero fields select everything.
type HistoryFilter struct {
	Alertname string
	// Since keeps entries still firing or ended at or after Since.
	Since time.Time
	// Until keeps entries that started at or before Until.
	Until time.Time
	// FiringOnly keeps entries still firing.
	FiringOnly bool
	// Limit caps the number of entries, newest first (default 1000).
	Limit int
}

type tracked struct {
	id        int64
	groupKey  string
	alertname string
	labels    string
	startedAt time.Time
	peak      float64
	// adopted is false for an entry read back at start until its alert is
	// seen firing again; a restart must not record a second firing.
	adopted bool
}

// history records firing and resolved transitions. It is used from the
// evaluation goroutine only (under Manager.evalMu), except History and prune.
type history struct {
	db     *sql.DB
	logger *slog.Logger
	firing map[uint64]*tracked
}

func openHistory(ctx context.Context, st *storage.State, logger *slog.Logger) (*history, error) {
	if err := st.Migrate(ctx, "rules", migrations); err != nil {
		return nil, err
	}
	h := &history{db: st.DB, logger: logger, firing: map[uint64]*tracked{}}
	rows, err := st.DB.QueryContext(ctx, `SELECT id, fingerprint, rule_group, alertname, labels, started_at, peak_value FROM rules_alert_history WHERE ended_at IS NULL`)
	if err != nil {
		return nil, fmt.Errorf("read alert history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			t  tracked
			fp string
			ms int64
		)
		var lbls string
		if err := rows.Scan(&t.id, &fp, &t.groupKey, &t.alertname, &lbls, &ms, &t.peak); err != nil {
			return nil, fmt.Errorf("read alert history: %w", err)
		}
		var f uint64
		if _, err := fmt.Sscanf(fp, "%x", &f); err != nil {
			continue
		}
		var lm map[string]string
		_ = json.Unmarshal([]byte(lbls), &lm)
		t.labels = labels.FromMap(lm).String()
		t.startedAt = time.UnixMilli(ms).UTC()
		h.firing[f] = &t
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read alert history: %w", err)
	}
	return h, nil
}

func (h *history) startOf(fp uint64) (time.Time, bool) {
	t, ok := h.firing[fp]
	if !ok {
		return time.Time{}, false
	}
	return t.startedAt, true
}

func labelsJSON(l labels.Labels) string {
	b, _ := json.Marshal(l.Map())
	return string(b)
}

// observe records the transitions of g's alerts after an evaluation at ts.
// Nothing touches SQLite unless something changed.
func (h *history) observe(ctx context.Context, g *group, ts time.Time) {
	type op struct {
		q     string
		args  []any
		after func(sql.Result)
	}
	var ops []op
	var logs []func()
	seen := map[uint64]bool{}
	for _, r := range g.g.Rules() {
		ar, isAlert := r.(*promrules.AlertingRule)
		if !isAlert {
			continue
		}
		for _, a := range ar.ActiveAlerts() {
			if a.State != promrules.StateFiring {
				continue
			}
			fp := a.Labels.Hash()
			seen[fp] = true
			t := h.firing[fp]
			switch {
			case t == nil:
				t = &tracked{groupKey: g.key, alertname: ar.Name(), labels: a.Labels.String(), startedAt: a.FiredAt, peak: a.Value, adopted: true}
				h.firing[fp] = t
				ops = append(ops, op{
					q: `INSERT INTO rules_alert_history (fingerprint, alertname, rule_group, labels, annotations, active_at, started_at, fired_value, peak_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
					args: []any{fmt.Sprintf("%016x", fp), ar.Name(), g.key, labelsJSON(a.Labels), labelsJSON(a.Annotations),
						a.ActiveAt.UnixMilli(), a.FiredAt.UnixMilli(), a.Value, a.Value},
					after: func(res sql.Result) { t.id, _ = res.LastInsertId() },
				})
				val := a.Value
				logs = append(logs, func() {
					h.logger.Info("alert firing", "alertname", t.alertname, "labels", t.labels, "value", val)
				})
				continue
			case !t.adopted:
				t.adopted = true
				t.groupKey = g.key
				h.logger.Debug("alert still firing after restart", "alertname", ar.Name(), "labels", t.labels)
			}
			if a.Value > t.peak {
				t.peak = a.Value
				id := t.id
				ops = append(ops, op{q: `UPDATE rules_alert_history SET peak_value = ? WHERE id = ?`, args: []any{a.Value, id}})
			}
		}
	}
	for fp, t := range h.firing {
		if t.groupKey != g.key || seen[fp] {
			continue
		}
		if !t.adopted && !g.settled {
			// Read back at start: wait until the `for` state is restored
			// and the group evaluated once more before deciding.
			continue
		}
		delete(h.firing, fp)
		ops = append(ops, op{q: `UPDATE rules_alert_history SET ended_at = ? WHERE id = ?`, args: []any{ts.UnixMilli(), t.id}})
		logs = append(logs, func() {
			h.logger.Info("alert resolved", "alertname", t.alertname, "labels", t.labels, "peak_value", t.peak)
		})
	}
	if len(ops) > 0 {
		if err := h.exec(ctx, func(tx *sql.Tx) error {
			for _, o := range ops {
				res, err := tx.ExecContext(ctx, o.q, o.args...)
				if err != nil {
					return err
				}
				if o.after != nil {
					o.after(res)
				}
			}
			return nil
		}); err != nil {
			h.logger.Warn("alert history: write failed", "err", err)
		}
	}
	for _, l := range logs {
		l()
	}
}

func (h *history) exec(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// closeMissing resolves, at ts, entries of groups that no longer exist.
func (h *history) closeMissing(ctx context.Context, keys map[string]bool, ts time.Time) {
	for fp, t := range h.firing {
		if keys[t.groupKey] {
			continue
		}
		if _, err := h.db.ExecContext(ctx, `UPDATE rules_alert_history SET ended_at = ? WHERE id = ?`, ts.UnixMilli(), t.id); err != nil {
			h.logger.Warn("alert history: write failed", "err", err)
			continue
		}
		delete(h.firing, fp)
		h.logger.Info("alert resolved: its rule was removed", "alertname", t.alertname, "labels", t.labels, "rule_group", t.groupKey)
	}
}

func (h *history) prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := h.db.ExecContext(ctx, `DELETE FROM rules_alert_history WHERE ended_at IS NOT NULL AND ended_at < ?`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune alert history: %w", err)
	}
	return res.RowsAffected()
}

// History returns alert history entries, newest first.
func (m *Manager) History(ctx context.Context, f HistoryFilter) ([]HistoryEntry, error) {
	var where []string
	var args []any
	if f.Alertname != "" {
		where = append(where, "alertname = ?")
		args = append(args, f.Alertname)
	}
	if !f.Since.IsZero() {
		where = append(where, "(ended_at IS NULL OR ended_at >= ?)")
		args = append(args, f.Since.UnixMilli())
	}
	if !f.Until.IsZero() {
		where = append(where, "started_at <= ?")
		args = append(args, f.Until.UnixMilli())
	}
	if f.FiringOnly {
		where = append(where, "ended_at IS NULL")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	q := `SELECT id, alertname, rule_group, labels, annotations, active_at, started_at, ended_at, fired_value, peak_value FROM rules_alert_history`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY started_at DESC, id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := m.hist.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("alert history: %w", err)
	}
	defer rows.Close()
	out := []HistoryEntry{}
	for rows.Next() {
		var (
			e             HistoryEntry
			lbls, ann     string
			active, start int64
			end           sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &e.Alertname, &e.RuleGroup, &lbls, &ann, &active, &start, &end, &e.FiredValue, &e.PeakValue); err != nil {
			return nil, fmt.Errorf("alert history: %w", err)
		}
		_ = json.Unmarshal([]byte(lbls), &e.Labels)
		_ = json.Unmarshal([]byte(ann), &e.Annotations)
		e.ActiveAt = time.UnixMilli(active).UTC()
		e.StartsAt = time.UnixMilli(start).UTC()
		if end.Valid {
			t := time.UnixMilli(end.Int64).UTC()
			e.EndsAt = &t
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Prune deletes history entries that ended before before; Run calls it
// hourly with now - history_retention.
func (m *Manager) Prune(ctx context.Context, before time.Time) (int64, error) {
	return m.hist.prune(ctx, before)
}

// PruneState implements storage.Pruner for storage.Maintenance: entries
// that ended more than the shorter of retention (storage.state_retention)
// and history_retention ago are deleted. Entries still firing never are.
func (m *Manager) PruneState(ctx context.Context, now time.Time, retention time.Duration) (int64, error) {
	m.mu.RLock()
	own := m.cfg.HistoryRetention.D()
	m.mu.RUnlock()
	return m.hist.prune(ctx, now.Add(-historyKeep(own, retention)))
}

// historyKeep is how long resolved entries are kept: the shorter of
// history_retention (its default when unset) and the state retention.
func historyKeep(own, state time.Duration) time.Duration {
	if own <= 0 {
		own = DefaultConfig().HistoryRetention.D()
	}
	if state > 0 {
		return min(own, state)
	}
	return own
}

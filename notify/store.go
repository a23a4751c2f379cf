package notify

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// migrations own notify's tables in the state database. Times are Unix
// milliseconds. A released migration is never edited, only appended to.
var migrations = []string{
	`CREATE TABLE notify_outbox (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		receiver TEXT NOT NULL,
		integration TEXT NOT NULL,
		group_key TEXT NOT NULL,
		status TEXT NOT NULL,
		notification_status TEXT NOT NULL,
		firing INTEGER NOT NULL,
		resolved INTEGER NOT NULL,
		payload BLOB NOT NULL,
		created_at INTEGER NOT NULL,
		next_attempt_at INTEGER NOT NULL,
		attempts INTEGER NOT NULL DEFAULT 0,
		last_attempt_at INTEGER NOT NULL DEFAULT 0,
		last_error TEXT NOT NULL DEFAULT '',
		response TEXT NOT NULL DEFAULT '',
		done_at INTEGER NOT NULL DEFAULT 0,
		fallback_sent INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX notify_outbox_pending ON notify_outbox(status, receiver, integration, group_key, id);
	CREATE INDEX notify_outbox_done ON notify_outbox(done_at);
	CREATE TABLE notify_log (
		receiver TEXT NOT NULL,
		integration TEXT NOT NULL,
		group_key TEXT NOT NULL,
		firing TEXT NOT NULL,
		resolved TEXT NOT NULL,
		at INTEGER NOT NULL,
		PRIMARY KEY (receiver, integration, group_key)
	);
	CREATE TABLE notify_threads (
		receiver TEXT NOT NULL,
		integration TEXT NOT NULL,
		group_key TEXT NOT NULL,
		ref TEXT NOT NULL,
		updated_at INTEGER NOT NULL,
		PRIMARY KEY (receiver, integration, group_key)
	);
	CREATE TABLE notify_silences (
		id TEXT PRIMARY KEY,
		matchers TEXT NOT NULL,
		starts_at INTEGER NOT NULL,
		ends_at INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		comment TEXT NOT NULL,
		updated_at INTEGER NOT NULL,
		expire_on_resolve INTEGER NOT NULL DEFAULT 0,
		seen_firing INTEGER NOT NULL DEFAULT 0
	);
	CREATE TABLE notify_acks (
		fingerprint TEXT PRIMARY KEY,
		alert_starts_at INTEGER NOT NULL,
		created_by TEXT NOT NULL,
		comment TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL
	);
	CREATE TABLE notify_kv (
		key TEXT PRIMARY KEY,
		value BLOB NOT NULL
	);`,
}

func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

// logEntry is the notification log's record of what a group's integration
// was last told: Alertmanager's nflog, in SQLite.
type logEntry struct {
	receiver, integration, groupKey string
	firing, resolved                map[string]bool
	at                              time.Time
}

func logKey(receiver, integ, group string) string { return receiver + "\x00" + integ + "\x00" + group }

func (e *logEntry) key() string { return logKey(e.receiver, e.integration, e.groupKey) }

func setJSON(s map[string]bool) string {
	b, _ := json.Marshal(sortedKeys(s))
	return string(b)
}

func jsonSet(s string) map[string]bool {
	var l []string
	_ = json.Unmarshal([]byte(s), &l)
	out := make(map[string]bool, len(l))
	for _, v := range l {
		out[v] = true
	}
	return out
}

func loadLog(ctx context.Context, db *sql.DB) (map[string]*logEntry, error) {
	rows, err := db.QueryContext(ctx, `SELECT receiver, integration, group_key, firing, resolved, at FROM notify_log`)
	if err != nil {
		return nil, fmt.Errorf("load notification log: %w", err)
	}
	defer rows.Close()
	out := map[string]*logEntry{}
	for rows.Next() {
		var e logEntry
		var f, r string
		var at int64
		if err := rows.Scan(&e.receiver, &e.integration, &e.groupKey, &f, &r, &at); err != nil {
			return nil, fmt.Errorf("load notification log: %w", err)
		}
		e.firing, e.resolved, e.at = jsonSet(f), jsonSet(r), fromMS(at)
		out[e.key()] = &e
	}
	return out, rows.Err()
}

// outboxRow is one notification for one integration, durable until delivered.
type outboxRow struct {
	ID           int64
	Receiver     string
	Integration  string
	GroupKey     string
	Status       string // pending, sent, failed
	NotifStatus  string // firing, resolved
	Firing       int
	Resolved     int
	Payload      *payload
	CreatedAt    time.Time
	NextAttempt  time.Time
	Attempts     int
	LastAttempt  time.Time
	LastError    string
	Response     string
	DoneAt       time.Time
	FallbackSent bool
}

// payload is what the outbox keeps of a notification: enough to render it
// with the configuration of the moment it is sent.
type payload struct {
	Receiver    string            `json:"receiver"`
	GroupKey    string            `json:"groupKey"`
	GroupLabels map[string]string `json:"groupLabels"`
	Status      string            `json:"status"`
	Alerts      []payloadAlert    `json:"alerts"`
	Fallback    *FallbackInfo     `json:"fallback,omitempty"`
}

type payloadAlert struct {
	Alert
	Fingerprint string `json:"fingerprint"`
	Status      string `json:"status"`
}

func insertOutbox(ctx context.Context, tx *sql.Tx, r *outboxRow) error {
	b, err := json.Marshal(r.Payload)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO notify_outbox
		(receiver, integration, group_key, status, notification_status, firing, resolved, payload, created_at, next_attempt_at)
		VALUES (?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?)`,
		r.Receiver, r.Integration, r.GroupKey, r.NotifStatus, r.Firing, r.Resolved, b, ms(r.CreatedAt), ms(r.NextAttempt))
	if err != nil {
		return fmt.Errorf("outbox insert: %w", err)
	}
	r.ID, _ = res.LastInsertId()
	r.Status = "pending"
	return nil
}

const outboxCols = `id, receiver, integration, group_key, status, notification_status, firing, resolved, payload,
	created_at, next_attempt_at, attempts, last_attempt_at, last_error, response, done_at, fallback_sent`

func scanOutbox(rows *sql.Rows, withPayload bool) (*outboxRow, error) {
	var r outboxRow
	var pl []byte
	var created, next, last, done int64
	if err := rows.Scan(&r.ID, &r.Receiver, &r.Integration, &r.GroupKey, &r.Status, &r.NotifStatus, &r.Firing, &r.Resolved, &pl,
		&created, &next, &r.Attempts, &last, &r.LastError, &r.Response, &done, &r.FallbackSent); err != nil {
		return nil, err
	}
	r.CreatedAt, r.NextAttempt, r.LastAttempt, r.DoneAt = fromMS(created), fromMS(next), fromMS(last), fromMS(done)
	if withPayload {
		r.Payload = &payload{}
		if err := json.Unmarshal(pl, r.Payload); err != nil {
			return nil, fmt.Errorf("outbox row %d: %w", r.ID, err)
		}
	}
	return &r, nil
}

// dueOutbox returns the head of every pending stream (receiver,
// integration, group): a group's notifications go out in order.
func dueOutbox(ctx context.Context, db *sql.DB, limit int) ([]*outboxRow, error) {
	rows, err := db.QueryContext(ctx, `SELECT `+outboxCols+` FROM notify_outbox o
		WHERE status = 'pending' AND id = (SELECT MIN(id) FROM notify_outbox p
			WHERE p.status = 'pending' AND p.receiver = o.receiver AND p.integration = o.integration AND p.group_key = o.group_key)
		ORDER BY next_attempt_at, id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var out []*outboxRow
	for rows.Next() {
		r, err := scanOutbox(rows, true)
		if err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func getKV(ctx context.Context, db *sql.DB, key string) ([]byte, error) {
	var v []byte
	err := db.QueryRowContext(ctx, `SELECT value FROM notify_kv WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return v, err
}

// ackSecret returns the key signing acknowledgement links, generated once
// and kept in the state database so links survive restarts.
func ackSecret(ctx context.Context, db *sql.DB) ([]byte, error) {
	v, err := getKV(ctx, db, "ack_secret")
	if err != nil || v != nil {
		return v, err
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if _, err := db.ExecContext(ctx, `INSERT OR IGNORE INTO notify_kv (key, value) VALUES ('ack_secret', ?)`, k); err != nil {
		return nil, err
	}
	return getKV(ctx, db, "ack_secret")
}

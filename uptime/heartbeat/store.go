package heartbeat

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"time"
)

// migrations are the heartbeat component's tables in the state database.
// Released migrations are never edited, only appended to.
var migrations = []string{
	`CREATE TABLE heartbeat_tokens (
		name TEXT PRIMARY KEY,
		token TEXT NOT NULL UNIQUE,
		created_at_ms INTEGER NOT NULL
	);
	CREATE TABLE heartbeat_pings (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL,
		kind TEXT NOT NULL,
		at_ms INTEGER NOT NULL,
		exit_code INTEGER,
		duration_ms INTEGER,
		body TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX heartbeat_pings_name_id ON heartbeat_pings (name, id);`,
	`CREATE TABLE heartbeat_transitions (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL,
		at_ms INTEGER NOT NULL,
		status TEXT NOT NULL
	);
	CREATE INDEX heartbeat_transitions_name_at ON heartbeat_transitions (name, at_ms);`,
	`CREATE TABLE file_transitions (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		name TEXT NOT NULL,
		at_ms INTEGER NOT NULL,
		status TEXT NOT NULL
	);
	CREATE INDEX file_transitions_name_at ON file_transitions (name, at_ms);`,
}

// History tables: heartbeats' and file checks' status changes share one
// layout (id, name, at_ms, status).
const (
	beatHistory = "heartbeat_transitions"
	fileHistory = "file_transitions"
)

// keepTransitions is how long status changes are kept (the status page
// shows 90 days).
const keepTransitions = 100 * 24 * time.Hour

// keepPings is how many pings per heartbeat the database keeps.
const keepPings = 1000

// store keeps tokens and pings in SQLite.
type store struct{ db *sql.DB }

// newToken returns 24 random bytes, base64url: 32 characters, 192 bits.
func newToken() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// token returns name's token and creation time, creating them the first
// time name is seen.
func (s store) token(ctx context.Context, name string, now time.Time) (string, time.Time, error) {
	var tok string
	var ms int64
	err := s.db.QueryRowContext(ctx, `SELECT token, created_at_ms FROM heartbeat_tokens WHERE name = ?`, name).Scan(&tok, &ms)
	if err == nil {
		return tok, time.UnixMilli(ms), nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, fmt.Errorf("heartbeat %s: read token: %w", name, err)
	}
	if tok, err = newToken(); err != nil {
		return "", time.Time{}, err
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO heartbeat_tokens (name, token, created_at_ms) VALUES (?, ?, ?)`,
		name, tok, now.UnixMilli()); err != nil {
		return "", time.Time{}, fmt.Errorf("heartbeat %s: store token: %w", name, err)
	}
	return tok, time.UnixMilli(now.UnixMilli()), nil
}

// load restores a heartbeat's state from its pings.
func (s store) load(ctx context.Context, name string, created time.Time) (state, error) {
	st := state{created: created}
	for _, k := range []struct {
		kind Kind
		dst  *time.Time
	}{{KindStart, &st.lastStart}, {KindSuccess, &st.lastSuccess}, {KindFail, &st.lastFail}} {
		var ms sql.NullInt64
		if err := s.db.QueryRowContext(ctx, `SELECT MAX(at_ms) FROM heartbeat_pings WHERE name = ? AND kind = ?`,
			name, string(k.kind)).Scan(&ms); err != nil {
			return st, fmt.Errorf("heartbeat %s: load pings: %w", name, err)
		}
		if ms.Valid {
			*k.dst = time.UnixMilli(ms.Int64)
		}
	}
	var lastKind string
	err := s.db.QueryRowContext(ctx, `SELECT kind FROM heartbeat_pings WHERE name = ? ORDER BY id DESC LIMIT 1`, name).Scan(&lastKind)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return st, fmt.Errorf("heartbeat %s: load last ping: %w", name, err)
	}
	st.started = lastKind == string(KindStart)
	var p ping
	var kind string
	var ms int64
	var code, dur sql.NullInt64
	err = s.db.QueryRowContext(ctx, `SELECT kind, at_ms, exit_code, duration_ms, body FROM heartbeat_pings
		WHERE name = ? AND kind != 'start' ORDER BY id DESC LIMIT 1`, name).Scan(&kind, &ms, &code, &dur, &p.Body)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return st, nil
	case err != nil:
		return st, fmt.Errorf("heartbeat %s: load last ping: %w", name, err)
	}
	p.Kind, p.At = Kind(kind), time.UnixMilli(ms)
	if code.Valid {
		c := int(code.Int64)
		p.ExitCode = &c
	}
	if dur.Valid {
		d := time.Duration(dur.Int64) * time.Millisecond
		p.Duration = &d
	}
	st.last = &p
	return st, nil
}

// insert records a ping and drops the oldest beyond keepPings.
func (s store) insert(ctx context.Context, name string, p ping) error {
	var code, dur sql.NullInt64
	if p.ExitCode != nil {
		code = sql.NullInt64{Int64: int64(*p.ExitCode), Valid: true}
	}
	if p.Duration != nil {
		dur = sql.NullInt64{Int64: p.Duration.Milliseconds(), Valid: true}
	}
	if _, err := s.db.ExecContext(ctx, `INSERT INTO heartbeat_pings (name, kind, at_ms, exit_code, duration_ms, body)
		VALUES (?, ?, ?, ?, ?, ?)`, name, string(p.Kind), p.At.UnixMilli(), code, dur, p.Body); err != nil {
		return fmt.Errorf("heartbeat %s: record ping: %w", name, err)
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM heartbeat_pings WHERE name = ? AND id < (
		SELECT id FROM heartbeat_pings WHERE name = ? ORDER BY id DESC LIMIT 1 OFFSET ?)`, name, name, keepPings-1); err != nil {
		return fmt.Errorf("heartbeat %s: prune pings: %w", name, err)
	}
	return nil
}

// Transition is a heartbeat's change of status.
type Transition struct {
	At     time.Time `json:"at"`
	Status Status    `json:"status"`
}

// lastTransition returns name's last recorded status change in table.
func (s store) lastTransition(ctx context.Context, table, name string) (Transition, error) {
	var tr Transition
	var ms int64
	var st string
	err := s.db.QueryRowContext(ctx, `SELECT at_ms, status FROM `+table+` WHERE name = ? ORDER BY id DESC LIMIT 1`, name).Scan(&ms, &st)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return tr, nil
	case err != nil:
		return tr, fmt.Errorf("%s %s: load last status: %w", table, name, err)
	}
	return Transition{At: time.UnixMilli(ms), Status: Status(st)}, nil
}

func (s store) addTransition(ctx context.Context, table, name string, tr Transition) error {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO `+table+` (name, at_ms, status) VALUES (?, ?, ?)`,
		name, tr.At.UnixMilli(), string(tr.Status)); err != nil {
		return fmt.Errorf("%s %s: record status: %w", table, name, err)
	}
	return nil
}

// transitions returns name's changes in table in (from, to], preceded by
// the one in effect at from (if any).
func (s store) transitions(ctx context.Context, table, name string, from, to time.Time) ([]Transition, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at_ms, status FROM (
			SELECT id, at_ms, status FROM (SELECT id, at_ms, status FROM `+table+`
				WHERE name = ? AND at_ms <= ? ORDER BY at_ms DESC, id DESC LIMIT 1)
			UNION ALL
			SELECT id, at_ms, status FROM `+table+` WHERE name = ? AND at_ms > ? AND at_ms <= ?
		) ORDER BY at_ms, id`, name, from.UnixMilli(), name, from.UnixMilli(), to.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("%s %s: read history: %w", table, name, err)
	}
	defer rows.Close()
	var out []Transition
	for rows.Next() {
		var ms int64
		var st string
		if err := rows.Scan(&ms, &st); err != nil {
			return nil, fmt.Errorf("%s %s: read history: %w", table, name, err)
		}
		out = append(out, Transition{At: time.UnixMilli(ms), Status: Status(st)})
	}
	return out, rows.Err()
}

func (s store) pruneTransitions(ctx context.Context, before time.Time) error {
	for _, table := range []string{beatHistory, fileHistory} {
		_, err := s.db.ExecContext(ctx, `DELETE FROM `+table+` WHERE at_ms < ? AND id NOT IN (
			SELECT MAX(id) FROM `+table+` GROUP BY name)`, before.UnixMilli())
		if err != nil {
			return fmt.Errorf("%s: prune history: %w", table, err)
		}
	}
	return nil
}

package status

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// migrations are the status page's tables in the state database
// (component "status"); released migrations are only appended to.
var migrations = []string{`
CREATE TABLE status_incidents (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	title TEXT NOT NULL,
	impact TEXT NOT NULL,            -- minor | major
	status TEXT NOT NULL,            -- investigating | identified | monitoring | resolved
	components TEXT NOT NULL,        -- JSON array of component names
	source TEXT NOT NULL,            -- manual | alert
	alert_key TEXT NOT NULL DEFAULT '',
	created_ms INTEGER NOT NULL,
	updated_ms INTEGER NOT NULL,
	resolved_ms INTEGER              -- NULL while open
);
CREATE INDEX status_incidents_open ON status_incidents (alert_key) WHERE resolved_ms IS NULL;
CREATE INDEX status_incidents_updated ON status_incidents (updated_ms);
CREATE TABLE status_incident_updates (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	incident_id INTEGER NOT NULL REFERENCES status_incidents (id) ON DELETE CASCADE,
	at_ms INTEGER NOT NULL,
	status TEXT NOT NULL,
	message TEXT NOT NULL
);
CREATE INDEX status_incident_updates_incident ON status_incident_updates (incident_id, id);`}

// Incident statuses, as status pages usually name them.
const (
	Investigating = "investigating"
	Identified    = "identified"
	Monitoring    = "monitoring"
	Resolved      = "resolved"
)

// Impacts of an incident.
const (
	ImpactMinor = "minor"
	ImpactMajor = "major"
)

func validStatus(s string) bool {
	switch s {
	case Investigating, Identified, Monitoring, Resolved:
		return true
	}
	return false
}

// Incident is one incident with its updates, newest update first.
type Incident struct {
	ID         int64      `json:"id"`
	Title      string     `json:"title"`
	Impact     string     `json:"impact"`
	Status     string     `json:"status"`
	Components []string   `json:"components"`
	Source     string     `json:"source"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	Updates    []Update   `json:"updates"`
}

// Update is one message posted on an incident.
type Update struct {
	At      time.Time `json:"at"`
	Status  string    `json:"status"`
	Message string    `json:"message"`
}

// open reports whether the incident is not resolved.
func (i Incident) open() bool { return i.ResolvedAt == nil }

// touches reports whether the incident concerns the component and
// overlaps [from, to).
func (i Incident) touches(component string, from, to time.Time) bool {
	if !i.CreatedAt.Before(to) || (i.ResolvedAt != nil && i.ResolvedAt.Before(from)) {
		return false
	}
	for _, c := range i.Components {
		if c == component {
			return true
		}
	}
	return false
}

// NewIncident is what opening an incident takes.
type NewIncident struct {
	Title      string   `json:"title"`
	Impact     string   `json:"impact,omitempty"` // default minor
	Status     string   `json:"status,omitempty"` // default investigating
	Message    string   `json:"message,omitempty"`
	Components []string `json:"components,omitempty"`
}

// ErrNotFound is an unknown incident id.
var ErrNotFound = errors.New("no such incident")

// errInvalid marks a request the caller must fix (HTTP 400).
type errInvalid struct{ msg string }

func (e errInvalid) Error() string { return e.msg }

func invalidf(format string, args ...any) error { return errInvalid{fmt.Sprintf(format, args...)} }

// incidents keeps incidents in the state database.
type incidents struct{ db *sql.DB }

func (s incidents) open(ctx context.Context, n NewIncident, source, alertKey string, now time.Time) (Incident, error) {
	if strings.TrimSpace(n.Title) == "" {
		return Incident{}, invalidf("an incident needs a title")
	}
	if n.Impact == "" {
		n.Impact = ImpactMinor
	}
	if n.Impact != ImpactMinor && n.Impact != ImpactMajor {
		return Incident{}, invalidf("impact %q: want minor or major", n.Impact)
	}
	if n.Status == "" {
		n.Status = Investigating
	}
	if !validStatus(n.Status) || n.Status == Resolved {
		return Incident{}, invalidf("status %q: want investigating, identified or monitoring", n.Status)
	}
	if n.Components == nil {
		n.Components = []string{}
	}
	comps, _ := json.Marshal(n.Components)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, fmt.Errorf("status incidents: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ms := now.UnixMilli()
	res, err := tx.ExecContext(ctx, `INSERT INTO status_incidents (title, impact, status, components, source, alert_key, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, n.Title, n.Impact, n.Status, string(comps), source, alertKey, ms, ms)
	if err != nil {
		return Incident{}, fmt.Errorf("status incidents: open: %w", err)
	}
	id, _ := res.LastInsertId()
	msg := n.Message
	if msg == "" {
		msg = n.Title
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO status_incident_updates (incident_id, at_ms, status, message) VALUES (?, ?, ?, ?)`,
		id, ms, n.Status, msg); err != nil {
		return Incident{}, fmt.Errorf("status incidents: open: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, fmt.Errorf("status incidents: open: %w", err)
	}
	return s.get(ctx, id)
}

// update posts a message; status resolved resolves the incident, any
// other status reopens it.
func (s incidents) update(ctx context.Context, id int64, u Update) (Incident, error) {
	if !validStatus(u.Status) {
		return Incident{}, invalidf("status %q: want investigating, identified, monitoring or resolved", u.Status)
	}
	if strings.TrimSpace(u.Message) == "" {
		return Incident{}, invalidf("an update needs a message")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Incident{}, fmt.Errorf("status incidents: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	ms := u.At.UnixMilli()
	var resolved any
	if u.Status == Resolved {
		resolved = ms
	}
	res, err := tx.ExecContext(ctx, `UPDATE status_incidents SET status = ?, updated_ms = ?, resolved_ms = ? WHERE id = ?`,
		u.Status, ms, resolved, id)
	if err != nil {
		return Incident{}, fmt.Errorf("status incidents: update %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Incident{}, ErrNotFound
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO status_incident_updates (incident_id, at_ms, status, message) VALUES (?, ?, ?, ?)`,
		id, ms, u.Status, u.Message); err != nil {
		return Incident{}, fmt.Errorf("status incidents: update %d: %w", id, err)
	}
	if err := tx.Commit(); err != nil {
		return Incident{}, fmt.Errorf("status incidents: update %d: %w", id, err)
	}
	return s.get(ctx, id)
}

// openByKey returns the open incident an alert opened, if any.
func (s incidents) openByKey(ctx context.Context, key string) (int64, bool, error) {
	var id int64
	err := s.db.QueryRowContext(ctx, `SELECT id FROM status_incidents WHERE alert_key = ? AND resolved_ms IS NULL ORDER BY id DESC LIMIT 1`, key).Scan(&id)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("status incidents: find open incident: %w", err)
	}
	return id, true, nil
}

func (s incidents) get(ctx context.Context, id int64) (Incident, error) {
	list, err := s.query(ctx, `WHERE id = ?`, id)
	if err != nil {
		return Incident{}, err
	}
	if len(list) == 0 {
		return Incident{}, ErrNotFound
	}
	return list[0], nil
}

// list returns open incidents and those resolved since `since`, newest first.
func (s incidents) list(ctx context.Context, since time.Time, limit int) ([]Incident, error) {
	return s.query(ctx, `WHERE resolved_ms IS NULL OR resolved_ms >= ? ORDER BY created_ms DESC, id DESC LIMIT ?`, since.UnixMilli(), limit)
}

func (s incidents) query(ctx context.Context, where string, args ...any) ([]Incident, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, title, impact, status, components, source, created_ms, updated_ms, resolved_ms
		FROM status_incidents `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("status incidents: list: %w", err)
	}
	var out []Incident
	for rows.Next() {
		var in Incident
		var comps string
		var created, updated int64
		var resolved sql.NullInt64
		if err := rows.Scan(&in.ID, &in.Title, &in.Impact, &in.Status, &comps, &in.Source, &created, &updated, &resolved); err != nil {
			rows.Close()
			return nil, fmt.Errorf("status incidents: list: %w", err)
		}
		_ = json.Unmarshal([]byte(comps), &in.Components)
		in.CreatedAt, in.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		if resolved.Valid {
			t := time.UnixMilli(resolved.Int64).UTC()
			in.ResolvedAt = &t
		}
		out = append(out, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("status incidents: list: %w", err)
	}
	for i := range out {
		if out[i].Updates, err = s.updates(ctx, out[i].ID); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (s incidents) updates(ctx context.Context, id int64) ([]Update, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT at_ms, status, message FROM status_incident_updates WHERE incident_id = ? ORDER BY id DESC`, id)
	if err != nil {
		return nil, fmt.Errorf("status incidents: updates of %d: %w", id, err)
	}
	defer rows.Close()
	out := []Update{}
	for rows.Next() {
		var u Update
		var ms int64
		if err := rows.Scan(&ms, &u.Status, &u.Message); err != nil {
			return nil, fmt.Errorf("status incidents: updates of %d: %w", id, err)
		}
		u.At = time.UnixMilli(ms).UTC()
		out = append(out, u)
	}
	return out, rows.Err()
}

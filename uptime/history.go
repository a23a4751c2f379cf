package uptime

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/vigie-dev/vigie/storage"
)

// migrations of the uptime tables in the state database; append only.
var migrations = []string{`
CREATE TABLE uptime_checks (
	probe TEXT NOT NULL,
	ts INTEGER NOT NULL,            -- unix milliseconds
	success INTEGER NOT NULL,       -- this check passed
	up INTEGER NOT NULL,            -- the probe counted as up after it (flap damping)
	duration REAL NOT NULL,         -- seconds
	reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX uptime_checks_probe_ts ON uptime_checks (probe, ts);
CREATE INDEX uptime_checks_ts ON uptime_checks (ts);
CREATE TABLE uptime_daily (
	probe TEXT NOT NULL,
	day TEXT NOT NULL,              -- YYYY-MM-DD, UTC
	checks INTEGER NOT NULL,
	up_checks INTEGER NOT NULL,
	successes INTEGER NOT NULL,
	duration_sum REAL NOT NULL,
	incidents INTEGER NOT NULL,     -- up to down transitions that day
	PRIMARY KEY (probe, day)
);
CREATE TABLE uptime_state (
	probe TEXT PRIMARY KEY,
	up INTEGER NOT NULL,
	since INTEGER NOT NULL,         -- unix milliseconds of the last up/down change
	last_ts INTEGER NOT NULL,
	consecutive_failures INTEGER NOT NULL,
	reason TEXT NOT NULL DEFAULT ''
);`}

const dayFormat = "2006-01-02"

// History keeps every check in SQLite with daily aggregates. Uptime is
// the share of checks after which the probe counted as up, so flap damping
// applies to it as to alerts; both survive restarts since they are rows.
type History struct {
	db  *sql.DB
	now func() time.Time

	mu              sync.Mutex // guards the retention, changed on reload
	checksRetention time.Duration
	dailyRetention  time.Duration
}

func (h *History) retention() (checks, daily time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.checksRetention, h.dailyRetention
}

// Check is one check as kept in history.
type Check struct {
	Probe    string        `json:"-"`
	Time     time.Time     `json:"time"`
	Success  bool          `json:"success"`
	Up       bool          `json:"up"`
	Duration time.Duration `json:"-"`
	Seconds  float64       `json:"duration_seconds"`
	Reason   string        `json:"reason,omitempty"`
}

// State is a probe's current state.
type State struct {
	Up                  bool      `json:"up"`
	Since               time.Time `json:"since"`
	LastCheck           time.Time `json:"last_check"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	Reason              string    `json:"reason,omitempty"`
}

// DayBar is one day of the 90-day view. Uptime is -1 on a day without checks.
type DayBar struct {
	Day         time.Time `json:"day"`
	Checks      int       `json:"checks"`
	UpChecks    int       `json:"up_checks"`
	Uptime      float64   `json:"uptime"`
	Incidents   int       `json:"incidents"`
	AvgDuration float64   `json:"avg_duration_seconds"`
}

// Point is an averaged response time.
type Point struct {
	Time    time.Time `json:"time"`
	Seconds float64   `json:"seconds"`
	Checks  int       `json:"checks"`
}

// OpenHistory migrates the uptime tables of the state database.
func OpenHistory(ctx context.Context, st *storage.State, now func() time.Time, ret RetentionConfig) (*History, error) {
	if err := st.Migrate(ctx, "uptime", migrations); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &History{db: st.DB, now: now, checksRetention: ret.Checks.D(), dailyRetention: ret.Daily.D()}, nil
}

func (h *History) setRetention(r RetentionConfig) {
	h.mu.Lock()
	h.checksRetention, h.dailyRetention = r.Checks.D(), r.Daily.D()
	h.mu.Unlock()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Record is one check to store: the check, the probe's state after it,
// and whether it opened an incident (took the probe down).
type Record struct {
	Check    Check
	State    State
	Incident bool
}

// Record stores one check, its day's aggregate and the probe's state in one transaction.
func (h *History) Record(ctx context.Context, c Check, st State, incident bool) error {
	return h.RecordBatch(ctx, []Record{{Check: c, State: st, Incident: incident}})
}

// RecordBatch stores checks in one transaction (the manager batches them:
// one commit per check costs more than the check itself at a thousand probes).
func (h *History) RecordBatch(ctx context.Context, recs []Record) error {
	tx, err := h.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("uptime history: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	stmts := make([]*sql.Stmt, 0, 3)
	for _, q := range []string{
		`INSERT INTO uptime_checks (probe, ts, success, up, duration, reason) VALUES (?, ?, ?, ?, ?, ?)`,
		`INSERT INTO uptime_daily (probe, day, checks, up_checks, successes, duration_sum, incidents)
		VALUES (?, ?, 1, ?, ?, ?, ?)
		ON CONFLICT (probe, day) DO UPDATE SET checks = checks + 1, up_checks = up_checks + excluded.up_checks,
			successes = successes + excluded.successes, duration_sum = duration_sum + excluded.duration_sum,
			incidents = incidents + excluded.incidents`,
		`INSERT INTO uptime_state (probe, up, since, last_ts, consecutive_failures, reason) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (probe) DO UPDATE SET up = excluded.up, since = excluded.since, last_ts = excluded.last_ts,
			consecutive_failures = excluded.consecutive_failures, reason = excluded.reason`,
	} {
		st, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("uptime history: prepare: %w", err)
		}
		defer st.Close()
		stmts = append(stmts, st)
	}
	for _, r := range recs {
		c, st := r.Check, r.State
		ms := c.Time.UnixMilli()
		if _, err := stmts[0].ExecContext(ctx, c.Probe, ms, b2i(c.Success), b2i(c.Up), c.Duration.Seconds(), c.Reason); err != nil {
			return fmt.Errorf("uptime history: insert check: %w", err)
		}
		if _, err := stmts[1].ExecContext(ctx, c.Probe, c.Time.UTC().Format(dayFormat), b2i(c.Up), b2i(c.Success), c.Duration.Seconds(), b2i(r.Incident)); err != nil {
			return fmt.Errorf("uptime history: daily aggregate: %w", err)
		}
		if _, err := stmts[2].ExecContext(ctx, c.Probe, b2i(st.Up), st.Since.UnixMilli(), ms, st.ConsecutiveFailures, st.Reason); err != nil {
			return fmt.Errorf("uptime history: state: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("uptime history: commit: %w", err)
	}
	return nil
}

// State returns the probe's last recorded state; false when it never ran.
func (h *History) State(ctx context.Context, probe string) (State, bool, error) {
	var st State
	var up int
	var since, last int64
	err := h.db.QueryRowContext(ctx, `SELECT up, since, last_ts, consecutive_failures, reason FROM uptime_state WHERE probe = ?`, probe).
		Scan(&up, &since, &last, &st.ConsecutiveFailures, &st.Reason)
	if errors.Is(err, sql.ErrNoRows) {
		return State{}, false, nil
	}
	if err != nil {
		return State{}, false, fmt.Errorf("uptime history: state of %s: %w", probe, err)
	}
	st.Up, st.Since, st.LastCheck = up == 1, time.UnixMilli(since).UTC(), time.UnixMilli(last).UTC()
	return st, true, nil
}

// Uptime is the share of checks since `since` after which the probe was up,
// and how many checks that is (0 checks: ratio -1). Checks are counted from
// the rows while they are kept; a window reaching past the rows' retention
// is counted in whole UTC days from the daily aggregates.
func (h *History) Uptime(ctx context.Context, probe string, since time.Time) (ratio float64, checks int, err error) {
	checksRet, _ := h.retention()
	cutoff := h.now().Add(-checksRet)
	var total, up int
	if !since.Before(cutoff) {
		err = h.db.QueryRowContext(ctx, `SELECT COUNT(*), COALESCE(SUM(up), 0) FROM uptime_checks WHERE probe = ? AND ts >= ?`,
			probe, since.UnixMilli()).Scan(&total, &up)
	} else {
		first := since.UTC().Truncate(24 * time.Hour)
		err = h.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(checks), 0), COALESCE(SUM(up_checks), 0) FROM uptime_daily WHERE probe = ? AND day > ?`,
			probe, first.Format(dayFormat)).Scan(&total, &up)
		if err == nil {
			// since's own day: its rows before the cutoff are gone, so the whole day counts.
			var t, u int
			err = h.db.QueryRowContext(ctx, `SELECT COALESCE(SUM(checks), 0), COALESCE(SUM(up_checks), 0) FROM uptime_daily WHERE probe = ? AND day = ?`,
				probe, first.Format(dayFormat)).Scan(&t, &u)
			total, up = total+t, up+u
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("uptime history: uptime of %s: %w", probe, err)
	}
	if total == 0 {
		return -1, 0, nil
	}
	return float64(up) / float64(total), total, nil
}

// Daily returns one bar per UTC day, oldest first, the last being today.
func (h *History) Daily(ctx context.Context, probe string, days int) ([]DayBar, error) {
	today := h.now().UTC().Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(days - 1))
	rows, err := h.db.QueryContext(ctx, `SELECT day, checks, up_checks, duration_sum, incidents FROM uptime_daily WHERE probe = ? AND day >= ? AND day <= ?`,
		probe, first.Format(dayFormat), today.Format(dayFormat))
	if err != nil {
		return nil, fmt.Errorf("uptime history: daily of %s: %w", probe, err)
	}
	defer rows.Close()
	bars := make([]DayBar, days)
	for i := range bars {
		bars[i] = DayBar{Day: first.AddDate(0, 0, i), Uptime: -1}
	}
	for rows.Next() {
		var day string
		var b DayBar
		var dur float64
		if err := rows.Scan(&day, &b.Checks, &b.UpChecks, &dur, &b.Incidents); err != nil {
			return nil, fmt.Errorf("uptime history: daily of %s: %w", probe, err)
		}
		d, err := time.Parse(dayFormat, day)
		if err != nil {
			continue
		}
		i := int(d.Sub(first) / (24 * time.Hour))
		if i < 0 || i >= days || b.Checks == 0 {
			continue
		}
		b.Day, b.Uptime, b.AvgDuration = d, float64(b.UpChecks)/float64(b.Checks), dur/float64(b.Checks)
		bars[i] = b
	}
	return bars, rows.Err()
}

// Recent returns the last n checks, oldest first.
func (h *History) Recent(ctx context.Context, probe string, n int) ([]Check, error) {
	rows, err := h.db.QueryContext(ctx, `SELECT ts, success, up, duration, reason FROM uptime_checks WHERE probe = ? ORDER BY ts DESC LIMIT ?`, probe, n)
	if err != nil {
		return nil, fmt.Errorf("uptime history: recent of %s: %w", probe, err)
	}
	defer rows.Close()
	var out []Check
	for rows.Next() {
		var ms int64
		var s, u int
		var d float64
		c := Check{Probe: probe}
		if err := rows.Scan(&ms, &s, &u, &d, &c.Reason); err != nil {
			return nil, err
		}
		c.Time, c.Success, c.Up, c.Seconds = time.UnixMilli(ms).UTC(), s == 1, u == 1, d
		c.Duration = time.Duration(d * float64(time.Second))
		out = append(out, c)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// ResponseTimes averages check durations in buckets of step since `since`,
// for the response-time chart; empty buckets are left out.
func (h *History) ResponseTimes(ctx context.Context, probe string, since time.Time, step time.Duration) ([]Point, error) {
	stepMS := max(step.Milliseconds(), 1)
	rows, err := h.db.QueryContext(ctx, `SELECT (ts / ?) * ?, AVG(duration), COUNT(*) FROM uptime_checks WHERE probe = ? AND ts >= ? GROUP BY ts / ? ORDER BY 1`,
		stepMS, stepMS, probe, since.UnixMilli(), stepMS)
	if err != nil {
		return nil, fmt.Errorf("uptime history: response times of %s: %w", probe, err)
	}
	defer rows.Close()
	var out []Point
	for rows.Next() {
		var ms int64
		var p Point
		if err := rows.Scan(&ms, &p.Seconds, &p.Checks); err != nil {
			return nil, err
		}
		p.Time = time.UnixMilli(ms).UTC()
		out = append(out, p)
	}
	return out, rows.Err()
}

// Prune deletes checks and aggregates past their retention.
func (h *History) Prune(ctx context.Context) error {
	now := h.now()
	checksRet, dailyRet := h.retention()
	if _, err := h.db.ExecContext(ctx, `DELETE FROM uptime_checks WHERE ts < ?`, now.Add(-checksRet).UnixMilli()); err != nil {
		return fmt.Errorf("uptime history: prune checks: %w", err)
	}
	if _, err := h.db.ExecContext(ctx, `DELETE FROM uptime_daily WHERE day < ?`, now.Add(-dailyRet).UTC().Format(dayFormat)); err != nil {
		return fmt.Errorf("uptime history: prune daily: %w", err)
	}
	return nil
}

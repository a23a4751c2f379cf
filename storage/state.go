package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3" // the SQLite driver
)

// State is vigie's SQLite database. Components own their tables: each
// registers its schema as an ordered list of migrations under its own name
// with Migrate, and then uses DB directly.
type State struct {
	DB   *sql.DB
	path string
}

// OpenState opens (creating if needed) the SQLite database at path in WAL
// journal mode.
func OpenState(ctx context.Context, path string) (*State, error) {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "NORMAL")
	q.Set("_busy_timeout", "5000")
	q.Set("_foreign_keys", "on")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite3", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	// One writer at a time is what SQLite allows; a single connection also
	// keeps memory small. Readers share it: state queries are short.
	db.SetMaxOpenConns(1)
	db.SetConnMaxIdleTime(0)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, damaged(path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		_ = db.Close()
		if err != nil {
			return nil, damaged(path, err)
		}
		return nil, fmt.Errorf("state database %s: journal mode is %q, want wal", path, mode)
	}
	if err := quickCheck(ctx, db, path); err != nil {
		_ = db.Close()
		return nil, err
	}
	s := &State{DB: db, path: path}
	if _, err := db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		component TEXT NOT NULL,
		version INTEGER NOT NULL,
		applied_at INTEGER NOT NULL,
		PRIMARY KEY (component, version))`); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("state database %s: create schema_migrations: %w", path, err)
	}
	return s, nil
}

// Path is the database file.
func (s *State) Path() string { return s.path }

// Migrate applies, in order and each in its own transaction, the migrations
// of component that this database has not seen yet. Migration i (0-based)
// is version i+1; a released migration is never edited, only appended to.
func (s *State) Migrate(ctx context.Context, component string, migrations []string) error {
	var current int
	if err := s.DB.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations WHERE component = ?`, component).Scan(&current); err != nil {
		return fmt.Errorf("migrate %s: read version: %w", component, err)
	}
	if current > len(migrations) {
		return fmt.Errorf("migrate %s: database is at version %d, this vigie knows %d: it was written by a newer vigie", component, current, len(migrations))
	}
	for v := current + 1; v <= len(migrations); v++ {
		tx, err := s.DB.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("migrate %s to %d: %w", component, v, err)
		}
		if _, err := tx.ExecContext(ctx, migrations[v-1]); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate %s to %d: %w", component, v, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (component, version, applied_at) VALUES (?, ?, ?)`, component, v, time.Now().Unix()); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("migrate %s to %d: %w", component, v, err)
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("migrate %s to %d: %w", component, v, err)
		}
	}
	return nil
}

// Close checkpoints the WAL and closes the database.
func (s *State) Close() error {
	_, _ = s.DB.Exec("PRAGMA wal_checkpoint(TRUNCATE)")
	return s.DB.Close()
}

// CorruptError is a state database SQLite finds damaged: vigie refuses to
// run on it. Its text names the file and the recovery steps.
type CorruptError struct {
	Path   string
	Detail string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state database %s is damaged (%s): vigie will not start on it. "+
		"Stop vigie, move the file (and its -wal) aside, then recover it with "+
		"`sqlite3 %s.damaged \".recover\" | sqlite3 %s` or start fresh without it: "+
		"see docs/operations.md, \"Integrity check at start, and recovery\"", e.Path, e.Detail, e.Path, e.Path)
}

// damaged turns SQLite's "not a database" and "malformed" errors into a
// CorruptError, and wraps the others.
func damaged(path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB) {
		return &CorruptError{Path: path, Detail: se.Error()}
	}
	return fmt.Errorf("open state database %s: %w", path, err)
}

// quickCheck runs SQLite's PRAGMA quick_check: the b-trees' structure,
// without the slower index-content comparison of integrity_check.
func quickCheck(ctx context.Context, db *sql.DB, path string) error {
	rows, err := db.QueryContext(ctx, "PRAGMA quick_check(5)")
	if err != nil {
		return damaged(path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return damaged(path, err)
		}
		if line != "ok" {
			problems = append(problems, strings.Join(strings.Fields(line), " "))
		}
	}
	if err := rows.Err(); err != nil {
		return damaged(path, err)
	}
	if len(problems) > 0 {
		return &CorruptError{Path: path, Detail: "PRAGMA quick_check: " + strings.Join(problems, "; ")}
	}
	return nil
}

package storage

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	_ "github.com/mattn/go-sqlite3" // the SQLite driver
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
		return nil, fmt.Errorf("open state database %s: %w", path, err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		_ = db.Close()
		return nil, fmt.Errorf("state database %s: journal mode is %q, want wal: %v", path, mode, err)
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

// Package storage owns vigie's data directory: the embedded Prometheus TSDB
// for samples and a SQLite database for vigie's own state (alert history,
// notification outbox, silences, probe history). It imports no other vigie
// package; the others reach it through the small interfaces of Prometheus's
// storage package (Appendable, Queryable) and through State.
package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/tsdb"
	"github.com/prometheus/prometheus/tsdb/chunks"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Config is the storage section of the configuration.
type Config struct {
	// Retention is how long samples are kept (default 15d).
	Retention config.Duration `yaml:"retention"`
	// RetentionSize caps the TSDB's size on disk ("10GB", "512MB"); 0 is unlimited.
	RetentionSize Bytes `yaml:"retention_size"`
	// StateRetention is the longest anything is kept in the state database
	// (default 90d): Maintenance deletes expired silences, notification log
	// entries of gone groups, expired acknowledgements and thread references
	// older than it, and caps the components' own, shorter knobs
	// (rules.history_retention, notify.delivery.retention).
	StateRetention config.Duration `yaml:"state_retention"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Retention:      config.Duration(15 * 24 * time.Hour),
		StateRetention: config.Duration(90 * 24 * time.Hour),
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	if c.Retention.D() < time.Hour {
		errs = append(errs, config.Errorf("retention", "must be at least 1h, got %s", c.Retention))
	}
	if c.RetentionSize < 0 {
		errs = append(errs, config.Errorf("retention_size", "must not be negative"))
	}
	if c.StateRetention.D() < time.Hour {
		errs = append(errs, config.Errorf("state_retention", "must be at least 1h, got %s", c.StateRetention))
	}
	return errors.Join(errs...)
}

// Storage is the opened data directory.
type Storage struct {
	// TSDB holds samples; it is a storage.Appendable and a storage.Queryable.
	TSDB *tsdb.DB
	// State is the SQLite database.
	State *State
	dir   string
}

// Open opens (creating if needed) the TSDB under dir/tsdb and the state
// database at dir/vigie.db. A TSDB left by a killed process replays its WAL.
func Open(ctx context.Context, dir string, cfg Config, logger *slog.Logger, reg prometheus.Registerer) (*Storage, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	opts := tsdb.DefaultOptions()
	opts.RetentionDuration = int64(cfg.Retention.D() / time.Millisecond)
	opts.MaxBytes = int64(cfg.RetentionSize)
	opts.WALCompression = "snappy"
	// Sized for one host's few thousand series rather than Prometheus's
	// millions: the default 16,384-stripe series map and 4 MiB head-chunk
	// write buffer alone cost several MiB of resident memory. The stripe
	// count only spreads lock contention, which one collector loop and a
	// few scrapes do not have; 64 KiB is the smallest buffer the chunk
	// mapper accepts.
	opts.StripeSize = 1024
	opts.HeadChunksWriteBufferSize = chunks.MinWriteBufferSize
	// Blocks of 2h as Prometheus does, compacted up to a tenth of the retention.
	opts.MaxBlockDuration = min(opts.RetentionDuration/10, int64(31*24*time.Hour/time.Millisecond))
	if opts.MaxBlockDuration < opts.MinBlockDuration {
		opts.MaxBlockDuration = opts.MinBlockDuration
	}
	db, err := tsdb.Open(filepath.Join(dir, "tsdb"), logger.With("component", "tsdb"), reg, opts, nil)
	if err != nil {
		return nil, fmt.Errorf("open TSDB in %s: %w", filepath.Join(dir, "tsdb"), err)
	}
	st, err := OpenState(ctx, filepath.Join(dir, "vigie.db"))
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return &Storage{TSDB: db, State: st, dir: dir}, nil
}

// Dir is the data directory.
func (s *Storage) Dir() string { return s.dir }

// Close flushes and closes both databases. The TSDB's head stays in its WAL,
// which the next Open replays; no sample that was committed is lost.
func (s *Storage) Close() error {
	return errors.Join(s.TSDB.Close(), s.State.Close())
}

// Bytes is a size written with a unit: 512MB, 10GB, 1TB (powers of 1024 as
// Prometheus's --storage.tsdb.retention.size reads them).
type Bytes int64

// UnmarshalText parses a size.
func (b *Bytes) UnmarshalText(text []byte) error {
	s := strings.TrimSpace(string(text))
	if s == "" || s == "0" {
		*b = 0
		return nil
	}
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i <= 0 {
		return fmt.Errorf("invalid size %q (want e.g. 512MB or 10GB)", s)
	}
	n, err := strconv.ParseFloat(s[:i], 64)
	mult, ok := sizeUnits[strings.ToUpper(s[i:])]
	if err != nil || !ok || n < 0 {
		return fmt.Errorf("invalid size %q (want e.g. 512MB or 10GB)", s)
	}
	*b = Bytes(n * float64(mult))
	return nil
}

var sizeUnits = map[string]int64{"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50, "KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40}

// UnmarshalYAML reads a size and reports a bad one with its position.
func (b *Bytes) UnmarshalYAML(n *yaml.Node) error {
	if err := b.UnmarshalText([]byte(n.Value)); err != nil {
		return config.NodeError(n, err.Error())
	}
	return nil
}

// MarshalText writes the size back.
func (b Bytes) MarshalText() ([]byte, error) {
	for _, u := range []string{"TB", "GB", "MB", "KB"} {
		if m := sizeUnits[u]; b != 0 && int64(b)%m == 0 {
			return []byte(strconv.FormatInt(int64(b)/m, 10) + u), nil
		}
	}
	return []byte(strconv.FormatInt(int64(b), 10) + "B"), nil
}

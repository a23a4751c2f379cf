package logs

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/storage"
)

// The store is a SQLite database of its own (DataDir/logs.db), not the
// state database: log writes are heavy and the size retention measures
// this file alone. Lines are rows of a WITHOUT ROWID table clustered on
// (stream_id, ts, hash): a stream's time range is read sequentially, with
// no second index. Text search scans that range in SQL with instr(), which
// measured fast enough (docs/logs.md) to do without FTS5 and its build
// tag. The hash (FNV-1a of the line) makes an entry's key unique and, as
// in Loki, drops an entry pushed twice with the same time and line.
var migrations = []string{
	`CREATE TABLE log_streams (
		id INTEGER PRIMARY KEY,
		labels TEXT NOT NULL UNIQUE,
		first_ts INTEGER NOT NULL,
		last_ts INTEGER NOT NULL);
	CREATE TABLE log_lines (
		stream_id INTEGER NOT NULL,
		ts INTEGER NOT NULL,
		hash INTEGER NOT NULL,
		line TEXT NOT NULL,
		PRIMARY KEY (stream_id, ts, hash)) WITHOUT ROWID;
	CREATE TABLE log_cursors (
		source TEXT PRIMARY KEY,
		cursor TEXT NOT NULL);`,
	`CREATE TABLE log_forward_queue (
		id INTEGER PRIMARY KEY,
		target TEXT NOT NULL,
		entries INTEGER NOT NULL,
		body BLOB NOT NULL);
	CREATE INDEX log_forward_queue_target ON log_forward_queue (target, id);`,
}

// StoreOptions configure OpenStore.
type StoreOptions struct {
	// Path is the SQLite file, usually DataDir/logs.db.
	Path       string
	Retention  RetentionConfig
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Store keeps log lines in SQLite.
type Store struct {
	db     *sql.DB
	state  *storage.State
	logger *slog.Logger
	now    func() time.Time

	mu        sync.RWMutex
	retention RetentionConfig
	streams   map[streamKey][]*stream // by labels hash and level
	byID      map[int64]*stream

	deleted  *prometheus.CounterVec
	appended prometheus.Counter
	size     prometheus.Gauge
}

type streamKey struct {
	hash  uint64
	level Level
}

type stream struct {
	id      int64
	labels  labels.Labels // with the level label
	base    labels.Labels // without it
	first   int64
	last    int64
	touched bool
}

// OpenStore opens or creates the store.
func OpenStore(ctx context.Context, o StoreOptions) (*Store, error) {
	st, err := storage.OpenState(ctx, o.Path)
	if err != nil {
		return nil, fmt.Errorf("log store: %w", err)
	}
	if err := st.Migrate(ctx, "logs", migrations); err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("log store: %w", err)
	}
	// WAL lets readers run beside the one writer.
	st.DB.SetMaxOpenConns(4)
	s := &Store{
		db: st.DB, state: st, logger: o.Logger, now: o.Now, retention: o.Retention,
		streams: map[streamKey][]*stream{}, byID: map[int64]*stream{},
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigie_log_store_lines_deleted_total", Help: "Log lines removed from the store by retention.",
		}, []string{"reason"}),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigie_log_store_lines_appended_total", Help: "Log entries written to the store.",
		}),
		size: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigie_log_store_bytes", Help: "Bytes used by the log store (pages in use).",
		}),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if o.Registerer != nil {
		for _, c := range []prometheus.Collector{s.deleted, s.appended, s.size} {
			if err := o.Registerer.Register(c); err != nil {
				_ = st.Close()
				return nil, fmt.Errorf("log store: register metrics: %w", err)
			}
		}
	}
	if err := s.loadStreams(ctx); err != nil {
		_ = st.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.state.Close() }

// SetRetention changes the retention (on reload).
func (s *Store) SetRetention(r RetentionConfig) {
	s.mu.Lock()
	s.retention = r
	s.mu.Unlock()
}

func (s *Store) loadStreams(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, `SELECT id, labels, first_ts, last_ts FROM log_streams`)
	if err != nil {
		return fmt.Errorf("log store: load streams: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st stream
		var js string
		if err := rows.Scan(&st.id, &js, &st.first, &st.last); err != nil {
			return fmt.Errorf("log store: load streams: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal([]byte(js), &m); err != nil {
			return fmt.Errorf("log store: stream %d: %w", st.id, err)
		}
		st.labels = labels.FromMap(m)
		lvl := parseLevel(m[LevelLabel])
		delete(m, LevelLabel)
		st.base = labels.FromMap(m)
		s.addStream(&st, lvl)
	}
	return rows.Err()
}

func (s *Store) addStream(st *stream, lvl Level) {
	k := streamKey{st.base.Hash(), lvl}
	s.streams[k] = append(s.streams[k], st)
	s.byID[st.id] = st
}

func parseLevel(v string) Level {
	for i, n := range levelNames {
		if n == v {
			return Level(i)
		}
	}
	return LevelUnknown
}

// lookup returns the known stream of (base, lvl); s.mu held.
func (s *Store) lookup(base labels.Labels, lvl Level) *stream {
	for _, st := range s.streams[streamKey{base.Hash(), lvl}] {
		if labels.Equal(st.base, base) {
			return st
		}
	}
	return nil
}

// Append writes entries and cursors in one transaction.
func (s *Store) Append(ctx context.Context, entries []Entry, cursors map[string]string) error {
	if len(entries) == 0 && len(cursors) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("log store: begin: %w", err)
	}
	var created []*stream
	committed := false
	defer func() {
		if !committed {
			_ = tx.Rollback()
			for _, st := range created { // forget streams the rollback removed
				k := streamKey{st.base.Hash(), parseLevel(st.labels.Get(LevelLabel))}
				s.streams[k] = slices.DeleteFunc(s.streams[k], func(x *stream) bool { return x == st })
				delete(s.byID, st.id)
			}
		}
	}()
	ins, err := tx.PrepareContext(ctx, `INSERT OR IGNORE INTO log_lines (stream_id, ts, hash, line) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return fmt.Errorf("log store: prepare: %w", err)
	}
	defer ins.Close()
	var touched []*stream
	for i := range entries {
		e := &entries[i]
		st := s.lookup(e.Labels, e.Level)
		if st == nil {
			if st, err = s.createStream(ctx, tx, e); err != nil {
				return err
			}
			created = append(created, st)
		}
		if _, err := ins.ExecContext(ctx, st.id, e.TS, lineHash(e.Line), e.Line); err != nil {
			return fmt.Errorf("log store: insert: %w", err)
		}
		if !st.touched {
			st.touched = true
			touched = append(touched, st)
		}
		st.first, st.last = min(st.first, e.TS), max(st.last, e.TS)
	}
	for _, st := range touched {
		st.touched = false
		if _, err := tx.ExecContext(ctx, `UPDATE log_streams SET first_ts = ?, last_ts = ? WHERE id = ?`, st.first, st.last, st.id); err != nil {
			return fmt.Errorf("log store: update stream: %w", err)
		}
	}
	for src, c := range cursors {
		if _, err := tx.ExecContext(ctx, `INSERT INTO log_cursors (source, cursor) VALUES (?, ?)
			ON CONFLICT (source) DO UPDATE SET cursor = excluded.cursor`, src, c); err != nil {
			return fmt.Errorf("log store: save cursor: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("log store: commit: %w", err)
	}
	committed = true
	s.appended.Add(float64(len(entries)))
	return nil
}

func (s *Store) createStream(ctx context.Context, tx *sql.Tx, e *Entry) (*stream, error) {
	b := labels.NewBuilder(e.Labels)
	b.Set(LevelLabel, e.Level.String())
	full := b.Labels()
	js, err := json.Marshal(full.Map())
	if err != nil {
		return nil, fmt.Errorf("log store: stream labels: %w", err)
	}
	var id int64
	err = tx.QueryRowContext(ctx, `INSERT INTO log_streams (labels, first_ts, last_ts) VALUES (?, ?, ?)
		ON CONFLICT (labels) DO UPDATE SET last_ts = last_ts RETURNING id`, string(js), e.TS, e.TS).Scan(&id)
	if err != nil {
		return nil, fmt.Errorf("log store: create stream: %w", err)
	}
	st := &stream{id: id, labels: full, base: e.Labels.Copy(), first: e.TS, last: e.TS}
	s.addStream(st, e.Level)
	return st, nil
}

// lineHash is 32-bit FNV-1a: small in the key, enough to tell lines of
// the same stream and nanosecond apart.
func lineHash(s string) int64 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return int64(h)
}

// Cursor returns a source's saved read position.
func (s *Store) Cursor(ctx context.Context, source string) (string, bool, error) {
	var c string
	err := s.db.QueryRowContext(ctx, `SELECT cursor FROM log_cursors WHERE source = ?`, source).Scan(&c)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("log store: read cursor %s: %w", source, err)
	}
	return c, true, nil
}

// Cursors returns every saved cursor whose source starts with prefix.
func (s *Store) Cursors(ctx context.Context, prefix string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT source, cursor FROM log_cursors WHERE substr(source, 1, ?) = ?`, len(prefix), prefix)
	if err != nil {
		return nil, fmt.Errorf("log store: read cursors: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, fmt.Errorf("log store: read cursors: %w", err)
		}
		out[k] = v
	}
	return out, rows.Err()
}

// DeleteCursor forgets a source's position (a file that is gone).
func (s *Store) DeleteCursor(ctx context.Context, source string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM log_cursors WHERE source = ?`, source); err != nil {
		return fmt.Errorf("log store: delete cursor %s: %w", source, err)
	}
	return nil
}

// Hit is one entry a selection returned, with its (possibly extended) labels.
type Hit struct {
	Labels labels.Labels
	TS     int64
	Line   string
}

// Selection is what Select reads.
type Selection struct {
	Matchers []*labels.Matcher
	// Start and End bound the time range in Unix ns: Start <= ts < End.
	Start, End int64
	// Contains, when set, keeps only lines holding it (checked in SQL).
	Contains string
	// Forward returns the oldest first; default is newest first.
	Forward bool
	Limit   int
}

// Filter decides on one candidate line and may extend its labels.
type Filter func(stream labels.Labels, line string) (labels.Labels, bool)

// Select returns up to sel.Limit hits in time order (newest first unless
// Forward). keep may be nil. Streams are read one after the other; once
// Limit hits are held, the time range of the next streams shrinks to what
// could still displace them, so memory stays within twice Limit.
func (s *Store) Select(ctx context.Context, sel Selection, keep Filter) ([]Hit, error) {
	if sel.Limit <= 0 {
		sel.Limit = 100
	}
	order := func(a, b Hit) int {
		if sel.Forward {
			return cmp.Compare(a.TS, b.TS)
		}
		return cmp.Compare(b.TS, a.TS)
	}
	var hits []Hit
	for _, st := range s.matchStreams(sel.Matchers, sel.Start, sel.End) {
		if sel.Start >= sel.End {
			break
		}
		h, err := s.selectStream(ctx, st, sel, keep)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h...)
		slices.SortStableFunc(hits, order)
		if len(hits) >= sel.Limit {
			hits = hits[:sel.Limit]
			if last := hits[len(hits)-1].TS; sel.Forward {
				sel.End = min(sel.End, last+1)
			} else {
				sel.Start = max(sel.Start, last)
			}
		}
	}
	return hits, nil
}

func (s *Store) selectStream(ctx context.Context, st *stream, sel Selection, keep Filter) ([]Hit, error) {
	q := `SELECT ts, line FROM log_lines WHERE stream_id = ? AND ts >= ? AND ts < ?`
	args := []any{st.id, sel.Start, sel.End}
	if sel.Contains != "" {
		q += ` AND instr(line, ?) > 0`
		args = append(args, sel.Contains)
	}
	if sel.Forward {
		q += ` ORDER BY ts ASC`
	} else {
		q += ` ORDER BY ts DESC`
	}
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("log store: select: %w", err)
	}
	defer rows.Close()
	var hits []Hit
	for rows.Next() && len(hits) < sel.Limit {
		var h Hit
		if err := rows.Scan(&h.TS, &h.Line); err != nil {
			return nil, fmt.Errorf("log store: select: %w", err)
		}
		h.Labels = st.labels
		if keep != nil {
			var ok bool
			if h.Labels, ok = keep(st.labels, h.Line); !ok {
				continue
			}
		}
		hits = append(hits, h)
	}
	return hits, rows.Err()
}

// matchStreams returns the streams matching ms that overlap [start, end).
func (s *Store) matchStreams(ms []*labels.Matcher, start, end int64) []*stream {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var out []*stream
	for _, st := range s.byID {
		if st.last < start || st.first >= end {
			continue
		}
		ok := true
		for _, m := range ms {
			if !m.Matches(st.labels.Get(m.Name)) {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, st)
		}
	}
	slices.SortFunc(out, func(a, b *stream) int { return cmp.Compare(a.id, b.id) })
	return out
}

// Series returns the label sets of the streams matching any of the
// selectors (all streams when none) within [start, end).
func (s *Store) Series(selectors [][]*labels.Matcher, start, end int64) []labels.Labels {
	if len(selectors) == 0 {
		selectors = [][]*labels.Matcher{nil}
	}
	seen := map[int64]bool{}
	var out []labels.Labels
	for _, ms := range selectors {
		for _, st := range s.matchStreams(ms, start, end) {
			if !seen[st.id] {
				seen[st.id] = true
				out = append(out, st.labels)
			}
		}
	}
	slices.SortFunc(out, labels.Compare)
	return out
}

// LabelNames returns the label names of streams within [start, end).
func (s *Store) LabelNames(start, end int64) []string {
	set := map[string]bool{}
	for _, ls := range s.Series(nil, start, end) {
		ls.Range(func(l labels.Label) { set[l.Name] = true })
	}
	return sortedKeys(set)
}

// LabelValues returns the values of name among streams within [start, end).
func (s *Store) LabelValues(name string, start, end int64) []string {
	set := map[string]bool{}
	for _, ls := range s.Series(nil, start, end) {
		if v := ls.Get(name); v != "" {
			set[v] = true
		}
	}
	return sortedKeys(set)
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

package postgres

import (
	"cmp"
	"context"
	"regexp"
	"slices"

	"github.com/jackc/pgx/v5"
)

// Per-table families of postgres_exporter's stat_user_tables and
// statio_user_tables collectors, for the tables of the DSN's database (as
// the exporter reports current_database()'s). Thousands of tables stay
// cheap: a first query lists the tables from the statistics view only,
// the include/exclude filter and max_tables pick some, and only those get
// the second query with pg_table_size() and pg_indexes_size().

var tableLabels = []string{"datname", "schemaname", "relname"}

var userTableColumns = withDescs([]column{
	{col: "t.seq_scan", name: "seq_scan", help: "Number of sequential scans initiated on this table.", typ: counter},
	{col: "t.seq_tup_read", name: "seq_tup_read", help: "Number of live rows fetched by sequential scans.", typ: counter},
	{col: "t.idx_scan", name: "idx_scan", help: "Number of index scans initiated on this table.", typ: counter},
	{col: "t.idx_tup_fetch", name: "idx_tup_fetch", help: "Number of live rows fetched by index scans.", typ: counter},
	{col: "t.n_tup_ins", name: "n_tup_ins", help: "Number of rows inserted.", typ: counter},
	{col: "t.n_tup_upd", name: "n_tup_upd", help: "Number of rows updated.", typ: counter},
	{col: "t.n_tup_del", name: "n_tup_del", help: "Number of rows deleted.", typ: counter},
	{col: "t.n_tup_hot_upd", name: "n_tup_hot_upd", help: "Number of rows HOT updated (i.e., with no separate index update required).", typ: counter},
	{col: "t.n_live_tup", name: "n_live_tup", help: "Estimated number of live rows.", typ: gauge},
	{col: "t.n_dead_tup", name: "n_dead_tup", help: "Estimated number of dead rows.", typ: gauge},
	{col: "t.n_mod_since_analyze", name: "n_mod_since_analyze", help: "Estimated number of rows changed since last analyze.", typ: gauge},
	{col: "extract(epoch from t.last_vacuum)", name: "last_vacuum", help: "Last time at which this table was manually vacuumed (not counting VACUUM FULL), as Unix time (0: never).", typ: gauge},
	{col: "extract(epoch from t.last_autovacuum)", name: "last_autovacuum", help: "Last time at which this table was vacuumed by the autovacuum daemon, as Unix time (0: never).", typ: gauge},
	{col: "extract(epoch from t.last_analyze)", name: "last_analyze", help: "Last time at which this table was manually analyzed, as Unix time (0: never).", typ: gauge},
	{col: "extract(epoch from t.last_autoanalyze)", name: "last_autoanalyze", help: "Last time at which this table was analyzed by the autovacuum daemon, as Unix time (0: never).", typ: gauge},
	{col: "t.vacuum_count", name: "vacuum_count", help: "Number of times this table has been manually vacuumed (not counting VACUUM FULL).", typ: counter},
	{col: "t.autovacuum_count", name: "autovacuum_count", help: "Number of times this table has been vacuumed by the autovacuum daemon.", typ: counter},
	{col: "t.analyze_count", name: "analyze_count", help: "Number of times this table has been manually analyzed.", typ: counter},
	{col: "t.autoanalyze_count", name: "autoanalyze_count", help: "Number of times this table has been analyzed by the autovacuum daemon.", typ: counter},
	{col: "pg_indexes_size(t.relid)", name: "index_size_bytes", help: "Total disk space used by the indexes of this table, in bytes.", typ: gauge},
	{col: "pg_table_size(t.relid)", name: "table_size_bytes", help: "Total disk space used by this table, in bytes.", typ: gauge},
}, "pg_stat_user_tables_", tableLabels...)

var statioTableColumns = withDescs([]column{
	{col: "io.heap_blks_read", name: "heap_blocks_read", help: "Number of disk blocks read from this table.", typ: counter},
	{col: "io.heap_blks_hit", name: "heap_blocks_hit", help: "Number of buffer hits in this table.", typ: counter},
	{col: "io.idx_blks_read", name: "idx_blocks_read", help: "Number of disk blocks read from all indexes on this table.", typ: counter},
	{col: "io.idx_blks_hit", name: "idx_blocks_hit", help: "Number of buffer hits in all indexes on this table.", typ: counter},
	{col: "io.toast_blks_read", name: "toast_blocks_read", help: "Number of disk blocks read from this table's TOAST table (if any).", typ: counter},
	{col: "io.toast_blks_hit", name: "toast_blocks_hit", help: "Number of buffer hits in this table's TOAST table (if any).", typ: counter},
	{col: "io.tidx_blks_read", name: "tidx_blocks_read", help: "Number of disk blocks read from this table's TOAST table indexes (if any).", typ: counter},
	{col: "io.tidx_blks_hit", name: "tidx_blocks_hit", help: "Number of buffer hits in this table's TOAST table indexes (if any).", typ: counter},
}, "pg_statio_user_tables_", tableLabels...)

// table is one row of the cheap listing.
type table struct {
	relid        uint32
	schema, name string
	live         float64
}

// tableFilter picks the tables of the per-table families.
type tableFilter struct {
	include, exclude []*regexp.Regexp
	max              int
}

func newTableFilter(ic InstanceConfig) (*tableFilter, error) {
	f := &tableFilter{max: ic.MaxTables}
	for _, re := range ic.IncludeTables {
		r, err := compileAnchored(re)
		if err != nil {
			return nil, err
		}
		f.include = append(f.include, r)
	}
	for _, re := range ic.ExcludeTables {
		r, err := compileAnchored(re)
		if err != nil {
			return nil, err
		}
		f.exclude = append(f.exclude, r)
	}
	return f, nil
}

func (f *tableFilter) keep(qualified string) bool {
	for _, r := range f.exclude {
		if r.MatchString(qualified) {
			return false
		}
	}
	if len(f.include) == 0 {
		return true
	}
	for _, r := range f.include {
		if r.MatchString(qualified) {
			return true
		}
	}
	return false
}

// pick filters tables and keeps the max largest by live rows (then by name, for a stable choice).
func (f *tableFilter) pick(tables []table) []table {
	out := tables[:0]
	for _, t := range tables {
		if f.keep(t.schema + "." + t.name) {
			out = append(out, t)
		}
	}
	slices.SortFunc(out, func(a, b table) int {
		if c := cmp.Compare(b.live, a.live); c != 0 {
			return c
		}
		if c := cmp.Compare(a.schema, b.schema); c != 0 {
			return c
		}
		return cmp.Compare(a.name, b.name)
	})
	if len(out) > f.max {
		out = out[:f.max]
	}
	return out
}

// userTables reports pg_stat_user_tables_* and pg_statio_user_tables_* for the picked tables.
func (in *instance) userTables(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	in.pickedTables = nil
	if in.tables.max == 0 {
		return nil
	}
	rows, err := in.query(ctx, conn, `SELECT relid::int8, schemaname::text, relname::text, COALESCE(n_live_tup, 0)::float8 FROM pg_stat_user_tables`)
	if err != nil {
		return err
	}
	var all []table
	var t table
	var relid int64
	if _, err := pgx.ForEachRow(rows, []any{&relid, &t.schema, &t.name, &t.live}, func() error {
		t.relid = uint32(relid)
		all = append(all, t)
		return nil
	}); err != nil {
		return err
	}
	picked := in.tables.pick(all)
	if len(picked) == 0 {
		return nil
	}
	ids := make([]int64, len(picked))
	for i, p := range picked {
		ids[i] = int64(p.relid)
	}
	in.pickedTables = ids
	cols := append(append([]column{}, userTableColumns...), statioTableColumns...)
	list, cols := selectList(cols, info.versionNum)
	rows, err = in.query(ctx, conn, `SELECT current_database()::text, t.schemaname::text, t.relname::text, `+list+`
FROM pg_stat_user_tables t JOIN pg_statio_user_tables io ON io.relid = t.relid
WHERE t.relid = ANY($1::int8[]::oid[])`, ids)
	if err != nil {
		return err
	}
	return emitRows(rows, cols, e, 3)
}

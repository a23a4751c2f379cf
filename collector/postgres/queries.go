package postgres

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"
)

// newDesc prepends the instance label to every pg_* series.
func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append([]string{"instance"}, labels...), nil)
}

var (
	upDesc          = newDesc("pg_up", "Whether the last gather could connect to the server and query it (1 for yes, 0 for no).")
	staticDesc      = newDesc("pg_static", "Version string as reported by postgres.", "version", "short_version")
	startTimeDesc   = newDesc("pg_postmaster_start_time_seconds", "Time at which postmaster started, as Unix time.")
	isReplicaDesc   = newDesc("pg_replication_is_replica", "Indicates if the server is a replica (1) or a primary (0).")
	replLagDesc     = newDesc("pg_replication_lag_seconds", "Replication lag behind the primary in seconds (0 on a primary, or when the standby has replayed everything it received).")
	activityDesc    = newDesc("pg_stat_activity_count", "Number of connections in this state.", "datname", "state")
	maxTxDesc       = newDesc("pg_stat_activity_max_tx_duration", "Maximum duration in seconds any transaction in this state has been running.", "datname", "state")
	dbSizeDesc      = newDesc("pg_database_size_bytes", "Disk space used by the database.", "datname")
	locksDesc       = newDesc("pg_locks_count", "Number of locks.", "datname", "mode")
	statsResetDesc  = newDesc("pg_stat_database_stats_reset", "Time at which these statistics were last reset, as Unix time.", "datid", "datname")
	walSegmentsDesc = newDesc("pg_wal_segments", "Number of WAL segment files in pg_wal.")
	walSizeDesc     = newDesc("pg_wal_size_bytes", "Total size of the WAL segment files in pg_wal.")

	replLSNDiffDesc  = newDesc("pg_stat_replication_pg_wal_lsn_diff", "Bytes of WAL the standby has still to replay.", "application_name", "client_addr", "state", "sync_state")
	replLagTimesDesc = map[string]*prometheus.Desc{
		"write_lag":  newDesc("pg_stat_replication_write_lag_seconds", "Time between flushing recent WAL locally and receiving notification that the standby has written it.", "application_name", "client_addr", "state", "sync_state"),
		"flush_lag":  newDesc("pg_stat_replication_flush_lag_seconds", "Time between flushing recent WAL locally and receiving notification that the standby has flushed it.", "application_name", "client_addr", "state", "sync_state"),
		"replay_lag": newDesc("pg_stat_replication_replay_lag_seconds", "Time between flushing recent WAL locally and receiving notification that the standby has replayed it.", "application_name", "client_addr", "state", "sync_state"),
	}
	slotActiveDesc  = newDesc("pg_replication_slots_active", "Whether the replication slot is in use (1) or not (0).", "slot_name", "slot_type", "database")
	slotLSNDiffDesc = newDesc("pg_replication_slots_pg_wal_lsn_diff", "Bytes of WAL retained for the replication slot.", "slot_name", "slot_type", "database")

	stmtCallsDesc     = newDesc("pg_stat_statements_calls_total", "Number of times the statement was executed.", "user", "datname", "queryid")
	stmtSecondsDesc   = newDesc("pg_stat_statements_seconds_total", "Total time spent executing the statement, in seconds.", "user", "datname", "queryid")
	stmtRowsDesc      = newDesc("pg_stat_statements_rows_total", "Total number of rows retrieved or affected by the statement.", "user", "datname", "queryid")
	stmtBlkReadDesc   = newDesc("pg_stat_statements_block_read_seconds_total", "Total time the statement spent reading blocks, in seconds (track_io_timing).", "user", "datname", "queryid")
	stmtBlkWriteDesc  = newDesc("pg_stat_statements_block_write_seconds_total", "Total time the statement spent writing blocks, in seconds (track_io_timing).", "user", "datname", "queryid")
	stmtQueryTextDesc = newDesc("pg_stat_statements_query_id", "The normalised, truncated text of a statement, by queryid.", "queryid", "query")
)

// activityStates and lockModes are reported for every database, zero included, as postgres_exporter does.
var (
	activityStates = []string{"active", "idle", "idle in transaction", "idle in transaction (aborted)", "fastpath function call", "disabled"}
	lockModes      = []string{"accesssharelock", "rowsharelock", "rowexclusivelock", "shareupdateexclusivelock", "sharelock", "sharerowexclusivelock", "exclusivelock", "accessexclusivelock", "sireadlock"}
)

// column is one numeric column of a statistics view, with the server
// version it appeared in.
type column struct {
	col        string // SQL expression
	name       string // metric name
	help       string
	typ        prometheus.ValueType
	minVersion int
	maxVersion int // exclusive, 0: still there
	desc       *prometheus.Desc
}

func (c column) in(version int) bool {
	return version >= c.minVersion && (c.maxVersion == 0 || version < c.maxVersion)
}

var (
	counter = prometheus.CounterValue
	gauge   = prometheus.GaugeValue
)

var statDatabaseColumns = withDescs([]column{
	{col: "numbackends", help: "Number of backends currently connected to this database.", typ: gauge},
	{col: "xact_commit", help: "Number of transactions in this database that have been committed.", typ: counter},
	{col: "xact_rollback", help: "Number of transactions in this database that have been rolled back.", typ: counter},
	{col: "blks_read", help: "Number of disk blocks read in this database.", typ: counter},
	{col: "blks_hit", help: "Number of times disk blocks were found already in the buffer cache.", typ: counter},
	{col: "tup_returned", help: "Number of rows returned by queries in this database.", typ: counter},
	{col: "tup_fetched", help: "Number of rows fetched by queries in this database.", typ: counter},
	{col: "tup_inserted", help: "Number of rows inserted by queries in this database.", typ: counter},
	{col: "tup_updated", help: "Number of rows updated by queries in this database.", typ: counter},
	{col: "tup_deleted", help: "Number of rows deleted by queries in this database.", typ: counter},
	{col: "conflicts", help: "Number of queries canceled due to conflicts with recovery in this database.", typ: counter},
	{col: "temp_files", help: "Number of temporary files created by queries in this database.", typ: counter},
	{col: "temp_bytes", help: "Total amount of data written to temporary files by queries in this database.", typ: counter},
	{col: "deadlocks", help: "Number of deadlocks detected in this database.", typ: counter},
	{col: "blk_read_time", help: "Time spent reading data file blocks by backends in this database, in milliseconds.", typ: counter},
	{col: "blk_write_time", help: "Time spent writing data file blocks by backends in this database, in milliseconds.", typ: counter},
	{col: "checksum_failures", help: "Number of data page checksum failures detected in this database.", typ: counter, minVersion: 120000},
	{col: "session_time", help: "Time spent by database sessions in this database, in milliseconds.", typ: counter, minVersion: 140000},
	{col: "active_time", help: "Time spent executing SQL statements in this database, in milliseconds.", typ: counter, minVersion: 140000},
	{col: "active_time / 1000", name: "active_time_seconds_total", help: "Time spent executing SQL statements in this database, in seconds.", typ: counter, minVersion: 140000},
	{col: "idle_in_transaction_time", help: "Time spent idling while in a transaction in this database, in milliseconds.", typ: counter, minVersion: 140000},
	{col: "sessions", help: "Total number of sessions established to this database.", typ: counter, minVersion: 140000},
	{col: "sessions_abandoned", help: "Number of database sessions to this database that were terminated because connection to the client was lost.", typ: counter, minVersion: 140000},
	{col: "sessions_fatal", help: "Number of database sessions to this database that were terminated by fatal errors.", typ: counter, minVersion: 140000},
	{col: "sessions_killed", help: "Number of database sessions to this database that were terminated by operator intervention.", typ: counter, minVersion: 140000},
}, "pg_stat_database_", "datid", "datname")

// Before 17 pg_stat_bgwriter has everything; from 17 the checkpoint figures
// are in pg_stat_checkpointer (c) and the backend ones are gone. The names
// stay postgres_exporter's.
var bgwriterColumns = withDescs([]column{
	{col: "checkpoints_timed", name: "checkpoints_timed_total", help: "Number of scheduled checkpoints that have been performed.", typ: counter, maxVersion: 170000},
	{col: "c.num_timed", name: "checkpoints_timed_total", help: "Number of scheduled checkpoints that have been performed.", typ: counter, minVersion: 170000},
	{col: "checkpoints_req", name: "checkpoints_req_total", help: "Number of requested checkpoints that have been performed.", typ: counter, maxVersion: 170000},
	{col: "c.num_requested", name: "checkpoints_req_total", help: "Number of requested checkpoints that have been performed.", typ: counter, minVersion: 170000},
	{col: "checkpoint_write_time", name: "checkpoint_write_time_total", help: "Time spent writing files to disk during checkpoints, in milliseconds.", typ: counter, maxVersion: 170000},
	{col: "c.write_time", name: "checkpoint_write_time_total", help: "Time spent writing files to disk during checkpoints, in milliseconds.", typ: counter, minVersion: 170000},
	{col: "checkpoint_sync_time", name: "checkpoint_sync_time_total", help: "Time spent synchronizing files to disk during checkpoints, in milliseconds.", typ: counter, maxVersion: 170000},
	{col: "c.sync_time", name: "checkpoint_sync_time_total", help: "Time spent synchronizing files to disk during checkpoints, in milliseconds.", typ: counter, minVersion: 170000},
	{col: "buffers_checkpoint", name: "buffers_checkpoint_total", help: "Number of buffers written during checkpoints.", typ: counter, maxVersion: 170000},
	{col: "c.buffers_written", name: "buffers_checkpoint_total", help: "Number of buffers written during checkpoints.", typ: counter, minVersion: 170000},
	{col: "b.buffers_clean", name: "buffers_clean_total", help: "Number of buffers written by the background writer.", typ: counter},
	{col: "b.maxwritten_clean", name: "maxwritten_clean_total", help: "Number of times the background writer stopped a cleaning scan because it had written too many buffers.", typ: counter},
	{col: "buffers_backend", name: "buffers_backend_total", help: "Number of buffers written directly by a backend.", typ: counter, maxVersion: 170000},
	{col: "buffers_backend_fsync", name: "buffers_backend_fsync_total", help: "Number of times a backend had to execute its own fsync call.", typ: counter, maxVersion: 170000},
	{col: "b.buffers_alloc", name: "buffers_alloc_total", help: "Number of buffers allocated.", typ: counter},
	{col: "extract(epoch from b.stats_reset)", name: "stats_reset_total", help: "Time at which these statistics were last reset, as Unix time.", typ: counter},
}, "pg_stat_bgwriter_")

var statWALColumns = withDescs([]column{
	{col: "wal_records", name: "records_total", help: "Total number of WAL records generated.", typ: counter, minVersion: 140000},
	{col: "wal_fpi", name: "fpi_total", help: "Total number of WAL full page images generated.", typ: counter, minVersion: 140000},
	{col: "wal_bytes", name: "bytes_total", help: "Total amount of WAL generated in bytes.", typ: counter, minVersion: 140000},
	{col: "wal_buffers_full", name: "buffers_full_total", help: "Number of times WAL data was written to disk because WAL buffers became full.", typ: counter, minVersion: 140000},
}, "pg_stat_wal_")

func withDescs(cols []column, prefix string, labels ...string) []column {
	for i := range cols {
		if cols[i].name == "" {
			cols[i].name = cols[i].col
		}
		cols[i].desc = newDesc(prefix+cols[i].name, cols[i].help, labels...)
	}
	return cols
}

// selectList returns "COALESCE(col, 0)::float8, …" and the columns of version.
func selectList(cols []column, version int) (string, []column) {
	var parts []string
	var out []column
	for _, c := range cols {
		if c.in(version) {
			parts = append(parts, "COALESCE("+c.col+", 0)::float8")
			out = append(out, c)
		}
	}
	return strings.Join(parts, ", "), out
}

type emitter struct {
	ch       chan<- prometheus.Metric
	instance string
}

func (e *emitter) gauge(d *prometheus.Desc, v float64, lv ...string) {
	e.emit(d, prometheus.GaugeValue, v, lv...)
}

func (e *emitter) emit(d *prometheus.Desc, t prometheus.ValueType, v float64, lv ...string) {
	e.ch <- prometheus.MustNewConstMetric(d, t, v, append([]string{e.instance}, lv...)...)
}

type serverInfo struct {
	versionNum    int
	version       string
	startTime     float64
	inRecovery    bool
	replLag       float64
	lastReplay    float64
	hasStatements bool
}

// queryServerInfo is the first query of a gather: version, start time,
// recovery state, and whether pg_stat_statements is installed here.
func queryServerInfo(ctx context.Context, in *instance, conn *pgx.Conn) (serverInfo, error) {
	var s serverInfo
	ctx, cancel := in.queryContext(ctx)
	defer cancel()
	in.queries.Add(1)
	err := conn.QueryRow(ctx, `SELECT
  current_setting('server_version_num')::int,
  version(),
  extract(epoch from pg_postmaster_start_time())::float8,
  pg_is_in_recovery(),
  CASE WHEN NOT pg_is_in_recovery() THEN 0
       WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
       ELSE GREATEST(0, extract(epoch from now() - pg_last_xact_replay_timestamp())) END::float8,
  COALESCE(GREATEST(0, extract(epoch from now() - pg_last_xact_replay_timestamp())), 0)::float8,
  EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements')`).
		Scan(&s.versionNum, &s.version, &s.startTime, &s.inRecovery, &s.replLag, &s.lastReplay, &s.hasStatements)
	return s, err
}

// queryContext bounds one query on the client side too, a little after statement_timeout.
func (in *instance) queryContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, in.stmtTO+2*time.Second)
}

// collect runs every query after the server info. A failing query is
// reported and the others still run; a lost connection ends the gather.
func (in *instance) collect(ctx context.Context, e *emitter, info serverInfo) error {
	major, minor := info.versionNum/10000, info.versionNum%10000
	e.gauge(staticDesc, 1, info.version, fmt.Sprintf("%d.%d.0", major, minor))
	e.gauge(startTimeDesc, info.startTime)
	e.gauge(isReplicaDesc, b2f(info.inRecovery))
	e.gauge(replLagDesc, info.replLag)
	e.gauge(lastReplayDesc, info.lastReplay)

	var errs []error
	for _, st := range in.steps() {
		if ctx.Err() != nil {
			errs = append(errs, ctx.Err())
			break
		}
		qctx, cancel := in.queryContext(ctx)
		start := time.Now()
		err := st.fn(qctx, in.conn, e, info)
		cancel()
		e.gauge(stepDurationDesc, time.Since(start).Seconds(), st.name)
		e.gauge(stepSuccessDesc, b2f(err == nil), st.name)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", st.name, in.redactErr(err)))
			if in.conn.IsClosed() {
				in.conn = nil
				break
			}
		}
	}
	return errors.Join(errs...)
}

type step struct {
	name string
	fn   func(context.Context, *pgx.Conn, *emitter, serverInfo) error
}

// steps are the queries of a gather, named after postgres_exporter's
// collectors where there is one (the collector label of pg_scrape_collector_*).
func (in *instance) steps() []step {
	steps := []step{
		{"settings", in.settings},
		{"stat_database", in.statDatabase},
		{"stat_database_conflicts", in.conflicts},
		{"database", in.databaseSize},
		{"database_limits", in.databases},
		{"stat_activity", in.statActivity},
		{"locks", in.locks},
		{"stat_bgwriter", in.bgwriter},
		{"stat_archiver", in.archiver},
		{"stat_progress_vacuum", in.progressVacuum},
		{"wal", in.wal},
		{"replication", in.replication},
		{"replication_slots", in.slots},
		{"stat_user_tables", in.userTables},
		{"stat_statements", in.statements},
	}
	optional := []step{
		{CollectorLongRunningTransactions, in.longRunning},
		{CollectorDatabaseWraparound, in.wraparound},
		{CollectorStatActivityAutovacuum, in.autovacuum},
		{CollectorStatCheckpointer, in.checkpointer},
		{CollectorBloat, in.bloat},
	}
	for _, st := range optional {
		if in.cfg.enabled(st.name) {
			steps = append(steps, st)
		}
	}
	return steps
}

func (in *instance) query(ctx context.Context, conn *pgx.Conn, sql string, args ...any) (pgx.Rows, error) {
	in.queries.Add(1)
	return conn.Query(ctx, sql, args...)
}

// dbFilterSQL restricts datname to the configured databases; $1 is the list.
const dbFilterSQL = `(cardinality($1::text[]) = 0 OR datname = ANY($1::text[]))`

func (in *instance) settings(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT name, setting, COALESCE(unit, ''), vartype FROM pg_settings
WHERE vartype IN ('bool', 'integer', 'real') AND name NOT IN ('sync_commit_cancel_wait', 'google_dataplex.max_messages')`)
	if err != nil {
		return err
	}
	var name, setting, unit, vartype string
	_, err = pgx.ForEachRow(rows, []any{&name, &setting, &unit, &vartype}, func() error {
		v, suffix, ok := convertSetting(setting, unit, vartype)
		if ok {
			help := "Server Parameter: " + name
			if suffix != "" {
				help += " [Units converted to " + suffix[1:] + ".]"
			}
			e.gauge(newDesc(settingName(name, suffix), help), v)
		}
		return nil
	})
	return err
}

// convertSetting turns a pg_settings value into seconds or bytes as
// postgres_exporter's pg_setting.go does: -1 (off) is kept as is, and a
// unit it does not know skips the setting.
func convertSetting(setting, unit, vartype string) (float64, string, bool) {
	switch vartype {
	case "bool":
		return b2f(setting == "on"), "", true
	case "integer", "real":
	default:
		return 0, "", false
	}
	v, err := strconv.ParseFloat(setting, 64)
	if err != nil {
		return 0, "", false
	}
	u, ok := settingUnits[unit]
	if !ok {
		return 0, "", false
	}
	if v != -1 {
		v *= u.mult
	}
	return v, u.suffix, true
}

// settingUnits maps pg_settings units to a multiplier and the name's suffix.
var settingUnits = map[string]struct {
	mult   float64
	suffix string
}{
	"":   {1, ""},
	"ms": {1e-3, "_seconds"}, "s": {1, "_seconds"}, "min": {60, "_seconds"}, "h": {3600, "_seconds"}, "d": {86400, "_seconds"},
	"B": {1, "_bytes"}, "kB": {1 << 10, "_bytes"}, "MB": {1 << 20, "_bytes"}, "GB": {1 << 30, "_bytes"}, "TB": {1 << 40, "_bytes"},
	"1kB": {1 << 10, "_bytes"}, "2kB": {1 << 11, "_bytes"}, "4kB": {1 << 12, "_bytes"}, "8kB": {1 << 13, "_bytes"},
	"16kB": {1 << 14, "_bytes"}, "32kB": {1 << 15, "_bytes"}, "64kB": {1 << 16, "_bytes"},
	"16MB": {1 << 24, "_bytes"}, "32MB": {1 << 25, "_bytes"}, "64MB": {1 << 26, "_bytes"},
}

func (in *instance) statDatabase(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	list, cols := selectList(statDatabaseColumns, info.versionNum)
	rows, err := in.query(ctx, conn, `SELECT datid::text, datname, `+list+`, extract(epoch from stats_reset)::float8
FROM pg_stat_database WHERE datname IS NOT NULL AND `+dbFilterSQL, in.dbFilter)
	if err != nil {
		return err
	}
	defer rows.Close()
	vals := make([]float64, len(cols))
	var datid, datname string
	var reset *float64
	dest := []any{&datid, &datname}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	dest = append(dest, &reset)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for i, c := range cols {
			e.emit(c.desc, c.typ, vals[i], datid, datname)
		}
		if reset != nil {
			e.emit(statsResetDesc, counter, *reset, datid, datname) // a counter, as postgres_exporter types it
		}
	}
	return rows.Err()
}

type dbSize struct {
	datname string
	bytes   float64
}

// databaseSize reports pg_database_size(), asked at most every size_interval.
func (in *instance) databaseSize(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	if now := in.c.now(); in.sizes == nil || now.Sub(in.sizesAt) >= in.cfg.SizeInterval.D() {
		rows, err := in.query(ctx, conn, `SELECT datname, pg_database_size(oid)::float8 FROM pg_database
WHERE datallowconn AND `+dbFilterSQL, in.dbFilter)
		if err != nil {
			return err
		}
		var d dbSize
		sizes := []dbSize{}
		if _, err := pgx.ForEachRow(rows, []any{&d.datname, &d.bytes}, func() error {
			sizes = append(sizes, d)
			return nil
		}); err != nil {
			return err
		}
		in.sizes, in.sizesAt = sizes, now
	}
	for _, d := range in.sizes {
		e.gauge(dbSizeDesc, d.bytes, d.datname)
	}
	return nil
}

func (in *instance) statActivity(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT d.datname, s.state, COALESCE(a.count, 0)::float8, COALESCE(a.max_tx, 0)::float8
FROM unnest($2::text[]) AS s(state)
CROSS JOIN (SELECT datname FROM pg_database WHERE datallowconn AND `+dbFilterSQL+`) AS d
LEFT JOIN (
  SELECT datname, state, count(*) AS count, max(extract(epoch from now() - xact_start)) AS max_tx
  FROM pg_stat_activity WHERE datname IS NOT NULL AND state IS NOT NULL GROUP BY datname, state
) AS a ON a.datname = d.datname AND a.state = s.state`, in.dbFilter, activityStates)
	if err != nil {
		return err
	}
	var datname, state string
	var count, maxTx float64
	_, err = pgx.ForEachRow(rows, []any{&datname, &state, &count, &maxTx}, func() error {
		e.gauge(activityDesc, count, datname, state)
		e.gauge(maxTxDesc, maxTx, datname, state)
		return nil
	})
	return err
}

func (in *instance) locks(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT d.datname, m.mode, COALESCE(l.count, 0)::float8
FROM unnest($2::text[]) AS m(mode)
CROSS JOIN (SELECT oid, datname FROM pg_database WHERE datallowconn AND `+dbFilterSQL+`) AS d
LEFT JOIN (
  SELECT database, lower(mode) AS mode, count(*) AS count FROM pg_locks
  WHERE database IS NOT NULL GROUP BY database, lower(mode)
) AS l ON l.database = d.oid AND l.mode = m.mode`, in.dbFilter, lockModes)
	if err != nil {
		return err
	}
	var datname, mode string
	var count float64
	_, err = pgx.ForEachRow(rows, []any{&datname, &mode, &count}, func() error {
		e.gauge(locksDesc, count, datname, mode)
		return nil
	})
	return err
}

func (in *instance) bgwriter(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	list, cols := selectList(bgwriterColumns, info.versionNum)
	from := "pg_stat_bgwriter b"
	if info.versionNum >= 170000 {
		from = "pg_stat_bgwriter b, pg_stat_checkpointer c"
	}
	return in.singleRow(ctx, conn, e, "SELECT "+list+" FROM "+from, cols)
}

func (in *instance) wal(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	in.queries.Add(1)
	var segments, size float64
	err := conn.QueryRow(ctx, `SELECT count(*)::float8, COALESCE(sum(size), 0)::float8 FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'`).Scan(&segments, &size)
	if err != nil {
		return err
	}
	e.gauge(walSegmentsDesc, segments)
	e.gauge(walSizeDesc, size)
	if info.versionNum < 140000 {
		return nil
	}
	list, cols := selectList(statWALColumns, info.versionNum)
	return in.singleRow(ctx, conn, e, "SELECT "+list+" FROM pg_stat_wal", cols)
}

func (in *instance) singleRow(ctx context.Context, conn *pgx.Conn, e *emitter, sql string, cols []column) error {
	in.queries.Add(1)
	vals := make([]float64, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		return err
	}
	for i, c := range cols {
		e.emit(c.desc, c.typ, vals[i])
	}
	return nil
}

// replication reports, on a primary, each connected standby's lag and, on
// any server, the WAL retained by each replication slot.
func (in *instance) replication(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	lsn := "pg_current_wal_lsn()"
	if info.inRecovery {
		lsn = "pg_last_wal_replay_lsn()"
	}
	if !info.inRecovery {
		rows, err := in.query(ctx, conn, `SELECT COALESCE(application_name, ''), COALESCE(host(client_addr), ''),
  COALESCE(state, ''), COALESCE(sync_state, ''),
  COALESCE(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn), 0)::float8,
  extract(epoch from write_lag)::float8, extract(epoch from flush_lag)::float8, extract(epoch from replay_lag)::float8,
  (pg_current_wal_lsn() - '0/0')::float8
FROM pg_stat_replication ORDER BY 5 DESC`)
		if err != nil {
			return err
		}
		var app, addr, state, syncState string
		var diff, current float64
		var lags [3]*float64
		seen := map[[4]string]bool{}
		_, err = pgx.ForEachRow(rows, []any{&app, &addr, &state, &syncState, &diff, &lags[0], &lags[1], &lags[2], &current}, func() error {
			// Two standbys alike in name, address and state: report the one furthest behind.
			if k := [4]string{app, addr, state, syncState}; seen[k] {
				return nil
			} else {
				seen[k] = true
			}
			e.gauge(replLSNDiffDesc, diff, app, addr, state, syncState)
			e.gauge(replCurrentLSNDesc, current, app, addr, state, syncState)
			for i, k := range []string{"write_lag", "flush_lag", "replay_lag"} {
				// NULL once the standby has caught up and is idle: no lag.
				v := 0.0
				if lags[i] != nil {
					v = *lags[i]
				}
				e.gauge(replLagTimesDesc[k], v, app, addr, state, syncState)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	rows, err := in.query(ctx, conn, `SELECT slot_name::text, slot_type, COALESCE(database::text, ''), active,
  COALESCE(pg_wal_lsn_diff(`+lsn+`, restart_lsn), 0)::float8
FROM pg_replication_slots`)
	if err != nil {
		return err
	}
	var slot, typ, db string
	var active bool
	var diff float64
	_, err = pgx.ForEachRow(rows, []any{&slot, &typ, &db, &active, &diff}, func() error {
		e.gauge(slotActiveDesc, b2f(active), slot, typ, db)
		e.gauge(slotLSNDiffDesc, diff, slot, typ, db)
		return nil
	})
	return err
}

// statements reports the top statements of pg_stat_statements by total
// execution time, when the extension is installed in the DSN's database.
func (in *instance) statements(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	n := in.cfg.TopStatements
	if n == 0 || !info.hasStatements {
		return nil
	}
	total, blkRead, blkWrite := "total_exec_time", "blk_read_time", "blk_write_time"
	if info.versionNum < 130000 {
		total = "total_time"
	}
	toplevel := ""
	if info.versionNum >= 140000 {
		// With pg_stat_statements.track = all, nested statements have rows of their own.
		toplevel = " AND s.toplevel"
	}
	if info.versionNum >= 170000 {
		blkRead = "shared_blk_read_time + local_blk_read_time"
		blkWrite = "shared_blk_write_time + local_blk_write_time"
	}
	rows, err := in.query(ctx, conn, `SELECT s.queryid::text, COALESCE(r.rolname::text, ''), COALESCE(d.datname::text, ''),
  s.calls::float8, (s.`+total+` / 1000)::float8, s.rows::float8,
  ((`+blkRead+`) / 1000)::float8, ((`+blkWrite+`) / 1000)::float8,
  left(s.query, $3)
FROM pg_stat_statements s
LEFT JOIN pg_roles r ON r.oid = s.userid
LEFT JOIN pg_database d ON d.oid = s.dbid
WHERE s.queryid IS NOT NULL`+toplevel+` AND `+strings.ReplaceAll(dbFilterSQL, "datname", "d.datname")+`
ORDER BY s.`+total+` DESC LIMIT $2`, in.dbFilter, n, in.cfg.QueryTextLength*4+16)
	if err != nil {
		var pgErr *pgconn.PgError
		// 55000: installed but not in shared_preload_libraries; not a failure of the gather.
		if errors.As(err, &pgErr) && pgErr.Code == "55000" {
			if !in.stmtsOff.Swap(true) {
				in.logger.Info("pg_stat_statements is installed but not loaded; top statements skipped", "err", pgErr.Message)
			}
			return nil
		}
		return err
	}
	var queryid, user, datname, text string
	var calls, secs, nrows, blkR, blkW float64
	seen := map[string]bool{}
	_, err = pgx.ForEachRow(rows, []any{&queryid, &user, &datname, &calls, &secs, &nrows, &blkR, &blkW, &text}, func() error {
		e.emit(stmtCallsDesc, counter, calls, user, datname, queryid)
		e.emit(stmtSecondsDesc, counter, secs, user, datname, queryid)
		e.emit(stmtRowsDesc, counter, nrows, user, datname, queryid)
		e.emit(stmtBlkReadDesc, counter, blkR, user, datname, queryid)
		e.emit(stmtBlkWriteDesc, counter, blkW, user, datname, queryid)
		if !seen[queryid] {
			seen[queryid] = true
			e.gauge(stmtQueryTextDesc, 1, queryid, normaliseQuery(text, in.cfg.QueryTextLength))
		}
		return nil
	})
	return err
}

// normaliseQuery collapses whitespace and truncates to n runes, marking the
// cut with "…". pg_stat_statements replaces constants by $n, but not in every
// utility statement (CREATE ROLE … PASSWORD 'x' is kept verbatim): string
// literals are masked, and anything after the word PASSWORD is cut.
func normaliseQuery(q string, n int) string {
	q = strings.Join(strings.Fields(q), " ")
	q = quotedRE.ReplaceAllString(q, "'…'")
	if loc := passwordRE.FindStringIndex(q); loc != nil {
		q = q[:loc[1]] + " …"
	}
	if !utf8.ValidString(q) {
		q = strings.ToValidUTF8(q, "?")
	}
	if utf8.RuneCountInString(q) <= n {
		return q
	}
	r := []rune(q)
	return string(r[:n]) + "…"
}

var (
	quotedRE   = regexp.MustCompile(`'(?:[^']|'')*'?`)
	passwordRE = regexp.MustCompile(`(?i)\bpassword\b`)
)

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

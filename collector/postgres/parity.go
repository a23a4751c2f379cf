package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Families of postgres_exporter's default collectors (v0.20.1) that the
// first queries did not cover: database, roles, replication_slots (slot_*),
// stat_archiver, stat_progress_vacuum, stat_replication, the
// pg_stat_database_conflicts default metric map, and the exporter's own
// health series.
var (
	dbConnLimitDesc   = newDesc("pg_database_connection_limit", "Connection limit set for the database.", "datname")
	roleConnLimitDesc = newDesc("pg_roles_connection_limit", "Connection limit set for the role.", "rolname")
	lastReplayDesc    = newDesc("pg_replication_last_replay_seconds", "Age of last replay in seconds (0 on a primary).")

	slotCurrentLSNDesc = newDesc("pg_replication_slots_slot_current_wal_lsn", "Current WAL LSN of the server, as bytes since 0/0.", "slot_name", "slot_type")
	slotFlushLSNDesc   = newDesc("pg_replication_slots_slot_confirmed_flush_lsn", "Last LSN confirmed flushed to the replication slot, as bytes since 0/0.", "slot_name", "slot_type")
	slotIsActiveDesc   = newDesc("pg_replication_slots_slot_is_active", "Whether the replication slot is active (1) or not (0).", "slot_name", "slot_type")
	slotSafeWALDesc    = newDesc("pg_replication_slots_safe_wal_size_bytes", "Bytes that can be written to WAL before this slot is in danger of getting lost.", "slot_name", "slot_type")
	slotWALStatusDesc  = newDesc("pg_replication_slots_wal_status", "Availability of the WAL files claimed by this slot (1 for the current status).", "slot_name", "slot_type", "wal_status")

	replCurrentLSNDesc = newDesc("pg_stat_replication_pg_current_wal_lsn_bytes", "WAL position in bytes.", "application_name", "client_addr", "state", "sync_state")

	archivedDesc       = newDesc("pg_stat_archiver_archived_count", "Number of WAL files that have been successfully archived.")
	archiveFailedDesc  = newDesc("pg_stat_archiver_failed_count", "Number of failed attempts for archiving WAL files.")
	lastArchiveAgeDesc = newDesc("pg_stat_archiver_last_archive_age", "Time in seconds since last WAL segment was successfully archived.")

	vacuumPhaseDesc = newDesc("pg_stat_progress_vacuum_phase", "Current vacuum phase (1 = active, 0 = inactive).", "datname", "relname", "phase")
	vacuumDescs     = []*prometheus.Desc{
		newDesc("pg_stat_progress_vacuum_heap_blks", "Total number of heap blocks in the table being vacuumed.", "datname", "relname"),
		newDesc("pg_stat_progress_vacuum_heap_blks_scanned", "Number of heap blocks scanned so far.", "datname", "relname"),
		newDesc("pg_stat_progress_vacuum_heap_blks_vacuumed", "Number of heap blocks vacuumed so far.", "datname", "relname"),
		newDesc("pg_stat_progress_vacuum_index_vacuums", "Number of completed index vacuum cycles.", "datname", "relname"),
		newDesc("pg_stat_progress_vacuum_max_dead_tuples", "Maximum number of dead tuples that can be stored before cleanup is performed.", "datname", "relname"),
		newDesc("pg_stat_progress_vacuum_num_dead_tuples", "Current number of dead tuples found so far.", "datname", "relname"),
	}

	scrapeDurationDesc = newDesc("pg_exporter_last_scrape_duration_seconds", "Duration of the last scrape of metrics from PostgreSQL.")
	scrapesTotalDesc   = newDesc("pg_exporter_scrapes_total", "Total number of times PostgreSQL was scraped for metrics.")
	scrapeErrorDesc    = newDesc("pg_exporter_last_scrape_error", "Whether the last scrape of metrics from PostgreSQL resulted in an error (1 for error, 0 for success).")
	stepSuccessDesc    = newDesc("pg_scrape_collector_success", "Whether a collector succeeded.", "collector")
	stepDurationDesc   = newDesc("pg_scrape_collector_duration_seconds", "Duration of a collector scrape.", "collector")
)

// vacuumPhases are pg_stat_progress_vacuum's phases by their number (param1).
var vacuumPhases = []string{"initializing", "scanning heap", "vacuuming indexes", "vacuuming heap",
	"cleaning up indexes", "truncating heap", "performing final cleanup"}

var conflictColumns = withDescs([]column{
	{col: "confl_tablespace", help: "Number of queries in this database that have been canceled due to dropped tablespaces.", typ: counter},
	{col: "confl_lock", help: "Number of queries in this database that have been canceled due to lock timeouts.", typ: counter},
	{col: "confl_snapshot", help: "Number of queries in this database that have been canceled due to old snapshots.", typ: counter},
	{col: "confl_bufferpin", help: "Number of queries in this database that have been canceled due to pinned buffers.", typ: counter},
	{col: "confl_deadlock", help: "Number of queries in this database that have been canceled due to deadlocks.", typ: counter},
}, "pg_stat_database_conflicts_", "datid", "datname")

// databases reports pg_database_connection_limit and pg_roles_connection_limit.
func (in *instance) databases(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT 'd', datname::text, datconnlimit::float8 FROM pg_database WHERE `+dbFilterSQL+`
UNION ALL SELECT 'r', rolname::text, rolconnlimit::float8 FROM pg_roles`, in.dbFilter)
	if err != nil {
		return err
	}
	var kind, name string
	var limit float64
	_, err = pgx.ForEachRow(rows, []any{&kind, &name, &limit}, func() error {
		if kind == "d" {
			e.gauge(dbConnLimitDesc, limit, name)
		} else {
			e.gauge(roleConnLimitDesc, limit, name)
		}
		return nil
	})
	return err
}

// conflicts is postgres_exporter's pg_stat_database_conflicts default metric map.
func (in *instance) conflicts(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	list, cols := selectList(conflictColumns, info.versionNum)
	rows, err := in.query(ctx, conn, `SELECT datid::text, datname::text, `+list+`
FROM pg_stat_database_conflicts WHERE datname IS NOT NULL AND `+dbFilterSQL, in.dbFilter)
	if err != nil {
		return err
	}
	return emitRows(rows, cols, e, 2)
}

// emitRows scans rows of nLabels text labels then one float per column.
func emitRows(rows pgx.Rows, cols []column, e *emitter, nLabels int) error {
	defer rows.Close()
	labels := make([]string, nLabels)
	vals := make([]float64, len(cols))
	dest := make([]any, 0, nLabels+len(cols))
	for i := range labels {
		dest = append(dest, &labels[i])
	}
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for i, c := range cols {
			e.emit(c.desc, c.typ, vals[i], labels...)
		}
	}
	return rows.Err()
}

// slots reports postgres_exporter's pg_replication_slots_slot_* families.
func (in *instance) slots(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	lsn := "pg_current_wal_lsn()"
	if info.inRecovery {
		lsn = "pg_last_wal_receive_lsn()"
	}
	rows, err := in.query(ctx, conn, `SELECT slot_name::text, slot_type, COALESCE((`+lsn+` - '0/0')::float8, 0),
  COALESCE((confirmed_flush_lsn - '0/0')::float8, 0), active, safe_wal_size::float8, COALESCE(wal_status, '')
FROM pg_replication_slots`)
	if err != nil {
		return err
	}
	var slot, typ, status string
	var current, flushed float64
	var safe *float64
	var active bool
	_, err = pgx.ForEachRow(rows, []any{&slot, &typ, &current, &flushed, &active, &safe, &status}, func() error {
		e.gauge(slotCurrentLSNDesc, current, slot, typ)
		if active && typ == "logical" {
			e.gauge(slotFlushLSNDesc, flushed, slot, typ)
		}
		e.gauge(slotIsActiveDesc, b2f(active), slot, typ)
		if safe != nil {
			e.gauge(slotSafeWALDesc, *safe, slot, typ)
		}
		if status != "" {
			e.gauge(slotWALStatusDesc, 1, slot, typ, status)
		}
		return nil
	})
	return err
}

// archiver reports pg_stat_archiver.
func (in *instance) archiver(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	in.queries.Add(1)
	var archived, failed float64
	var age *float64
	err := conn.QueryRow(ctx, `SELECT archived_count::float8, failed_count::float8,
  extract(epoch from now() - last_archived_time)::float8 FROM pg_stat_archiver`).Scan(&archived, &failed, &age)
	if err != nil {
		return err
	}
	e.emit(archivedDesc, counter, archived)
	e.emit(archiveFailedDesc, counter, failed)
	if age != nil {
		e.gauge(lastArchiveAgeDesc, *age)
	}
	return nil
}

// progressVacuum reports the vacuums running now, as postgres_exporter's stat_progress_vacuum.
func (in *instance) progressVacuum(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT COALESCE(d.datname::text, ''),
  COALESCE(CASE WHEN d.datname = current_database() THEN s.relid::regclass::text END, s.relid::text),
  s.param1::float8, s.param2::float8, s.param3::float8, s.param4::float8, s.param5::float8, s.param6::float8, s.param7::float8
FROM pg_stat_get_progress_info('VACUUM') AS s LEFT JOIN pg_database d ON d.oid = s.datid`)
	if err != nil {
		return err
	}
	var datname, relname string
	var v [7]float64
	_, err = pgx.ForEachRow(rows, []any{&datname, &relname, &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6]}, func() error {
		for i, p := range vacuumPhases {
			e.gauge(vacuumPhaseDesc, b2f(float64(i) == v[0]), datname, relname, p)
		}
		for i, d := range vacuumDescs {
			e.gauge(d, v[i+1], datname, relname)
		}
		return nil
	})
	return err
}

// settingName is the metric name postgres_exporter gives a pg_settings row.
func settingName(name, suffix string) string {
	return "pg_settings_" + strings.NewReplacer(".", "_", "-", "_").Replace(name) + suffix
}

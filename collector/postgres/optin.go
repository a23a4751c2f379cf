package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Opt-in collectors (InstanceConfig.Collectors), with postgres_exporter's
// names. postmaster is accepted for compatibility: vigie always reports
// pg_postmaster_start_time_seconds.
var (
	longTxCountDesc  = newDesc("pg_long_running_transactions", "Current number of long running transactions.")
	longTxOldestDesc = newDesc("pg_long_running_transactions_oldest_timestamp_seconds", "The current maximum transaction age in seconds.")
	frozenXIDDesc    = newDesc("pg_database_wraparound_age_datfrozenxid_seconds", "Age of the oldest transaction ID that has not been frozen.", "datname")
	minMXIDDesc      = newDesc("pg_database_wraparound_age_datminmxid_seconds", "Age of the oldest multi-transaction ID that has been replaced with a transaction ID.", "datname")
	autovacuumDesc   = newDesc("pg_stat_activity_autovacuum_timestamp_seconds", "Start timestamp of the vacuum process in seconds.", "relname")

	bloatRealDesc  = newDesc("pg_bloat_table_real_size_bytes", "Size of the table's heap and TOAST pages, in bytes (bloat estimate).", tableLabels...)
	bloatBytesDesc = newDesc("pg_bloat_table_bloat_bytes", "Estimated bytes of the table beyond what its rows need at its fillfactor.", tableLabels...)
	bloatRatioDesc = newDesc("pg_bloat_table_bloat_ratio", "Estimated share of the table that is bloat, 0 to 1.", tableLabels...)

	indexLabels         = append(append([]string{}, tableLabels...), "indexrelname")
	indexBloatRealDesc  = newDesc("pg_bloat_index_real_size_bytes", "Size of the btree index, in bytes (bloat estimate).", indexLabels...)
	indexBloatBytesDesc = newDesc("pg_bloat_index_bloat_bytes", "Estimated bytes of the btree index beyond what its entries need at its fillfactor.", indexLabels...)
	indexBloatRatioDesc = newDesc("pg_bloat_index_bloat_ratio", "Estimated share of the btree index that is bloat, 0 to 1.", indexLabels...)
)

// checkpointerColumns are postgres_exporter's stat_checkpointer (PostgreSQL 17 and later).
var checkpointerColumns = withDescs([]column{
	{col: "num_timed", name: "num_timed_total", help: "Number of scheduled checkpoints due to timeout.", typ: counter},
	{col: "num_requested", name: "num_requested_total", help: "Number of requested checkpoints that have been performed.", typ: counter},
	{col: "restartpoints_timed", name: "restartpoints_timed_total", help: "Number of scheduled restartpoints due to timeout or after a failed attempt to perform it.", typ: counter},
	{col: "restartpoints_req", name: "restartpoints_req_total", help: "Number of requested restartpoints.", typ: counter},
	{col: "restartpoints_done", name: "restartpoints_done_total", help: "Number of restartpoints that have been performed.", typ: counter},
	{col: "write_time", name: "write_time_total", help: "Time spent writing files to disk during checkpoints and restartpoints, in milliseconds.", typ: counter},
	{col: "sync_time", name: "sync_time_total", help: "Time spent synchronizing files to disk during checkpoints and restartpoints, in milliseconds.", typ: counter},
	{col: "buffers_written", name: "buffers_written_total", help: "Number of buffers written during checkpoints and restartpoints.", typ: counter},
	{col: "extract(epoch from stats_reset)", name: "stats_reset_total", help: "Time at which these statistics were last reset, as Unix time.", typ: counter},
}, "pg_stat_checkpointer_")

func (in *instance) longRunning(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	in.queries.Add(1)
	var n, oldest float64
	err := conn.QueryRow(ctx, `SELECT count(*)::float8, COALESCE(max(extract(epoch from clock_timestamp() - xact_start)), 0)::float8
FROM pg_stat_activity WHERE state IS DISTINCT FROM 'idle' AND query NOT LIKE 'autovacuum:%'
AND xact_start IS NOT NULL AND pid <> pg_backend_pid()`).Scan(&n, &oldest)
	if err != nil {
		return err
	}
	e.gauge(longTxCountDesc, n)
	e.gauge(longTxOldestDesc, oldest)
	return nil
}

func (in *instance) wraparound(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT datname::text, age(datfrozenxid)::float8, mxid_age(datminmxid)::float8
FROM pg_database WHERE datallowconn AND `+dbFilterSQL, in.dbFilter)
	if err != nil {
		return err
	}
	var datname string
	var xid, mxid float64
	_, err = pgx.ForEachRow(rows, []any{&datname, &xid, &mxid}, func() error {
		e.gauge(frozenXIDDesc, xid, datname)
		e.gauge(minMXIDDesc, mxid, datname)
		return nil
	})
	return err
}

func (in *instance) autovacuum(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	rows, err := in.query(ctx, conn, `SELECT split_part(query, '.', 2), extract(epoch from xact_start)::float8
FROM pg_stat_activity WHERE query LIKE 'autovacuum:%' AND xact_start IS NOT NULL`)
	if err != nil {
		return err
	}
	var relname string
	var start float64
	_, err = pgx.ForEachRow(rows, []any{&relname, &start}, func() error {
		e.gauge(autovacuumDesc, start, relname)
		return nil
	})
	return err
}

func (in *instance) checkpointer(ctx context.Context, conn *pgx.Conn, e *emitter, info serverInfo) error {
	if info.versionNum < 170000 {
		return nil
	}
	list, cols := selectList(checkpointerColumns, info.versionNum)
	return in.singleRow(ctx, conn, e, "SELECT "+list+" FROM pg_stat_checkpointer", cols)
}

// bloat estimates table bloat for the tables picked by max_tables and the
// table filter, with the community's statistics-based estimate (ioguix's
// table_bloat query, as used by the pgexperts/check_postgres bloat panels).
// It reads pg_stats, so it needs analysed tables whose columns the role can
// read (pg_read_all_data, PostgreSQL 14+, or SELECT on them): a table
// without statistics on every column gets no estimate. It scans no table.
func (in *instance) bloat(ctx context.Context, conn *pgx.Conn, e *emitter, _ serverInfo) error {
	if len(in.pickedTables) == 0 {
		return nil
	}
	rows, err := in.query(ctx, conn, tableBloatSQL, in.pickedTables)
	if err != nil {
		return err
	}
	var datname, schema, rel, idx string
	var real, extra, ratio float64
	_, err = pgx.ForEachRow(rows, []any{&datname, &schema, &rel, &real, &extra, &ratio}, func() error {
		e.gauge(bloatRealDesc, real, datname, schema, rel)
		e.gauge(bloatBytesDesc, extra, datname, schema, rel)
		e.gauge(bloatRatioDesc, ratio, datname, schema, rel)
		return nil
	})
	if err != nil {
		return err
	}
	rows, err = in.query(ctx, conn, indexBloatSQL, in.pickedTables)
	if err != nil {
		return err
	}
	_, err = pgx.ForEachRow(rows, []any{&datname, &schema, &rel, &idx, &real, &extra, &ratio}, func() error {
		e.gauge(indexBloatRealDesc, real, datname, schema, rel, idx)
		e.gauge(indexBloatBytesDesc, extra, datname, schema, rel, idx)
		e.gauge(indexBloatRatioDesc, ratio, datname, schema, rel, idx)
		return nil
	})
	return err
}

const tableBloatSQL = `SELECT current_database()::text, schemaname::text, tblname::text,
  (bs * tblpages)::float8 AS real_size,
  (CASE WHEN tblpages - est_tblpages_ff > 0 THEN (tblpages - est_tblpages_ff) * bs ELSE 0 END)::float8 AS bloat_size,
  (CASE WHEN tblpages > 0 AND tblpages - est_tblpages_ff > 0 THEN (tblpages - est_tblpages_ff) / tblpages::float8 ELSE 0 END)::float8 AS bloat_ratio
FROM (
  SELECT ceil(reltuples / ((bs - page_hdr) * fillfactor / (tpl_size * 100))) + ceil(toasttuples / 4) AS est_tblpages_ff,
    tblpages, bs, schemaname, tblname
  FROM (
    SELECT (4 + tpl_hdr_size + tpl_data_size + (2 * ma)
        - CASE WHEN tpl_hdr_size % ma = 0 THEN ma ELSE tpl_hdr_size % ma END
        - CASE WHEN ceil(tpl_data_size)::int % ma = 0 THEN ma ELSE ceil(tpl_data_size)::int % ma END
      ) AS tpl_size,
      (heappages + toastpages) AS tblpages, reltuples, toasttuples, bs, page_hdr, schemaname, tblname, fillfactor
    FROM (
      SELECT tbl.oid AS tblid, ns.nspname AS schemaname, tbl.relname AS tblname, tbl.reltuples,
        tbl.relpages AS heappages, COALESCE(toast.relpages, 0) AS toastpages,
        COALESCE(toast.reltuples, 0) AS toasttuples,
        COALESCE(substring(array_to_string(tbl.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::smallint, 100) AS fillfactor,
        current_setting('block_size')::numeric AS bs,
        8 AS ma, 24 AS page_hdr,
        23 + CASE WHEN max(COALESCE(s.null_frac, 0)) > 0 THEN (7 + count(s.attname)) / 8 ELSE 0::int END AS tpl_hdr_size,
        sum((1 - COALESCE(s.null_frac, 0)) * COALESCE(s.avg_width, 0)) AS tpl_data_size
      FROM pg_attribute AS att
        JOIN pg_class AS tbl ON att.attrelid = tbl.oid
        JOIN pg_namespace AS ns ON ns.oid = tbl.relnamespace
        LEFT JOIN pg_stats AS s ON s.schemaname = ns.nspname AND s.tablename = tbl.relname
          AND s.inherited = false AND s.attname = att.attname
        LEFT JOIN pg_class AS toast ON tbl.reltoastrelid = toast.oid
      WHERE NOT att.attisdropped AND att.attnum > 0 AND tbl.relkind IN ('r', 'm')
        AND tbl.oid = ANY($1::int8[]::oid[])
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9
      -- Without statistics on every column (never analysed, or not readable by this role) no estimate.
      HAVING count(s.attname) = count(*)
    ) AS s
  ) AS s2
) AS s3`

// indexBloatSQL is the community's btree bloat estimate (ioguix's
// btree_bloat query): the pages an index's entries need at its fillfactor,
// from pg_stats average widths and null fractions, against relpages; for
// the btree indexes of the picked tables. Expression indexes take their
// statistics from the index itself.
const indexBloatSQL = `SELECT current_database()::text, nspname::text, tblname::text, idxname::text,
  (bs * relpages)::float8 AS real_size,
  (CASE WHEN relpages > est_pages_ff THEN bs * (relpages - est_pages_ff) ELSE 0 END)::float8 AS bloat_size,
  (CASE WHEN relpages > est_pages_ff THEN (relpages - est_pages_ff) / relpages::float8 ELSE 0 END)::float8 AS bloat_ratio
FROM (
  SELECT COALESCE(1 + ceil(reltuples / floor((bs - pageopqdata - pagehdr) * fillfactor / (100 * (4 + nulldatahdrwidth)::float8))), 0) AS est_pages_ff,
    bs, nspname, tblname, idxname, relpages
  FROM (
    SELECT bs, nspname, tblname, idxname, reltuples, relpages, fillfactor, pagehdr, pageopqdata,
      (index_tuple_hdr_bm + maxalign - CASE WHEN index_tuple_hdr_bm % maxalign = 0 THEN maxalign ELSE index_tuple_hdr_bm % maxalign END
        + nulldatawidth + maxalign - CASE WHEN nulldatawidth = 0 THEN 0
          WHEN nulldatawidth::integer % maxalign = 0 THEN maxalign ELSE nulldatawidth::integer % maxalign END
      )::numeric AS nulldatahdrwidth
    FROM (
      SELECT n.nspname, i.tblname, i.idxname, i.reltuples, i.relpages, i.fillfactor,
        current_setting('block_size')::numeric AS bs, 8 AS maxalign, 24 AS pagehdr, 16 AS pageopqdata,
        CASE WHEN max(COALESCE(s.null_frac, 0)) = 0 THEN 8 ELSE 8 + ((32 + 8 - 1) / 8) END AS index_tuple_hdr_bm,
        sum((1 - COALESCE(s.null_frac, 0)) * COALESCE(s.avg_width, 1024)) AS nulldatawidth
      FROM (
        SELECT ct.relname AS tblname, ct.relnamespace, ic.idxname, ic.reltuples, ic.relpages, ic.fillfactor,
          COALESCE(a1.attname, a2.attname) AS attname,
          CASE WHEN a1.attnum IS NULL THEN ic.idxname ELSE ct.relname END AS attrelname
        FROM (
          SELECT ci.relname AS idxname, ci.reltuples, ci.relpages, x.indrelid AS tbloid, x.indexrelid AS idxoid,
            COALESCE(substring(array_to_string(ci.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::smallint, 90) AS fillfactor,
            string_to_array(textin(int2vectorout(x.indkey)), ' ')::int[] AS indkey,
            generate_series(1, x.indnatts) AS attpos
          FROM pg_index x JOIN pg_class ci ON ci.oid = x.indexrelid
          WHERE ci.relam = (SELECT oid FROM pg_am WHERE amname = 'btree') AND ci.relpages > 0
            AND x.indrelid = ANY($1::int8[]::oid[])
        ) AS ic
        JOIN pg_class ct ON ct.oid = ic.tbloid
        LEFT JOIN pg_attribute a1 ON ic.indkey[ic.attpos] <> 0 AND a1.attrelid = ic.tbloid AND a1.attnum = ic.indkey[ic.attpos]
        LEFT JOIN pg_attribute a2 ON ic.indkey[ic.attpos] = 0 AND a2.attrelid = ic.idxoid AND a2.attnum = ic.attpos
      ) AS i
      JOIN pg_namespace n ON n.oid = i.relnamespace
      JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = i.attrelname AND s.attname = i.attname
      GROUP BY 1, 2, 3, 4, 5, 6
    ) AS rows_data_stats
  ) AS rows_hdr_pdg_stats
) AS relation_stats`

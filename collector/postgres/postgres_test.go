package postgres

import (
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/pgtest"
)

// Traffic made by the test shows in the counters; per-database series are
// limited to `databases`; pg_stat_statements reports the test's statement.
func TestTrafficShowsInCounters(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{SharedPreloadLibraries: []string{"pg_stat_statements"}})
	ctx := ctxT(t)
	pg.MustExec(`CREATE DATABASE app`)
	pg.MustExec(`CREATE DATABASE other`)
	if err := pg.ExecDB("app", `CREATE EXTENSION pg_stat_statements; CREATE TABLE traffic_t (id int PRIMARY KEY, v text)`); err != nil {
		t.Fatal(err)
	}
	monitorRole(t, pg, "vigie", "monitor-pw")
	h := newHarness(t, InstanceConfig{Name: "db1", DSN: config.Secret(pg.DSN("vigie", "monitor-pw", "app")), Databases: []string{"app", "postgres"}})

	before := h.gather()
	if v := before.must(t, "vigie_collector_success", "collector", "postgres"); v != 1 {
		t.Fatalf("collector failed; log:\n%s", h.log)
	}
	base := func(name string) float64 {
		return before.must(t, name, "instance", "db1", "datid", datid(t, pg, "app"), "datname", "app")
	}
	commits0, rollbacks0 := base("pg_stat_database_xact_commit"), base("pg_stat_database_xact_rollback")
	ins0, upd0, del0 := base("pg_stat_database_tup_inserted"), base("pg_stat_database_tup_updated"), base("pg_stat_database_tup_deleted")

	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if _, err := conn.Exec(ctx, `INSERT INTO traffic_t SELECT g, 'x' FROM generate_series($1::int, $1::int + 9) g`, i*10); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO traffic_t VALUES (1000, 'rolled back')`); err != nil {
			t.Fatal(err)
		}
		tx.Rollback(ctx)
	}
	if _, err := conn.Exec(ctx, `UPDATE traffic_t SET v = 'y' WHERE id < 10`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM traffic_t WHERE id >= 45`); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx) // a backend flushes its statistics when it exits

	d := func(s samples, name string) float64 {
		return s.must(t, name, "instance", "db1", "datid", datid(t, pg, "app"), "datname", "app")
	}
	after := h.waitFor(20*time.Second, "traffic in pg_stat_database", func(s samples) bool {
		return d(s, "pg_stat_database_xact_commit")-commits0 >= 5 && d(s, "pg_stat_database_xact_rollback")-rollbacks0 >= 3 &&
			d(s, "pg_stat_database_tup_deleted")-del0 >= 5
	})
	if got := d(after, "pg_stat_database_tup_inserted") - ins0; got < 50 {
		t.Errorf("tup_inserted grew by %v, want >= 50", got)
	}
	if got := d(after, "pg_stat_database_tup_updated") - upd0; got < 10 {
		t.Errorf("tup_updated grew by %v, want >= 10", got)
	}
	if d(after, "pg_stat_database_blks_hit") <= 0 {
		t.Error("pg_stat_database_blks_hit is 0")
	}
	if v := after.must(t, "pg_database_size_bytes", "instance", "db1", "datname", "app"); v < 1e6 {
		t.Errorf("pg_database_size_bytes{app} = %v", v)
	}
	if _, ok := after.get("pg_database_size_bytes", "instance", "db1", "datname", "other"); ok {
		t.Error("database other reported although databases limits to app, postgres")
	}
	if _, ok := after.get("pg_stat_activity_count", "instance", "db1", "datname", "other", "state", "idle"); ok {
		t.Error("pg_stat_activity_count reported for database other")
	}

	// pg_stat_statements: the INSERT is there, normalised, with its calls.
	var found bool
	for k, v := range after {
		if strings.HasPrefix(k, "pg_stat_statements_query_id{") && strings.Contains(k, `INSERT INTO traffic_t SELECT g, $2 FROM generate_series(`) && v == 1 {
			found = true
			qid := k[strings.Index(k, `queryid="`)+9:]
			qid = qid[:strings.IndexByte(qid, '"')]
			calls := after.must(t, "pg_stat_statements_calls_total", "instance", "db1", "user", "postgres", "datname", "app", "queryid", qid)
			if calls != 5 {
				t.Errorf("pg_stat_statements_calls_total of the INSERT = %v, want 5", calls)
			}
		}
	}
	if !found {
		t.Errorf("INSERT INTO traffic_t not among the top statements:\n%s", after.names("pg_stat_statements_query_id"))
	}
}

func datid(t testing.TB, pg *pgtest.Cluster, db string) string {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var oid string
	if err := conn.QueryRow(ctx, `SELECT oid::text FROM pg_database WHERE datname = $1`, db).Scan(&oid); err != nil {
		t.Fatal(err)
	}
	return oid
}

// A deadlock between two transactions increments pg_stat_database_deadlocks.
func TestDeadlockCounted(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	ctx := ctxT(t)
	pg.MustExec(`CREATE TABLE dl (id int PRIMARY KEY, v int); INSERT INTO dl VALUES (1, 0), (2, 0)`)
	h := newHarness(t, InstanceConfig{Name: "db1", DSN: config.Secret(pg.SuperuserDSN("postgres"))})
	deadlocks := func(s samples) float64 {
		return s.must(t, "pg_stat_database_deadlocks", "instance", "db1", "datid", datid(t, pg, "postgres"), "datname", "postgres")
	}
	before := deadlocks(h.gather())

	var txs [2]pgx.Tx
	var conns [2]*pgx.Conn
	for i := range txs {
		conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close(ctx) })
		conns[i] = conn
		if txs[i], err = conn.Begin(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := txs[i].Exec(ctx, `UPDATE dl SET v = v + 1 WHERE id = $1`, i+1); err != nil {
			t.Fatal(err)
		}
	}
	// Each now wants the other's row: one of them is chosen as the victim.
	errs := make(chan error, 2)
	for i := range txs {
		go func() {
			_, err := txs[i].Exec(ctx, `UPDATE dl SET v = v + 1 WHERE id = $1`, 2-i)
			if err != nil {
				txs[i].Rollback(ctx)
			} else {
				err = txs[i].Commit(ctx)
			}
			errs <- err
		}()
	}
	var victims int
	for range 2 {
		var pgErr *pgconn.PgError
		if err := <-errs; errors.As(err, &pgErr) && pgErr.Code == "40P01" {
			victims++
		} else if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
	}
	if victims != 1 {
		t.Fatalf("%d deadlock victims, want 1", victims)
	}
	for _, c := range conns {
		c.Close(ctx) // an exiting backend flushes its statistics at once
	}
	h.waitFor(20*time.Second, "pg_stat_database_deadlocks to grow", func(s samples) bool { return deadlocks(s) >= before+1 })
}

// Connections held until the server refuses: pg_stat_activity_count shows
// them, and vigie's own reconnection refused is counted as too_many_connections.
func TestTooManyConnections(t *testing.T) {
	const maxConn = 5
	pg := pgtest.Start(t, pgtest.Options{MaxConnections: maxConn})
	ctx := ctxT(t)
	pg.MustExec(`CREATE DATABASE app`)
	monitorRole(t, pg, "vigie", "monitor-pw")
	h := newHarness(t, InstanceConfig{Name: "db1", DSN: config.Secret(pg.DSN("vigie", "monitor-pw", "postgres"))})
	s := h.gather()
	if s.must(t, "pg_up", "instance", "db1") != 1 {
		t.Fatalf("pg_up 0; log:\n%s", h.log)
	}
	if v := s.must(t, "pg_settings_max_connections", "instance", "db1"); v != maxConn {
		t.Fatalf("pg_settings_max_connections = %v", v)
	}

	var held []*pgx.Conn
	t.Cleanup(func() {
		for _, c := range held {
			c.Close(ctx)
		}
	})
	fill := func() {
		t.Helper()
		for {
			conn, err := pgx.Connect(ctx, pg.SuperuserDSN("app"))
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "53300" {
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			held = append(held, conn)
			if len(held) > maxConn {
				t.Fatal("server accepts more than max_connections")
			}
		}
	}
	fill()
	if len(held) != maxConn-1 {
		t.Fatalf("held %d connections besides vigie's, want %d", len(held), maxConn-1)
	}
	s = h.gather()
	if v := s.must(t, "pg_stat_activity_count", "instance", "db1", "datname", "app", "state", "idle"); v != float64(len(held)) {
		t.Errorf("pg_stat_activity_count{datname=app,state=idle} = %v, want %d", v, len(held))
	}
	if v := s.must(t, "pg_stat_activity_count", "instance", "db1", "datname", "postgres", "state", "active"); v != 1 {
		t.Errorf("pg_stat_activity_count{datname=postgres,state=active} = %v, want 1 (vigie itself)", v)
	}

	// Drop vigie's connection, wait until its backend has exited, and take the freed slot.
	var pid int
	if err := held[0].QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'vigie'`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := held[0].Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); syscall.Kill(pid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("backend %d still running", pid)
		}
	}
	fill()

	s = h.gather()
	if v := s.must(t, "pg_up", "instance", "db1"); v != 0 {
		t.Errorf("pg_up = %v with every slot taken", v)
	}
	if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 0 {
		t.Errorf("vigie_collector_success = %v", v)
	}
	if v := s.must(t, "vigie_postgres_connection_errors_total", "instance", "db1", "reason", "too_many_connections"); v < 1 {
		t.Errorf("too_many_connections = %v, want >= 1; log:\n%s", v, h.log)
	}
	if !strings.Contains(h.log.String(), "reason=too_many_connections") {
		t.Errorf("no log line with the reason:\n%s", h.log)
	}

	for _, c := range held {
		c.Close(ctx)
	}
	held = nil
	h.waitFor(20*time.Second, "pg_up 1 once connections are released", func(s samples) bool { return s.must(t, "pg_up", "instance", "db1") == 1 })
}

// A wrong password is counted as auth_failed and appears in no log line or error.
func TestWrongPassword(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	monitorRole(t, pg, "vigie", "right-password")
	const wrong = "Wr0ng-S3cret-Pw"
	h := newHarness(t,
		InstanceConfig{Name: "url", DSN: config.Secret(pg.DSN("vigie", wrong, "postgres"))},
		InstanceConfig{Name: "kv", DSN: config.Secret(fmt.Sprintf("host=127.0.0.1 port=%d user=vigie password=%s dbname=postgres sslmode=disable", pg.Port, wrong))},
	)
	// The reconnection backoff runs on an injected clock: the test moves
	// it past the backoff instead of sleeping.
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	h.c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	var updateErr error
	for range 2 {
		s := h.gather()
		for _, inst := range []string{"url", "kv"} {
			if v := s.must(t, "pg_up", "instance", inst); v != 0 {
				t.Errorf("pg_up{%s} = %v", inst, v)
			}
		}
		if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 0 {
			t.Errorf("vigie_collector_success = %v", v)
		}
		clock.Add(int64(h.c.maxBackoff + time.Millisecond)) // past the backoff: attempt again
		updateErr = h.c.Update(ctxT(t), make(chan prometheus.Metric, 1000))
	}
	s := h.gather()
	for _, inst := range []string{"url", "kv"} {
		if v := s.must(t, "vigie_postgres_connection_errors_total", "instance", inst, "reason", "auth_failed"); v < 2 {
			t.Errorf("auth_failed{%s} = %v, want >= 2", inst, v)
		}
		if v := s.must(t, "vigie_postgres_connection_errors_total", "instance", inst, "reason", "network"); v != 0 {
			t.Errorf("network{%s} = %v, want 0", inst, v)
		}
	}
	log := h.log.String()
	if !strings.Contains(log, "instance=url") || !strings.Contains(log, "reason=auth_failed") {
		t.Errorf("log does not name the instance and reason:\n%s", log)
	}
	if updateErr == nil {
		t.Fatal("Update succeeded with a wrong password")
	}
	for _, text := range []string{log, updateErr.Error()} {
		if strings.Contains(text, wrong) {
			t.Errorf("password leaked:\n%s", text)
		}
	}

	// A DSN that does not parse is refused by New, also without the password.
	_, err := New(Config{{Name: "bad", DSN: config.Secret("postgres://vigie:" + wrong + "@127.0.0.1:notaport/db")}}, nil)
	if err == nil || strings.Contains(err.Error(), wrong) {
		t.Errorf("New with a bad DSN: %v", err)
	}
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != "[0].dsn" {
		t.Errorf("New with a bad DSN: want a FieldError at [0].dsn, got %#v", err)
	}
}

// The server stopped: pg_up 0; started again: pg_up 1, same Collector.
func TestServerRestart(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	h := newHarness(t, InstanceConfig{Name: "db1", DSN: config.Secret(pg.SuperuserDSN("postgres"))})
	if v := h.gather().must(t, "pg_up", "instance", "db1"); v != 1 {
		t.Fatalf("pg_up = %v; log:\n%s", v, h.log)
	}
	pg.Stop()
	s := h.gather()
	if v := s.must(t, "pg_up", "instance", "db1"); v != 0 {
		t.Fatalf("pg_up = %v with the server stopped", v)
	}
	if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 0 {
		t.Errorf("vigie_collector_success = %v", v)
	}
	if v := s.must(t, "vigie_postgres_connection_errors_total", "instance", "db1", "reason", "network"); v < 1 {
		t.Errorf("network errors = %v; log:\n%s", v, h.log)
	}
	if !strings.Contains(h.log.String(), `msg="postgres connection failed" collector=postgres instance=db1`) {
		t.Errorf("no clear log line:\n%s", h.log)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	h.waitFor(20*time.Second, "pg_up 1 after restart", func(s samples) bool {
		return s.must(t, "pg_up", "instance", "db1") == 1 && s.must(t, "vigie_collector_success", "collector", "postgres") == 1
	})
	if !strings.Contains(h.log.String(), "postgres connection restored") {
		t.Errorf("recovery not logged:\n%s", h.log)
	}
}

// A role granted only pg_monitor collects every family, with no error.
func TestPgMonitorRoleCollectsEverything(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{SharedPreloadLibraries: []string{"pg_stat_statements"}})
	ctx := ctxT(t)
	pg.MustExec(`CREATE EXTENSION pg_stat_statements`)
	pg.MustExec(`SELECT pg_create_physical_replication_slot('standby1', true)`)
	monitorRole(t, pg, "vigie", "monitor-pw")

	// A transaction left open, as a forgotten BEGIN in an application would.
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `BEGIN; SELECT txid_current()`); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, InstanceConfig{Name: "db1", DSN: config.Secret(pg.DSN("vigie", "monitor-pw", "postgres"))})
	// The transaction's age is measured by the server's clock: wait until
	// the server itself sees it open for over a second.
	probe, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close(ctx)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var age float64
		if err := probe.QueryRow(ctx, `SELECT COALESCE(MAX(EXTRACT(EPOCH FROM clock_timestamp() - xact_start)), 0)::float8
			FROM pg_stat_activity WHERE state = 'idle in transaction'`).Scan(&age); err != nil {
			t.Fatal(err)
		}
		if age > 1.05 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the open transaction is %.2fs old after 10s", age)
		}
	}
	probe.Close(ctx)
	s := h.gather()
	if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 1 {
		t.Fatalf("collector failed as pg_monitor; log:\n%s", h.log)
	}
	if strings.Contains(h.log.String(), "level=WARN") || strings.Contains(h.log.String(), "level=ERROR") {
		t.Errorf("warnings as pg_monitor:\n%s", h.log)
	}
	fams := s.families()
	for _, name := range []string{
		"pg_up", "pg_static", "pg_postmaster_start_time_seconds", "pg_settings_max_connections",
		"pg_settings_shared_buffers_bytes", "pg_stat_activity_count", "pg_stat_activity_max_tx_duration",
		"pg_stat_database_numbackends", "pg_stat_database_xact_commit", "pg_stat_database_blks_hit",
		"pg_stat_database_deadlocks", "pg_stat_database_temp_bytes", "pg_stat_database_conflicts",
		"pg_stat_database_sessions", "pg_stat_database_sessions_abandoned", "pg_stat_database_sessions_fatal",
		"pg_stat_database_sessions_killed", "pg_database_size_bytes", "pg_locks_count",
		"pg_replication_lag_seconds", "pg_replication_is_replica", "pg_replication_slots_pg_wal_lsn_diff",
		"pg_stat_bgwriter_checkpoints_timed_total", "pg_stat_bgwriter_buffers_alloc_total",
		"pg_wal_segments", "pg_wal_size_bytes", "pg_stat_wal_bytes_total",
		"pg_stat_statements_calls_total", "pg_stat_statements_seconds_total", "pg_stat_statements_query_id",
		"vigie_postgres_connection_errors_total",
	} {
		if !fams[name] {
			t.Errorf("family %s missing", name)
		}
	}
	if v := s.must(t, "pg_stat_activity_max_tx_duration", "instance", "db1", "datname", "postgres", "state", "idle in transaction"); v < 1 {
		t.Errorf("max_tx_duration{idle in transaction} = %v, want >= 1s", v)
	}
	if v := s.must(t, "pg_stat_activity_count", "instance", "db1", "datname", "postgres", "state", "idle in transaction"); v != 1 {
		t.Errorf("pg_stat_activity_count{idle in transaction} = %v, want 1", v)
	}
	if v := s.must(t, "pg_replication_slots_active", "instance", "db1", "slot_name", "standby1", "slot_type", "physical", "database", ""); v != 0 {
		t.Errorf("slot active = %v", v)
	}
	if v := s.must(t, "pg_locks_count", "instance", "db1", "datname", "postgres", "mode", "accesssharelock"); v < 1 {
		t.Errorf("pg_locks_count{accesssharelock} = %v, want >= 1 (vigie's own query)", v)
	}
	// Every pg_* series carries the instance label.
	for k := range s {
		if strings.HasPrefix(k, "pg_") && !strings.Contains(k, `instance="db1"`) {
			t.Errorf("series without instance: %s", k)
		}
	}
	if n := h.c.instances[0].queries.Load(); n == 0 || n > 20 {
		t.Errorf("%d queries for one gather", n)
	}
}

// On a primary: per-standby lag from pg_stat_replication; on the standby:
// pg_replication_is_replica 1 and pg_replication_lag_seconds, no error.
func TestReplication(t *testing.T) {
	primary := pgtest.Start(t, pgtest.Options{})
	monitorRole(t, primary, "vigie", "monitor-pw")
	standby := pgtest.StartStandby(t, primary)
	h := newHarness(t,
		InstanceConfig{Name: "primary", DSN: config.Secret(primary.DSN("vigie", "monitor-pw", "postgres"))},
		InstanceConfig{Name: "standby", DSN: config.Secret(standby.DSN("vigie", "monitor-pw", "postgres"))},
	)
	primary.MustExec(`CREATE TABLE r AS SELECT g FROM generate_series(1, 1000) g`)
	s := h.waitFor(20*time.Second, "the standby streaming", func(s samples) bool {
		v, ok := s.get("pg_stat_replication_pg_wal_lsn_diff", "instance", "primary", "application_name", "walreceiver",
			"client_addr", "127.0.0.1", "state", "streaming", "sync_state", "async")
		return ok && v >= 0 && s["pg_up{instance=\"standby\"}"] == 1
	})
	if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 1 {
		t.Fatalf("collector failed; log:\n%s", h.log)
	}
	if v := s.must(t, "pg_replication_is_replica", "instance", "standby"); v != 1 {
		t.Errorf("standby: pg_replication_is_replica = %v", v)
	}
	if v := s.must(t, "pg_replication_is_replica", "instance", "primary"); v != 0 {
		t.Errorf("primary: pg_replication_is_replica = %v", v)
	}
	if v := s.must(t, "pg_replication_lag_seconds", "instance", "standby"); v < 0 || v > 60 {
		t.Errorf("standby: pg_replication_lag_seconds = %v", v)
	}
	s.must(t, "pg_stat_replication_replay_lag_seconds", "instance", "primary", "application_name", "walreceiver",
		"client_addr", "127.0.0.1", "state", "streaming", "sync_state", "async")
	if v := s.must(t, "pg_stat_replication_pg_current_wal_lsn_bytes", "instance", "primary", "application_name", "walreceiver",
		"client_addr", "127.0.0.1", "state", "streaming", "sync_state", "async"); v <= 0 {
		t.Errorf("primary: pg_current_wal_lsn_bytes = %v", v)
	}
	if v := s.must(t, "pg_replication_last_replay_seconds", "instance", "standby"); v < 0 {
		t.Errorf("standby: pg_replication_last_replay_seconds = %v", v)
	}
}

package postgres

import (
	"flag"
	"github.com/vigie-dev/vigie/internal/promtooltest"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/pgtest"
)

var update = flag.Bool("update", false, "rewrite the golden family lists in testdata")

// family is one line of a golden list: name, type and sorted label names.
type family struct{ name, typ, labels string }

func (f family) String() string { return f.name + " " + f.typ + " " + f.labels }

// familiesOf lists the families of one gather (pg_settings_* but one left
// out: they are checked against pg_settings itself).
func familiesOf(t *testing.T, reg *prometheus.Registry, skip func(string) bool) map[string]family {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]family{}
	for _, mf := range mfs {
		if skip(mf.GetName()) {
			continue
		}
		var labels []string
		for _, lp := range mf.GetMetric()[0].GetLabel() {
			labels = append(labels, lp.GetName())
		}
		sort.Strings(labels)
		out[mf.GetName()] = family{mf.GetName(), strings.ToLower(dto.MetricType_name[int32(mf.GetType())]), strings.Join(labels, ",")}
	}
	return out
}

// compareGolden fails on a family of the golden file that is missing or
// changed type or labels, and on a new family not in the file, unless
// optional says it comes and goes. -update rewrites the file.
func compareGolden(t *testing.T, path string, got map[string]family, optional func(string) bool) {
	t.Helper()
	if *update {
		var lines []string
		for _, f := range got {
			lines = append(lines, f.String())
		}
		sort.Strings(lines)
		if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		exp := family{f[0], f[1], ""}
		if len(f) > 2 {
			exp.labels = f[2]
		}
		want[exp.name] = true
		g, ok := got[exp.name]
		switch {
		case !ok:
			t.Errorf("family missing: %s", exp)
		case g != exp:
			t.Errorf("family changed:\n  want %s\n  got  %s", exp, g)
		}
	}
	for name, f := range got {
		if !want[name] && !optional(name) {
			t.Errorf("family not in %s (run go test -update after checking it): %s", filepath.Base(path), f)
		}
	}
}

// The golden list of postgres_exporter's default families plus the opt-in
// ones, on a cluster with a table, some traffic, a lock held, a
// replication slot and pg_stat_statements.
func TestGoldenFamilies(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{
		SharedPreloadLibraries: []string{"pg_stat_statements"},
		Settings:               map[string]string{"max_slot_wal_keep_size": "'1GB'"},
	})
	ctx := ctxT(t)
	pg.MustExec(`CREATE DATABASE app`)
	if err := pg.ExecDB("app", `CREATE EXTENSION pg_stat_statements;
CREATE TABLE orders (id int PRIMARY KEY, note text);
INSERT INTO orders SELECT g, repeat('x', 100) FROM generate_series(1, 2000) g;
DELETE FROM orders WHERE id % 3 = 0;
ANALYZE orders;
CREATE TABLE skipped_t (id int)`); err != nil {
		t.Fatal(err)
	}
	pg.MustExec(`SELECT pg_create_physical_replication_slot('golden', true)`)
	monitorRole(t, pg, "vigie", "monitor-pw")
	// The bloat estimates read pg_stats, which shows only columns the role can read.
	pg.MustExec(`GRANT pg_read_all_data TO vigie`)

	// A lock held by an open transaction for the whole test.
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	if _, err := conn.Exec(ctx, `BEGIN; LOCK TABLE orders IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}

	h := newHarness(t, InstanceConfig{
		Name: "db1", DSN: config.Secret(pg.DSN("vigie", "monitor-pw", "app")),
		MaxTables: 10, ExcludeTables: []string{`public\.skipped_.*`}, Collectors: OptInCollectors,
	})
	s := h.waitFor(20*time.Second, "the lock and the table", func(s samples) bool {
		_, ok := s.get("pg_stat_user_tables_n_live_tup", "instance", "db1", "datname", "app", "schemaname", "public", "relname", "orders")
		return ok
	})
	if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 1 {
		t.Fatalf("collector failed; log:\n%s", h.log)
	}
	if v := s.must(t, "pg_locks_count", "instance", "db1", "datname", "app", "mode", "sharelock"); v < 1 {
		t.Errorf("pg_locks_count{sharelock} = %v", v)
	}
	if _, ok := s.get("pg_stat_user_tables_n_live_tup", "instance", "db1", "datname", "app", "schemaname", "public", "relname", "skipped_t"); ok {
		t.Errorf("excluded table reported")
	}
	if v := s.must(t, "pg_stat_user_tables_n_tup_del", "instance", "db1", "datname", "app", "schemaname", "public", "relname", "orders"); v != 666 {
		t.Errorf("n_tup_del = %v, want 666", v)
	}
	if v := s.must(t, "pg_bloat_table_real_size_bytes", "instance", "db1", "datname", "app", "schemaname", "public", "relname", "orders"); v <= 0 {
		t.Errorf("bloat real size = %v", v)
	}
	// A third of the rows deleted and not vacuumed: the heap is about a third bloat.
	if v := s.must(t, "pg_bloat_table_bloat_ratio", "instance", "db1", "datname", "app", "schemaname", "public", "relname", "orders"); v < 0.2 || v > 0.5 {
		t.Errorf("table bloat ratio = %v, want about 1/3", v)
	}
	if v := s.must(t, "pg_bloat_index_real_size_bytes", "instance", "db1", "datname", "app", "schemaname", "public", "relname", "orders", "indexrelname", "orders_pkey"); v <= 0 {
		t.Errorf("index real size = %v", v)
	}
	s.must(t, "pg_replication_slots_wal_status", "instance", "db1", "slot_name", "golden", "slot_type", "physical", "wal_status", "reserved")
	s.must(t, "pg_scrape_collector_success", "instance", "db1", "collector", "stat_user_tables")
	if v := s.must(t, "pg_exporter_last_scrape_error", "instance", "db1"); v != 0 {
		t.Errorf("pg_exporter_last_scrape_error = %v; log:\n%s", v, h.log)
	}
	checkSettings(t, pg, s)

	isSetting := func(n string) bool {
		return strings.HasPrefix(n, "pg_settings_") && n != "pg_settings_max_connections" && n != "pg_settings_shared_buffers_bytes"
	}
	// Families that come and go with what the server is doing.
	optional := func(n string) bool {
		return strings.HasPrefix(n, "pg_stat_progress_vacuum_") || n == "pg_stat_activity_autovacuum_timestamp_seconds" ||
			n == "pg_stat_archiver_last_archive_age" || n == "pg_stat_database_stats_reset"
	}
	compareGolden(t, filepath.Join("testdata", "families.golden"), familiesOf(t, h.reg, isSetting), optional)

	// promtool's linter: clean for vigie's own families (vigie_*, pg_bloat_*);
	// on postgres_exporter's names only the suffix findings it gets itself
	// (counters without _total, gauges ending in _count), kept for compatibility.
	for _, l := range promtooltest.Lint(t, h.reg) {
		upstream := strings.HasPrefix(l, "pg_") && !strings.HasPrefix(l, "pg_bloat_") &&
			(strings.Contains(l, `should have "_total" suffix`) || strings.Contains(l, `should not have "_count" suffix`))
		if !upstream {
			t.Errorf("promtool check metrics: %s", l)
		}
	}
}

// checkSettings compares the pg_settings_* families with pg_settings: one
// per numeric or boolean setting, converted to bytes and seconds.
func checkSettings(t *testing.T, pg *pgtest.Cluster, s samples) {
	t.Helper()
	ctx := ctxT(t)
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_settings WHERE vartype IN ('bool', 'integer', 'real')`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	var got []string
	for name := range s.families() {
		if strings.HasPrefix(name, "pg_settings_") {
			got = append(got, name)
		}
	}
	if len(got) != n {
		t.Errorf("%d pg_settings_* families, pg_settings has %d numeric or boolean settings", len(got), n)
	}
	for name, want := range map[string]float64{
		"pg_settings_shared_buffers_bytes":                 16 << 20, // pgtest sets 16MB
		"pg_settings_checkpoint_timeout_seconds":           300,
		"pg_settings_statement_timeout_seconds":            5,
		"pg_settings_max_slot_wal_keep_size_bytes":         1 << 30,
		"pg_settings_fsync":                                0, // pgtest turns fsync off
		"pg_settings_autovacuum_vacuum_cost_delay_seconds": 0.002,
		"pg_settings_log_min_duration_statement_seconds":   -1,
		"pg_settings_pg_stat_statements_max":               5000,
		"pg_settings_wal_segment_size_bytes":               16 << 20,
	} {
		if !slices.Contains(got, name) {
			t.Errorf("%s missing", name)
			continue
		}
		if v := s.must(t, name, "instance", "db1"); v != want {
			t.Errorf("%s = %v, want %v", name, v, want)
		}
	}
}

// As pg_monitor only, pg_stats hides the columns: the bloat collector gives
// no estimate (rather than a wrong one) and the gather does not fail.
func TestBloatWithoutStatistics(t *testing.T) {
	pg := pgtest.Start(t, pgtest.Options{})
	if err := pg.ExecDB("postgres", `CREATE TABLE orders (id int PRIMARY KEY, note text);
INSERT INTO orders SELECT g, 'x' FROM generate_series(1, 500) g; ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	monitorRole(t, pg, "vigie", "monitor-pw")
	h := newHarness(t, InstanceConfig{Name: "db1", DSN: config.Secret(pg.DSN("vigie", "monitor-pw", "postgres")),
		MaxTables: 10, Collectors: []string{CollectorBloat}})
	s := h.gather()
	if v := s.must(t, "vigie_collector_success", "collector", "postgres"); v != 1 {
		t.Fatalf("collector failed; log:\n%s", h.log)
	}
	s.must(t, "pg_stat_user_tables_n_live_tup", "instance", "db1", "datname", "postgres", "schemaname", "public", "relname", "orders")
	for name := range s.families() {
		if strings.HasPrefix(name, "pg_bloat_") {
			t.Errorf("%s without readable statistics", name)
		}
	}
}

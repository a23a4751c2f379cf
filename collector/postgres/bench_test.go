package postgres

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/pgtest"
)

// benchServer is a cluster with 20 databases of 10 tables each, and two
// pg_monitor roles: vigie and exporter.
func benchServer(b *testing.B) *pgtest.Cluster {
	b.Helper()
	pg := pgtest.Start(b, pgtest.Options{MaxConnections: 50, SharedPreloadLibraries: []string{"pg_stat_statements"}})
	pg.MustExec(`CREATE EXTENSION pg_stat_statements`)
	for _, role := range []string{"vigie", "exporter"} {
		pg.MustExec(`CREATE ROLE ` + role + ` WITH LOGIN PASSWORD 'bench'`)
		pg.MustExec(`GRANT pg_monitor TO ` + role)
	}
	for d := range 20 {
		db := fmt.Sprintf("app%02d", d)
		pg.MustExec(`CREATE DATABASE ` + db)
		var ddl strings.Builder
		for t := range 10 {
			fmt.Fprintf(&ddl, "CREATE TABLE t%d (id int PRIMARY KEY, v text); INSERT INTO t%d SELECT g, md5(g::text) FROM generate_series(1, 100) g;\n", t, t)
		}
		if err := pg.ExecDB(db, ddl.String()); err != nil {
			b.Fatal(err)
		}
	}
	return pg
}

// BenchmarkGather is one gather of vigie's collector, alone.
//
//	go test -run '^$' -bench BenchmarkGather$ ./collector/postgres
func BenchmarkGather(b *testing.B) {
	pg := benchServer(b)
	for _, sizes := range []struct {
		name     string
		interval time.Duration
	}{{"sizes_cached", DefaultSizeInterval}, {"sizes_every_gather", 0}} {
		b.Run(sizes.name, func(b *testing.B) {
			c := benchCollector(b, pg, sizes.interval)
			r := measureVigie(b, pg, c)
			b.ReportMetric(r.queries, "queries/op")
			b.ReportMetric(r.clientCPU.Seconds()*1000, "client-cpu-ms/op")
			b.ReportMetric(r.serverCPU.Seconds()*1000, "backend-cpu-ms/op")
		})
	}
}

// benchCollector is the default configuration as the pg_monitor role vigie.
func benchCollector(b *testing.B, pg *pgtest.Cluster, sizeInterval time.Duration) *Collector {
	ic := DefaultInstanceConfig()
	ic.Name, ic.DSN, ic.SizeInterval = "bench", config.Secret(pg.DSN("vigie", "bench", "postgres")), config.Duration(sizeInterval)
	return newBenchCollector(b, ic)
}

func newBenchCollector(b *testing.B, ic InstanceConfig) *Collector {
	c, err := New(Config{ic}, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkGatherVsExporter gathers the same server with vigie's collector
// and with Debian's prometheus-postgres-exporter (GET /metrics), and prints
// both and their ratio.
//
//	bench/postgres-vs-exporter.sh
func BenchmarkGatherVsExporter(b *testing.B) {
	exporterBin, err := exec.LookPath("prometheus-postgres-exporter")
	if err != nil {
		b.Skip("prometheus-postgres-exporter not installed (bash .ci/postgres.sh --with-exporter installs it)")
	}
	pg := benchServer(b)

	var vigie, vigieSizes, exporter result
	b.Run("vigie", func(b *testing.B) {
		vigie = measureVigie(b, pg, benchCollector(b, pg, DefaultSizeInterval))
	})
	b.Run("vigie_sizes_every_gather", func(b *testing.B) {
		vigieSizes = measureVigie(b, pg, benchCollector(b, pg, 0))
	})
	addr := startExporter(b, exporterBin, pg.DSN("exporter", "bench", "postgres"))
	b.Run("exporter", func(b *testing.B) {
		exporter = measureExporter(b, pg, addr)
	})
	if vigie.n == 0 || vigieSizes.n == 0 || exporter.n == 0 {
		return
	}

	fmt.Printf("\n%-34s %10s %11s %12s %8s %7s\n", "one gather, 20 dbs, 200 tables", "wall", "client CPU", "backend CPU", "queries", "series")
	row := func(name string, r result) {
		fmt.Printf("%-34s %10s %11s %12s %8.1f %7d\n", name, r.wall.Round(time.Microsecond), r.clientCPU.Round(time.Microsecond),
			r.serverCPU.Round(time.Microsecond), r.serverQueries, r.series)
	}
	ratios := func(name string, a, b result) {
		fmt.Printf("%-34s %9.2fx %10.2fx %11.2fx %7.2fx\n", name,
			ratio(a.wall, b.wall), ratio(a.clientCPU, b.clientCPU), ratio(a.serverCPU, b.serverCPU), a.serverQueries/b.serverQueries)
	}
	row("vigie (sizes every 1m, default)", vigie)
	row("vigie (sizes every gather)", vigieSizes)
	row("postgres_exporter GET /metrics", exporter)
	ratios("exporter / vigie (default)", exporter, vigie)
	ratios("exporter / vigie (sizes each time)", exporter, vigieSizes)
	fmt.Println()
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

type result struct {
	n             int
	wall          time.Duration // per gather
	clientCPU     time.Duration // user+system of the collecting process, per gather
	serverCPU     time.Duration // user+system of the PostgreSQL backend serving it, per gather
	queries       float64       // counted by vigie itself
	serverQueries float64       // counted by pg_stat_statements
	series        int
}

func measureVigie(b *testing.B, pg *pgtest.Cluster, c *Collector) result {
	ctx := context.Background()
	gather := func() int {
		// Drained as it comes: thousands of tables give more series than a buffer holds.
		ch := make(chan prometheus.Metric, 4096)
		count := make(chan int)
		go func() {
			n := 0
			for range ch {
				n++
			}
			count <- n
		}()
		err := c.Update(ctx, ch)
		close(ch)
		n := <-count
		if err != nil {
			b.Fatal(err)
		}
		return n
	}
	series := gather() // connect outside the measurement
	backend := backendPID(b, c.instances[0].conn)
	q0 := c.instances[0].queries.Load()
	calls0 := statementCalls(b, pg, "vigie")
	cpu0, srv0 := selfCPU(), procCPU(backend)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		gather()
	}
	wall := time.Since(start)
	b.StopTimer()
	n := b.N
	return result{
		n: n, wall: wall / time.Duration(n), series: series,
		clientCPU: (selfCPU() - cpu0) / time.Duration(n),
		serverCPU: (procCPU(backend) - srv0) / time.Duration(n),
		queries:   float64(c.instances[0].queries.Load()-q0) / float64(n),
		// The same server-side count for both: statements by role in pg_stat_statements.
		serverQueries: (statementCalls(b, pg, "vigie") - calls0) / float64(n),
	}
}

func measureExporter(b *testing.B, pg *pgtest.Cluster, addr string) result {
	scrape := func() int {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), "\npg_up 1") && !strings.Contains(string(body), "pg_up{") {
			b.Fatalf("exporter: %s\n%.500s", resp.Status, body)
		}
		n := 0
		for _, l := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(l, "pg_") {
				n++
			}
		}
		return n
	}
	series := scrape() // the first scrape connects and reads the server's version
	exporterPID := exporterProcs[addr]
	backend := backendPIDOf(b, pg, "exporter")
	calls0 := statementCalls(b, pg, "exporter")
	cpu0, srv0 := procCPU(exporterPID), procCPU(backend)
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		scrape()
	}
	wall := time.Since(start)
	b.StopTimer()
	n := b.N
	return result{
		n: n, wall: wall / time.Duration(n), series: series,
		clientCPU:     (procCPU(exporterPID) - cpu0) / time.Duration(n),
		serverCPU:     (procCPU(backend) - srv0) / time.Duration(n),
		serverQueries: (statementCalls(b, pg, "exporter") - calls0) / float64(n),
	}
}

var exporterProcs = map[string]int{}

func startExporter(b *testing.B, bin, dsn string, args ...string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(b.TempDir(), "exporter.log"))
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, append([]string{"--web.listen-address=" + addr, "--log.level=warn"}, args...)...)
	cmd.Env = append(os.Environ(), "DATA_SOURCE_NAME="+dsn)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		logf.Close()
	})
	exporterProcs[addr] = cmd.Process.Pid
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if resp, err := http.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			b.Fatal("exporter did not start")
		}
	}
}

func backendPID(b *testing.B, conn *pgx.Conn) int {
	if conn == nil {
		b.Fatal("not connected")
	}
	return int(conn.PgConn().PID())
}

func backendPIDOf(b *testing.B, pg *pgtest.Cluster, user string) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var pid int
	if err := conn.QueryRow(ctx, `SELECT pid FROM pg_stat_activity WHERE usename = $1 ORDER BY backend_start DESC LIMIT 1`, user).Scan(&pid); err != nil {
		b.Fatalf("backend of %s: %v", user, err)
	}
	return pid
}

// statementCalls is the number of statements role has run, by pg_stat_statements.
func statementCalls(b *testing.B, pg *pgtest.Cluster, role string) float64 {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, pg.SuperuserDSN("postgres"))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	var n float64
	if err := conn.QueryRow(ctx, `SELECT COALESCE(sum(calls), 0)::float8 FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = $1`, role).Scan(&n); err != nil {
		b.Fatal(err)
	}
	return n
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU reads utime+stime of pid from /proc (clock ticks of 10ms).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// benchTablesServer is one database, app, with n tables of a few rows,
// analysed, and the two pg_monitor roles.
func benchTablesServer(b *testing.B, n int) *pgtest.Cluster {
	b.Helper()
	pg := pgtest.Start(b, pgtest.Options{MaxConnections: 50, SharedPreloadLibraries: []string{"pg_stat_statements"},
		Settings: map[string]string{"max_locks_per_transaction": "1024"}})
	pg.MustExec(`CREATE EXTENSION pg_stat_statements`)
	for _, role := range []string{"vigie", "exporter"} {
		pg.MustExec(`CREATE ROLE ` + role + ` WITH LOGIN PASSWORD 'bench'`)
		pg.MustExec(`GRANT pg_monitor TO ` + role)
	}
	pg.MustExec(`CREATE DATABASE app`)
	if err := pg.ExecDB("app", fmt.Sprintf(`DO $$ BEGIN FOR i IN 1..%d LOOP
  EXECUTE format('CREATE TABLE t%%s (id int PRIMARY KEY, v text)', i);
  EXECUTE format('INSERT INTO t%%s SELECT g, md5(g::text) FROM generate_series(1, 1 + %%s %%%% 20) g', i, i);
END LOOP; END $$; ANALYZE`, n)); err != nil {
		b.Fatal(err)
	}
	return pg
}

// BenchmarkTablesVsExporter gathers a database of 5,000 tables with the
// per-table families on both sides: vigie with max_tables 5000 (every table)
// and with its default 1000, postgres_exporter with the per-table queries of
// its current collectors (bench/testdata/postgres-exporter-tables.yaml).
//
//	bench/postgres-vs-exporter.sh
func BenchmarkTablesVsExporter(b *testing.B) {
	exporterBin, err := exec.LookPath("prometheus-postgres-exporter")
	if err != nil {
		b.Skip("prometheus-postgres-exporter not installed (bash .ci/postgres.sh --with-exporter installs it)")
	}
	const tables = 5000
	pg := benchTablesServer(b, tables)
	collector := func(maxTables int) *Collector {
		ic := DefaultInstanceConfig()
		ic.Name, ic.DSN, ic.MaxTables = "bench", config.Secret(pg.DSN("vigie", "bench", "app")), maxTables
		return newBenchCollector(b, ic)
	}
	var all, capped, exporter result
	b.Run("vigie_all_tables", func(b *testing.B) { all = measureVigie(b, pg, collector(tables)) })
	b.Run("vigie_max_tables_1000", func(b *testing.B) { capped = measureVigie(b, pg, collector(1000)) })
	queries, err := filepath.Abs("../../bench/testdata/postgres-exporter-tables.yaml")
	if err != nil {
		b.Fatal(err)
	}
	addr := startExporter(b, exporterBin, pg.DSN("exporter", "bench", "app"), "--extend.query-path="+queries)
	b.Run("exporter", func(b *testing.B) { exporter = measureExporter(b, pg, addr) })
	if all.n == 0 || capped.n == 0 || exporter.n == 0 {
		return
	}
	fmt.Printf("\n%-34s %10s %11s %12s %8s %7s\n", "one gather, 1 db, 5,000 tables", "wall", "client CPU", "backend CPU", "queries", "series")
	row := func(name string, r result) {
		fmt.Printf("%-34s %10s %11s %12s %8.1f %7d\n", name, r.wall.Round(time.Microsecond), r.clientCPU.Round(time.Microsecond),
			r.serverCPU.Round(time.Microsecond), r.serverQueries, r.series)
	}
	row("vigie, every table", all)
	row("vigie, max_tables 1000 (default)", capped)
	row("postgres_exporter GET /metrics", exporter)
	fmt.Printf("%-34s %9.2fx %10.2fx %11.2fx\n", "exporter / vigie (every table)",
		ratio(exporter.wall, all.wall), ratio(exporter.clientCPU, all.clientCPU), ratio(exporter.serverCPU, all.serverCPU))
	fmt.Println()
}

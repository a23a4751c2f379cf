package rules

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	promstorage "github.com/prometheus/prometheus/storage"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
)

// benchEnv fills a fresh TSDB with an hour of samples every 15s from
// series(), applies cfg and returns the manager and the end of the data.
func benchEnv(b *testing.B, cfg Config, series []labels.Labels, value func(i, step int) float64) (*Manager, time.Time) {
	b.Helper()
	ctx := context.Background()
	st, err := storage.Open(ctx, b.TempDir(), storage.DefaultConfig(), slog.New(slog.DiscardHandler), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	const steps = 240
	end := time.Now().Truncate(time.Second)
	start := end.Add(-steps * 15 * time.Second)
	refs := make([]promstorage.SeriesRef, len(series))
	for s := 0; s <= steps; s++ {
		app := st.TSDB.Appender(ctx)
		ts := start.Add(time.Duration(s) * 15 * time.Second).UnixMilli()
		for i, l := range series {
			if refs[i], err = app.Append(refs[i], l, ts, value(i, s)); err != nil {
				b.Fatal(err)
			}
		}
		if err := app.Commit(); err != nil {
			b.Fatal(err)
		}
	}
	m, err := New(Options{Queryable: st.TSDB, Appendable: st.TSDB, State: st.State})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.ApplyConfig(cfg); err != nil {
		b.Fatal(err)
	}
	return m, end
}

func runRounds(b *testing.B, m *Manager, end time.Time) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Evaluate(ctx, end.Add(time.Duration(i+1)*time.Millisecond))
	}
	b.StopTimer()
	for _, g := range m.ruleGroups() {
		for _, r := range g.Rules() {
			if err := r.LastError(); err != nil {
				b.Fatalf("rule %s: %v", r.Name(), err)
			}
		}
	}
}

// BenchmarkBuiltinPack: one evaluation round of the whole built-in pack
// over a single host: node (8 CPUs, 6 filesystems), 50 containers, 10
// services, one PostgreSQL with 5 databases, 3 scrape targets.
func BenchmarkBuiltinPack(b *testing.B) {
	var ss []labels.Labels
	host := []string{"job", "vigie", "instance", "host1"}
	add := func(name string, kv ...string) {
		ss = append(ss, labels.FromStrings(append(append([]string{"__name__", name}, host...), kv...)...))
	}
	for cpu := range 8 {
		for _, mode := range []string{"idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice"} {
			add("node_cpu_seconds_total", "cpu", fmt.Sprint(cpu), "mode", mode)
		}
	}
	for _, n := range []string{"node_memory_MemAvailable_bytes", "node_memory_MemTotal_bytes", "node_load1", "node_load5", "node_load15"} {
		add(n)
	}
	for i, mp := range []string{"/", "/boot", "/var/lib/docker", "/data", "/run", "/dev/shm"} {
		fstype := "ext4"
		if i >= 4 {
			fstype = "tmpfs"
		}
		for _, n := range []string{"node_filesystem_avail_bytes", "node_filesystem_size_bytes", "node_filesystem_files", "node_filesystem_files_free", "node_filesystem_readonly"} {
			add(n, "device", fmt.Sprintf("/dev/sd%c", 'a'+i), "fstype", fstype, "mountpoint", mp)
		}
	}
	for c := range 50 {
		kv := []string{"name", fmt.Sprintf("app-%d", c), "id", fmt.Sprintf("/docker/%064d", c), "image", "app:1", "compose_project", "shop", "compose_service", fmt.Sprintf("svc%d", c%10)}
		for _, n := range []string{"container_memory_working_set_bytes", "container_spec_memory_limit_bytes", "container_oom_events_total", "vigie_container_restarts_total", "container_cpu_usage_seconds_total", "container_memory_usage_bytes"} {
			add(n, kv...)
		}
	}
	for s := range 10 {
		add("vigie_service_replicas_desired", "service", fmt.Sprintf("svc%d", s), "stack", "shop", "mode", "replicated")
		add("vigie_service_replicas_running", "service", fmt.Sprintf("svc%d", s), "stack", "shop", "mode", "replicated")
	}
	pg := func(name string, kv ...string) {
		ss = append(ss, labels.FromStrings(append([]string{"__name__", name, "job", "vigie", "instance", "pg1"}, kv...)...))
	}
	pg("pg_up")
	pg("pg_settings_max_connections")
	pg("pg_replication_lag_seconds")
	pg("vigie_postgres_connection_errors_total", "reason", "auth")
	for d := range 5 {
		db := fmt.Sprintf("db%d", d)
		for _, state := range []string{"active", "idle", "idle in transaction"} {
			pg("pg_stat_activity_count", "datname", db, "state", state)
			pg("pg_stat_activity_max_tx_duration", "datname", db, "state", state)
		}
		for _, n := range []string{"pg_stat_database_deadlocks", "pg_stat_database_sessions_fatal", "pg_stat_database_sessions_abandoned"} {
			pg(n, "datname", db)
		}
	}
	for i := range 3 {
		ss = append(ss, labels.FromStrings("__name__", "up", "job", "app", "instance", fmt.Sprintf("10.0.0.%d:8080", i)))
	}
	for _, c := range []string{"node", "docker", "postgres"} {
		add("vigie_collector_success", "collector", c)
	}
	// A healthy host: nothing fires, as on most evaluations.
	m, end := benchEnv(b, DefaultConfig(), ss, func(i, step int) float64 {
		l := ss[i]
		name := l.Get("__name__")
		switch {
		case name == "node_cpu_seconds_total" && l.Get("mode") == "idle":
			return float64(step) * 15 * 0.8
		case name == "node_cpu_seconds_total", name == "container_cpu_usage_seconds_total":
			return float64(step) * 15 * 0.02
		case strings.HasSuffix(name, "_total"), name == "pg_stat_database_deadlocks", strings.HasPrefix(name, "pg_stat_database_sessions"),
			name == "node_filesystem_readonly", name == "pg_replication_lag_seconds":
			return 0
		case strings.Contains(name, "size") || strings.Contains(name, "Total") || strings.Contains(name, "limit") || name == "node_filesystem_files" || name == "pg_settings_max_connections":
			return 1000
		case strings.Contains(name, "avail") || strings.Contains(name, "Avail") || strings.Contains(name, "free"):
			return 600 - float64(step%3)
		case strings.HasPrefix(name, "node_load"):
			return 0.5
		case strings.HasPrefix(name, "vigie_service_replicas"):
			return 2
		case name == "up" || name == "pg_up" || name == "vigie_collector_success":
			return 1
		}
		return 5
	})
	runRounds(b, m, end)
}

// Benchmark1000Rules: 1,000 user rules (500 recording, 500 alerting, in
// 100 groups of 10) over 10,000 series (100 metrics x 100 instances).
func Benchmark1000Rules(b *testing.B) {
	var ss []labels.Labels
	for mi := range 100 {
		for inst := range 100 {
			ss = append(ss, labels.FromStrings("__name__", fmt.Sprintf("app_metric_%d_total", mi), "job", fmt.Sprintf("job%d", inst%10), "instance", fmt.Sprintf("i%d", inst)))
		}
	}
	var f strings.Builder
	f.WriteString("groups:\n")
	for g := range 100 {
		fmt.Fprintf(&f, "  - name: g%d\n    rules:\n", g)
		for r := range 10 {
			n := g*10 + r
			metric := fmt.Sprintf("app_metric_%d_total", n%100)
			if r%2 == 0 {
				fmt.Fprintf(&f, "      - record: job:%s:rate5m_%d\n        expr: sum by (job) (rate(%s[5m]))\n", metric, n, metric)
			} else {
				fmt.Fprintf(&f, "      - alert: Alert%d\n        expr: rate(%s[5m]) > %d\n        for: 5m\n        labels: {severity: warning}\n        annotations: {summary: '{{ $labels.instance }} at {{ $value }}'}\n", n, metric, 1000+n)
			}
		}
	}
	dir := b.TempDir()
	p := filepath.Join(dir, "user.yml")
	if err := writeFileB(p, f.String()); err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Builtin.Enabled = false
	cfg.Files = []string{p}
	cfg.EvaluationInterval = config.Duration(15 * time.Second)
	m, end := benchEnv(b, cfg, ss, func(i, step int) float64 { return float64(step * 15 * (i%50 + 1)) })
	runRounds(b, m, end)
}

func writeFileB(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

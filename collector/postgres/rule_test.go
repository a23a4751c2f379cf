package postgres

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// The DatabaseConnectionErrors expression of docs/configuration/postgres.md
// fires on vigie's own refused attempts, on server-side fatal and abandoned
// sessions, and still works on servers without sessions_* (PostgreSQL < 14).
func TestDocumentedConnectionErrorRule(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration/postgres.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?s)alert: DatabaseConnectionErrors\n\s*expr: \|\n(.*?)\n\s*labels:`).FindSubmatch(doc)
	if m == nil {
		t.Fatal("DatabaseConnectionErrors rule not found in the docs")
	}
	expr := strings.Join(strings.Fields(string(m[1])), " ")
	promqltest.RunTest(t, `
load 1m
  vigie_postgres_connection_errors_total{instance="refused",reason="too_many_connections"} 0+5x10
  vigie_postgres_connection_errors_total{instance="refused",reason="auth_failed"} 0+0x10
  pg_stat_database_sessions_fatal{instance="refused",datid="5",datname="app"} 0+0x10
  pg_stat_database_sessions_abandoned{instance="refused",datid="5",datname="app"} 0+0x10
  vigie_postgres_connection_errors_total{instance="fatal",reason="too_many_connections"} 0+0x10
  pg_stat_database_sessions_fatal{instance="fatal",datid="5",datname="app"} 0+2x10
  pg_stat_database_sessions_abandoned{instance="fatal",datid="5",datname="app"} 0+2x10
  pg_stat_database_sessions_fatal{instance="fatal",datid="6",datname="other"} 0+0x10
  pg_stat_database_sessions_abandoned{instance="fatal",datid="6",datname="other"} 0+0x10
  vigie_postgres_connection_errors_total{instance="pg13",reason="network"} 0+4x10
  vigie_postgres_connection_errors_total{instance="quiet",reason="network"} 0+0x10
  pg_stat_database_sessions_fatal{instance="quiet",datid="5",datname="app"} 7+0x10
  pg_stat_database_sessions_abandoned{instance="quiet",datid="5",datname="app"} 3+0x10

eval instant at 10m count by (instance) (`+expr+`)
  {instance="refused"} 1
  {instance="fatal"} 1
  {instance="pg13"} 1
`, promqltest.NewTestEngine(t, false, 0, 1e6))
}

package postgres

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

func TestConfigDecode(t *testing.T) {
	t.Setenv("PG_TEST_PASSWORD", "from-env")
	src := `
- name: main
  dsn: postgres://vigie:${PG_TEST_PASSWORD}@127.0.0.1:5432/app
  databases: [app, billing]
  statement_timeout: 2s
- name: replica
  dsn_file: /run/secrets/replica-dsn
  top_statements: 0
`
	var cfg Config
	if err := config.Decode("vigie.yml", []byte(src), &cfg); err != nil {
		t.Fatal(err)
	}
	if len(cfg) != 2 {
		t.Fatalf("%d instances", len(cfg))
	}
	m, r := cfg[0], cfg[1]
	if m.DSN.Value() != "postgres://vigie:from-env@127.0.0.1:5432/app" {
		t.Errorf("dsn not expanded: %q", m.DSN.Value())
	}
	if m.StatementTimeout.D() != 2*time.Second || m.ConnectTimeout.D() != DefaultConnectTimeout ||
		m.TopStatements != DefaultTopStatements || m.QueryTextLength != DefaultQueryTextLength {
		t.Errorf("defaults not applied: %+v", m)
	}
	if r.TopStatements != 0 || r.StatementTimeout.D() != DefaultStatementTimeout || r.DSNFile != "/run/secrets/replica-dsn" {
		t.Errorf("replica: %+v", r)
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "from-env") || !strings.Contains(string(out), "<secret>") {
		t.Errorf("marshalled config shows the DSN:\n%s", out)
	}
	if s := fmt.Sprintf("%v %+v", cfg, m); strings.Contains(s, "from-env") {
		t.Errorf("printing the config shows the DSN: %s", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"unknown key", "- name: a\n  dsn: x\n  dns: y\n", []string{`vigie.yml:3:3: [0].dns: unknown field "dns"`}},
		{"wrong type", "- name: a\n  dsn: x\n  top_statements: many\n", []string{"vigie.yml:3:19"}},
		{"bad duration", "- name: a\n  dsn: x\n  statement_timeout: soon\n", []string{`vigie.yml:3:22`, `invalid duration "soon"`}},
		{"missing name and dsn", "- databases: [app]\n", []string{"[0].name: required", "[0].dsn: dsn or dsn_file is required"}},
		{"duplicate", "- {name: a, dsn: x}\n- {name: a, dsn: y}\n", []string{`vigie.yml:2:10: [1].name: duplicate instance name "a"`}},
		{"both dsn", "- {name: a, dsn: x, dsn_file: /f}\n", []string{"[0].dsn_file: dsn and dsn_file are mutually exclusive"}},
		{"ranges", "- {name: a, dsn: x, top_statements: -1, databases: ['']}\n",
			[]string{"[0].top_statements: must be between 0 and 1000", "[0].databases[0]: empty database name"}},
		{"tables", "- {name: a, dsn: x, max_tables: -1, include_tables: ['('], collectors: [bloat, stat_statementz]}\n",
			[]string{"[0].max_tables: must not be negative", `[0].include_tables[0]: invalid regular expression "("`,
				`vigie.yml:1:80: [0].collectors[1]: unknown collector "stat_statementz"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cfg Config
			err := config.Decode("vigie.yml", []byte(tc.src), &cfg)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewReadsDSNFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "dsn")
	if err := os.WriteFile(f, []byte("host=127.0.0.1 port=5 user=u password=filepw dbname=d\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{{Name: "a", DSNFile: f}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	in := c.instances[0]
	if in.connCfg.Password != "filepw" || in.connCfg.Port != 5 || in.connCfg.Database != "d" {
		t.Errorf("DSN file not used: %+v", in.connCfg.Config)
	}
	if in.connCfg.RuntimeParams["statement_timeout"] != "5000" || in.connCfg.ConnectTimeout != DefaultConnectTimeout {
		t.Errorf("timeouts not set: %v %v", in.connCfg.RuntimeParams, in.connCfg.ConnectTimeout)
	}

	_, err = New(Config{{Name: "a", DSNFile: filepath.Join(dir, "missing")}}, nil)
	var fe *config.FieldError
	if !errors.As(err, &fe) || fe.Path != "[0].dsn_file" {
		t.Errorf("missing dsn_file: %v", err)
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&pgconn.PgError{Code: "28P01"}, ReasonAuthFailed},
		{&pgconn.PgError{Code: "28000"}, ReasonAuthFailed},
		{&pgconn.PgError{Code: "53300"}, ReasonTooManyConnections},
		{&pgconn.PgError{Code: "57P03"}, ReasonCannotConnectNow},
		{&pgconn.PgError{Code: "3D000"}, ReasonDatabaseMissing},
		{&pgconn.PgError{Code: "XX000"}, ReasonOther},
		{fmt.Errorf("connect: %w", &pgconn.PgError{Code: "53300"}), ReasonTooManyConnections},
		{errors.New("weird"), ReasonOther},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestNormaliseQuery(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"SELECT  *\n\tFROM t WHERE id = $1", 100, "SELECT * FROM t WHERE id = $1"},
		{"SELECT * FROM t", 8, "SELECT *…"},
		{"CREATE ROLE app LOGIN PASSWORD 'hunter2'", 100, "CREATE ROLE app LOGIN PASSWORD …"},
		{"ALTER ROLE app PASSWORD $$hunter2$$", 100, "ALTER ROLE app PASSWORD …"},
		{"SET application_name = 'it''s'", 100, "SET application_name = '…'"},
		{"SELECT 'é' || 'é'", 100, "SELECT '…' || '…'"},
	} {
		if got := normaliseQuery(tc.in, tc.n); got != tc.want {
			t.Errorf("normaliseQuery(%q, %d) = %q, want %q", tc.in, tc.n, got, tc.want)
		}
	}
}

func TestConvertSetting(t *testing.T) {
	for _, tc := range []struct {
		setting, unit, vartype string
		v                      float64
		suffix                 string
	}{
		{"100", "", "integer", 100, ""},
		{"16384", "8kB", "integer", 16384 * 8192, "_bytes"},
		{"4096", "kB", "integer", 4096 * 1024, "_bytes"},
		{"1024", "MB", "integer", 1 << 30, "_bytes"},
		{"300", "s", "integer", 300, "_seconds"},
		{"1500", "ms", "integer", 1.5, "_seconds"},
		{"on", "", "bool", 1, ""},
		{"-1", "ms", "integer", -1, "_seconds"}, // off stays -1, as postgres_exporter
		{"2", "d", "integer", 172800, "_seconds"},
		{"1", "GB", "real", 1 << 30, "_bytes"},
		{"64", "16MB", "integer", 1 << 30, "_bytes"},
	} {
		v, suffix, ok := convertSetting(tc.setting, tc.unit, tc.vartype)
		if !ok || v != tc.v || suffix != tc.suffix {
			t.Errorf("convertSetting(%s %s) = %v %q %v", tc.setting, tc.unit, v, suffix, ok)
		}
	}
}

func TestTableFilter(t *testing.T) {
	tables := []table{
		{1, "public", "orders", 5000}, {2, "public", "users", 100}, {3, "audit", "log_2025", 90000},
		{4, "public", "tmp_x", 10}, {5, "public", "events", 5000}, {6, "public", "empty", 0},
	}
	for _, tc := range []struct {
		name string
		ic   InstanceConfig
		want []string
	}{
		{"largest first, ties by name", InstanceConfig{MaxTables: 3}, []string{"audit.log_2025", "public.events", "public.orders"}},
		{"exclude", InstanceConfig{MaxTables: 10, ExcludeTables: []string{`audit\..*`, `public\.tmp_.*`}},
			[]string{"public.events", "public.orders", "public.users", "public.empty"}},
		{"include", InstanceConfig{MaxTables: 10, IncludeTables: []string{`public\.(orders|users)`}}, []string{"public.orders", "public.users"}},
		{"anchored", InstanceConfig{MaxTables: 10, IncludeTables: []string{`orders`}}, nil},
		{"off", InstanceConfig{MaxTables: 0}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := newTableFilter(tc.ic)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range f.pick(append([]table{}, tables...)) {
				got = append(got, p.schema+"."+p.name)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("picked %v, want %v", got, tc.want)
			}
		})
	}
}

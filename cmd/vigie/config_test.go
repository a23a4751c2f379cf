package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/config"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "vigie.yml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigErrorsNameFileLineAndField(t *testing.T) {
	t.Setenv("VIGIE_TEST_UNSET", "")
	os.Unsetenv("VIGIE_TEST_UNSET")
	for _, tc := range []struct {
		name, body string
		want       []string // substrings after "<file>"
	}{
		{"unknown key", "collect:\n  intervall: 5s\n", []string{`:2:3: collect.intervall: unknown field "intervall"`}},
		{"invalid duration", "global:\n  listen: 127.0.0.1:1\ncollect:\n  interval: 5 minutes\n", []string{`:4:13: collect.interval: invalid duration "5 minutes"`}},
		{"wrong type", "global:\n  listen: [a]\n", []string{`:2:11: global.listen: cannot use list as a string`}},
		{"mapping for string", "global:\n  listen:\n    a: 1\n", []string{`:3:5: global.listen: cannot use mapping as a string`}},
		{"invalid value", "collect:\n  interval: 500ms\n", []string{`:2:13: collect.interval: must be at least 1s, got 500ms`}},
		{"unset env", "global:\n  hostname: ${VIGIE_TEST_UNSET}\n", []string{`:2:13: global.hostname: environment variable VIGIE_TEST_UNSET is not set`}},
		{"several errors at once", "global:\n  log_level: loud\n  log_format: xml\n", []string{
			`:2:14: global.log_level: must be debug, info, warn or error, got "loud"`,
			`:3:15: global.log_format: must be logfmt or json, got "xml"`}},
		{"list element", "collect:\n  scrape:\n    - job_name: app\n      targets: [\"localhost\"]\n", []string{
			`:4:17: collect.scrape[0].targets[0]: invalid target "localhost": want host:port`}},
		{"nested unknown key", "collect:\n  scrape:\n    - job_name: app\n      targets: [\"a:1\"]\n      scrape_interval: 5s\n", []string{
			`:5:7: collect.scrape[0].scrape_interval: unknown field "scrape_interval"`}},
		{"bad size", "storage:\n  retention_size: 5 pounds\n", []string{`:2:19: storage.retention_size: invalid size "5 pounds"`}},
		{"not yaml", "global: [\n", []string{`vigie.yml: yaml:`}},
		{"api limit", "api:\n  max_query_length: 0\n", []string{`:2:21: api.max_query_length: must be at least 1, got 0`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.body)
			_, err := loadConfig(p)
			if err == nil {
				t.Fatal("expected an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), p+w) && !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, p+w)
				}
				if !strings.HasPrefix(err.Error(), p) {
					t.Errorf("error %q does not start with the file name", err)
				}
			}
		})
	}
}

func TestConfigDefaultsAndEnvExpansion(t *testing.T) {
	t.Setenv("VIGIE_TEST_TOKEN", "s3cr3t-token-value")
	p := writeConfig(t, `collect:
  scrape:
    - job_name: app
      targets: ["127.0.0.1:8080"]
      bearer_token: ${VIGIE_TEST_TOKEN}
`)
	cfg, err := loadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Collect.Scrape[0].BearerToken.Value(); got != "s3cr3t-token-value" {
		t.Fatalf("bearer token = %q, want the expanded variable", got)
	}
	if cfg.Collect.Interval.D().String() != "15s" || cfg.Global.Listen != "127.0.0.1:9753" || cfg.Global.DataDir != "./data" {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	if cfg.Storage.Retention.String() != "15d" {
		t.Fatalf("retention default = %s, want 15d", cfg.Storage.Retention)
	}
	red := cfg.redacted()
	if strings.Contains(red, "s3cr3t") || !strings.Contains(red, "<secret>") {
		t.Fatalf("redacted config leaks or lacks the redaction:\n%s", red)
	}
}

func TestEmbeddedDefaultConfigIsValid(t *testing.T) {
	cfg, err := loadConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Global.Listen != "127.0.0.1:9753" || cfg.Global.DataDir != "./data" {
		t.Fatalf("embedded default: listen %q data_dir %q", cfg.Global.Listen, cfg.Global.DataDir)
	}
}

func TestShippedConfigsAreValid(t *testing.T) {
	t.Setenv("VIGIE_HOSTNAME", "host-1")
	for _, f := range []string{"../../deploy/vigie.yml"} {
		if _, err := loadConfig(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestEmptyConfigIsAnError(t *testing.T) {
	for _, body := range []string{"", "\n  \n", "# only a comment\n\n# and another\n", "---\n"} {
		p := writeConfig(t, body)
		_, err := loadConfig(p)
		if err == nil || !strings.Contains(err.Error(), p+": configuration is empty") {
			t.Errorf("%q: error %v, want configuration is empty", body, err)
		}
	}
	if _, err := loadConfig(writeConfig(t, "{}\n")); err != nil {
		t.Errorf("{} (explicitly the defaults): %v", err)
	}
}

// An oversized file is refused before it is read whole.
func TestOversizedConfigIsRefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "vigie.yml")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(config.MaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	_, err = loadConfig(p)
	var le *config.LimitError
	if !errors.As(err, &le) {
		t.Fatalf("error %v, want a *config.LimitError", err)
	}
}

// The sections wired from other packages report their errors at their
// line, under their root path, all at once.
func TestWiredSectionsReportFileLine(t *testing.T) {
	p := writeConfig(t, `uptime:
  heartbeats:
    - {name: backup, period: 1h}
  files:
    - name: dump
logs:
  patterns:
    - name: x
      regex: "("
scaling:
  tolerance: 2
collect:
  systemd:
    unit_include: "("
api:
  query_timeout: 1ms
`)
	_, err := loadConfig(p)
	if err == nil {
		t.Fatal("expected errors")
	}
	for _, want := range []string{
		p + ":5:7: uptime.files[0].path: required",
		p + ":9:14: logs.patterns[0].regex:",
		p + ":11:14: scaling.tolerance:",
		p + ":14:19: collect.systemd.unit_include:",
		p + ":16:18: api.query_timeout: must be at least 1s",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := loadConfig(writeConfig(t, "uptime:\n  heartbeats:\n    - {name: b, period: 1h, bogus: 1}\n")); err == nil ||
		!strings.Contains(err.Error(), ":3:29: uptime.heartbeats[0].bogus: unknown field") {
		t.Errorf("unknown heartbeat key: %v", err)
	}
}

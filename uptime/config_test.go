package uptime

import (
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/config"
)

// root stands for the composition root's document.
type root struct {
	Uptime Config `yaml:"uptime"`
}

func (r root) Validate() error { return config.Prefix("uptime", r.Uptime.Validate()) }

func TestConfigErrorsHaveLines(t *testing.T) {
	doc := `uptime:
  probes:
    - name: shop
      url: https://shop.example/
      http:
        valid_status_codes: [200, 999]
        body_must_match: ["("]
        http_version: "3"
    - name: shop
      type: dns
    - name: db
      type: tcp
      target: db.example
      timeout: 1m
      interval: 30s
      labels:
        job: x
    - name: typo
      url: https://x/
      intervall: 5s
  retention:
    checks: 1h
`
	err := config.Decode("vigie.yml", []byte(doc), &root{})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		`vigie.yml:20:7: uptime.probes[3].intervall: unknown field "intervall"`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	// Without the unknown key, validation errors are all reported with their lines.
	err = config.Decode("vigie.yml", []byte(strings.Replace(doc, "intervall", "interval", 1)), &root{})
	msg = err.Error()
	for _, want := range []string{
		`vigie.yml:6:35: uptime.probes[0].http.valid_status_codes[1]: 999 is not an HTTP status code`,
		`vigie.yml:7:27: uptime.probes[0].http.body_must_match[0]: error parsing regexp`,
		`vigie.yml:8:23: uptime.probes[0].http.http_version: must be "1.1" or "2", not "3"`,
		`vigie.yml:9:13: uptime.probes[1].name: duplicate probe name "shop" (also probes[0])`,
		`uptime.probes[1].dns.query_name: required (or target)`,
		`vigie.yml:13:15: uptime.probes[2].target: "db.example" is not host:port`,
		`vigie.yml:14:16: uptime.probes[2].timeout: must be positive and at most the interval (30s)`,
		`vigie.yml:17:14: uptime.probes[2].labels.job: "job" is not a label name a probe may set`,
		`vigie.yml:22:13: uptime.retention.checks: must be at least 1d`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
}

func TestDefaultConfigIsValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	var r root
	if err := config.Decode("vigie.yml", []byte("uptime:\n  probes:\n    - name: a\n      url: http://a/\n"), &r); err != nil {
		t.Fatal(err)
	}
}

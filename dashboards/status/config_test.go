package status

import (
	"errors"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

func decode(t *testing.T, doc string) Config {
	t.Helper()
	var c Config
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestConfigDecodeAndValidate(t *testing.T) {
	c := decode(t, `
title: Acme
groups:
  - name: Core
    components:
      - {name: API, probe: api, show_url: true}
      - {name: Backup, heartbeat: backup}
      - {name: Backup files, file: db-dumps}
maintenance:
  - name: Upgrade
    components: [API, db-dumps]
    start: 2030-01-17T12:00:00Z
    end: 2030-01-17T14:00:00+01:00
    message: read-only
`)
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if m := c.Maintenance[0]; !m.Start.Equal(time.Date(2030, 1, 17, 12, 0, 0, 0, time.UTC)) || m.End.Sub(m.Start) != time.Hour {
		t.Errorf("times: %v %v", m.Start, m.End)
	}
	if !c.enabled(1) || c.enabled(0) {
		t.Error("enabled should default to having components")
	}
	known := Known
	if err := c.ValidateRefs(known("api"), known("backup"), known("db-dumps")); err != nil {
		t.Error(err)
	}
	err := c.ValidateRefs(known(), known("other"), known("backup"))
	for _, want := range []string{`groups[0].components[0].probe: unknown probe "api"`, `groups[0].components[1].heartbeat: unknown heartbeat "backup"`,
		`groups[0].components[2].file: unknown file check "db-dumps" (uptime.files)`,
		`maintenance[0].components[1]: "db-dumps" is neither a component of the page nor a probe, heartbeat or file check`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("refs: %v, want %s", err, want)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string
	}{
		{"empty component", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{}}}}},
			[]string{"groups[0].components[0].name: a component needs a name", "groups[0].components[0].probe: set probe, heartbeat or file"}},
		{"both", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{Name: "a", Probe: "p", Heartbeat: "h", ShowURL: true}}}}},
			[]string{"components[0].heartbeat: set one of probe, heartbeat or file"}},
		{"file and probe", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{Name: "a", Probe: "p", File: "f"}}}}},
			[]string{"components[0].file: set one of probe, heartbeat or file"}},
		{"file url", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{Name: "a", File: "f", ShowURL: true}}}}},
			[]string{"components[0].show_url: a file check has no URL to show"}},
		{"file name", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{Name: "a", File: "a b"}}}}},
			[]string{`components[0].file: "a b" is not a file check name`}},
		{"heartbeat url", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{Name: "a", Heartbeat: "h", ShowURL: true}}}}},
			[]string{"components[0].show_url: a heartbeat has no URL to show"}},
		{"duplicate", Config{Groups: []GroupConfig{{Name: "G", Components: []ComponentConfig{{Name: "a", Probe: "p"}}}, {Components: []ComponentConfig{{Name: "a", Probe: "q"}}}}},
			[]string{`groups[1].components[0].name: duplicate component name "a" (also groups[0].components[0])`, "groups[1].name: a group needs a name"}},
		{"empty group", Config{Groups: []GroupConfig{{Name: "G"}}}, []string{"groups[0].components: a group needs at least one component"}},
		{"maintenance", Config{Maintenance: []MaintenanceConfig{{Start: at, End: at}, {Name: "x"}}},
			[]string{"maintenance[0].name: a maintenance needs a name", "maintenance[0].end: must be after start", "maintenance[1].start: a start time is required"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) {
				t.Errorf("not a FieldError: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v\nlacks %q", err, w)
				}
			}
		})
	}
}

// root stands for cmd/vigie's document: the section under status_page.
type root struct {
	StatusPage Config `yaml:"status_page"`
}

func (r root) Validate() error { return config.Prefix("status_page", r.StatusPage.Validate()) }

func TestConfigErrorsHaveLines(t *testing.T) {
	doc := `status_page:
  groups:
    - name: Core
      components:
        - name: API
          probe: api
          heartbeat: backup
  maintenance:
    - name: Upgrade
      start: 2030-01-17T12:00:00Z
      end: 2030-01-17T11:00:00Z
`
	var r root
	err := config.Decode("vigie.yml", []byte(doc), &r)
	for _, want := range []string{
		"vigie.yml:7:22: status_page.groups[0].components[0].heartbeat: set one of probe, heartbeat or file",
		"vigie.yml:11:12: status_page.maintenance[0].end: must be after start",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v\nlacks %s", err, want)
		}
	}
	err = config.Decode("vigie.yml", []byte("status_page:\n  groups:\n    - name: x\n      components: [{name: a, probe: p, url: u}]\n"), &r)
	if err == nil || !strings.Contains(err.Error(), "vigie.yml:4:") || !strings.Contains(err.Error(), "url") {
		t.Errorf("unknown key: %v", err)
	}
}

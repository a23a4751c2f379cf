package heartbeat

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

func TestConfigDecode(t *testing.T) {
	var c Config
	src := `
heartbeats:
  - name: backup
    schedule: "0 3 * * *"
    timezone: Europe/Paris
    max_runtime: 1h
  - name: sync
    period: 5m
    grace: 1m
files:
  - name: pg
    path: /backup/pg/*.dump
    max_age: 26h
    min_size: 10MiB
  - name: small
    path: /x/*
    min_size: 1500
`
	if err := yaml.Unmarshal([]byte(src), &c); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Heartbeats[0].Grace.D() != DefaultGrace || c.Heartbeats[0].MaxRuntime.D() != time.Hour || c.Heartbeats[1].Grace.D() != time.Minute {
		t.Errorf("heartbeats: %+v", c.Heartbeats)
	}
	if c.Files[0].MinSize != 10<<20 || c.Files[1].MinSize != 1500 || c.Files[0].MaxAge.D() != 26*time.Hour {
		t.Errorf("files: %+v", c.Files)
	}
	err := yaml.Unmarshal([]byte("heartbeats:\n  - name: x\n    perod: 5m\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "line 3:5: field perod not found") {
		t.Errorf("unknown key: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	c := Config{
		Heartbeats: []HeartbeatConfig{
			{Name: "ok", Period: dur(time.Minute)},
			{Name: "ok", Period: dur(time.Minute)},
			{Name: "none"},
			{Name: "both", Period: dur(time.Minute), Schedule: "@daily"},
			{Name: "bad cron", Schedule: "61 * * * *"},
			{Name: "tz", Schedule: "@daily", Timezone: "Mars/Olympus", Grace: dur(-time.Second)},
			{Name: "tzp", Period: dur(time.Minute), Timezone: "UTC"},
			{Name: "crontz", Schedule: "CRON_TZ=UTC 0 3 * * *"},
		},
		Files: []FileConfig{{Name: "f"}, {Name: "g", Path: "/a/[", MinSize: -1}},
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`heartbeats[1].name: duplicate name "ok" (also [0])`,
		`heartbeats[2]: period or schedule is required`,
		`heartbeats[3].schedule: period and schedule are mutually exclusive`,
		`heartbeats[4].name: "bad cron": only letters`,
		`heartbeats[4].schedule: invalid cron schedule "61 * * * *"`,
		`heartbeats[5].timezone: unknown time zone "Mars/Olympus"`,
		`heartbeats[5].grace: must not be negative`,
		`heartbeats[6].timezone: only applies to a schedule`,
		`heartbeats[7].schedule: set the time zone with the timezone key`,
		`files[0].path: required`,
		`files[1].path: invalid glob`,
		`files[1].min_size: must not be negative`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

package status

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// A file check on the page, on real parts: a state database, a real file
// check over a temporary directory, the page's HTTP routes. A fresh
// backup is operational; a day later, with no newer file, it is stale
// (down) from the moment max_age passed; a new backup brings it back.
func TestFileCheckComponent(t *testing.T) {
	ctx := context.Background()
	t0 := time.Date(2030, 1, 10, 0, 0, 0, 0, time.UTC)
	clk := &clock{t: t0}
	db := openState(t, filepath.Join(t.TempDir(), "state.db"))
	t.Cleanup(func() { db.Close() })
	hist, err := uptime.OpenHistory(ctx, db, clk.now, uptime.RetentionConfig{
		Checks: config.Duration(30 * 24 * time.Hour), Daily: config.Duration(400 * 24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "backup"), 0o755); err != nil {
		t.Fatal(err)
	}
	backup := func(at time.Time) {
		t.Helper()
		p := filepath.Join(root, "backup", at.Format("20060102-1504")+".dump")
		if err := os.WriteFile(p, make([]byte, 5000), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	backup(t0)
	hb, err := heartbeat.New(ctx, heartbeat.Options{StateDB: db, RootPath: root, Now: clk.now, Config: heartbeat.Config{
		Files: []heartbeat.FileConfig{{Name: "db-dumps", Path: "/backup/*.dump", MaxAge: config.Duration(24 * time.Hour), MinSize: 1000}}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Groups: []GroupConfig{{Name: "Backups", Components: []ComponentConfig{{Name: "Database dumps", File: "db-dumps"}}}}}
	page, err := New(ctx, Options{Config: cfg, History: hist, Heartbeats: hb, Files: hb, StateDB: db, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(page.Routes()...)
	srv := httptest.NewServer(web.SecureHeaders(mux))
	t.Cleanup(srv.Close)

	view := func(at time.Time) *ComponentView {
		t.Helper()
		clk.set(at)
		s, ok, err := page.snapshot(ctx)
		if err != nil || !ok {
			t.Fatal(ok, err)
		}
		c := s.byID["database-dumps"]
		if c == nil || c.Kind != "file" || len(c.Days) != Days || len(c.Uptime) != len(Windows) {
			t.Fatalf("component: %+v", c)
		}
		return c
	}
	c := view(t0) // first seen: watched from now on
	if c.State != StateOperational || c.Since == nil || !c.Since.Equal(t0) {
		t.Errorf("fresh backup: %s since %v", c.State, c.Since)
	}
	c = view(t0.Add(2 * time.Hour))
	if d := c.Days[Days-1]; d.Uptime != 1 || c.Days[Days-2].Uptime != -1 {
		t.Errorf("today %+v, yesterday (not watched) %+v", d, c.Days[Days-2])
	}

	// 30 h later, no newer backup: stale since t0+24h.
	c = view(t0.Add(30 * time.Hour))
	if c.State != StateDown || c.Since == nil || !c.Since.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("stale backup: %s since %v", c.State, c.Since)
	}
	if d := c.Days[Days-2]; d.Uptime != 1 || d.Outages != 0 {
		t.Errorf("first day: %+v", d)
	}
	if d := c.Days[Days-1]; d.Uptime != 0 || d.Outages != 1 {
		t.Errorf("stale day: %+v", d)
	}
	if r := c.Uptime[0].Ratio; r != 0.75 { // 18 h up of the last 24 h
		t.Errorf("24h uptime %v", r)
	}
	if r := c.Uptime[3].Ratio; r != 0.8 { // 24 h up of 30 h watched
		t.Errorf("90d uptime %v", r)
	}
	_, body := get(t, srv.URL+"/status")
	comps := componentRE.FindAllStringSubmatch(body, -1)
	if len(comps) != 1 || comps[0][1] != "database-dumps" || !strings.Contains(body, "Database dumps") {
		t.Fatalf("page components: %v", comps)
	}
	bars := barRE.FindAllStringSubmatch(comps[0][2], -1)
	if len(bars) != Days || bars[Days-1][1] != "major" || bars[Days-2][1] != "ok" || bars[Days-3][1] != "none" {
		t.Errorf("bars: %d, last three %v", len(bars), bars[len(bars)-3:])
	}
	for _, want := range []string{"Major outage", `<span class="state down">Outage <span class="since">since 11 Jan 2030 00:00 UTC</span></span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	// A new backup at t0+30h: operational again; the day is half up at t0+36h.
	backup(t0.Add(30 * time.Hour))
	c = view(t0.Add(36 * time.Hour))
	if c.State != StateOperational || !c.Since.Equal(t0.Add(30*time.Hour)) {
		t.Errorf("new backup: %s since %v", c.State, c.Since)
	}
	if d := c.Days[Days-1]; d.Uptime != 0.5 || d.Outages != 1 {
		t.Errorf("day with the new backup: %+v", d)
	}
}

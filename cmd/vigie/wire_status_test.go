package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/internal/vigietest"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// statusConfig adds a second probe, listed on the status page by name; the
// first one shows itself there through its own status block.
func statusConfig(url string) string {
	return probeConfig(url) + fmt.Sprintf(`    - name: api
      url: %s/api
      interval: 1s
status_page:
  title: Acme status
  groups:
    - name: Core
      components:
        - {name: Storefront API, probe: api}
`, url)
}

var statusBarRE = regexp.MustCompile(`<li class="bar (ok|minor|major|none)" title="[^"]*"></li>`)

// The status page serves both components with 90 daily bars each, as HTML
// and JSON; a critical alert on a shown probe opens an incident, which the
// API and `vigie incident list` show.
func TestStatusPageEndToEnd(t *testing.T) {
	target, fail := flipServer(t)
	ta := startApp(t, statusConfig(target.URL), appOptions{})
	vigietest.Eventually(t, 20*time.Second, "both probes up", func() bool {
		return len(ta.Query(`probe_success == 1`)) == 2
	})

	resp, err := http.Get(ta.URL("/status"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(body)
	if resp.StatusCode != 200 || !strings.Contains(page, "Acme status") || !strings.Contains(page, "Web shop") ||
		!strings.Contains(page, "Storefront API") {
		t.Fatalf("GET /status: %d\n%s", resp.StatusCode, page)
	}
	if n := len(statusBarRE.FindAllString(page, -1)); n != 2*90 {
		t.Errorf("GET /status: %d daily bars, want 180 (90 per component)", n)
	}
	if strings.Contains(page, target.URL) {
		t.Errorf("GET /status shows the probes' URL without show_url")
	}

	resp, err = http.Get(ta.URL("/status.json"))
	if err != nil {
		t.Fatal(err)
	}
	var snap struct {
		Title  string `json:"title"`
		Groups []struct {
			Name       string `json:"name"`
			Components []struct {
				Name  string            `json:"name"`
				State string            `json:"state"`
				Days  []json.RawMessage `json:"days"`
			} `json:"components"`
		} `json:"groups"`
	}
	err = json.NewDecoder(resp.Body).Decode(&snap)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("/status.json: %v", err)
	}
	got := map[string]int{}
	for _, g := range snap.Groups {
		for _, c := range g.Components {
			got[g.Name+"/"+c.Name] = len(c.Days)
		}
	}
	if snap.Title != "Acme status" || len(got) != 2 || got["Core/Storefront API"] != 90 || got["Services/Web shop"] != 90 {
		t.Errorf("/status.json: title %q, components (days) %v", snap.Title, got)
	}

	// ProbeFailing is critical: it opens an incident on the page.
	fail.Store(true)
	var list string
	vigietest.Eventually(t, 30*time.Second, "an incident opened by ProbeFailing", func() bool {
		code, out, errOut := runArgs("incident", "list", "--url", ta.URL(""))
		if code != 0 {
			t.Fatalf("vigie incident list: exit %d: %s", code, errOut)
		}
		list = out
		return strings.Contains(out, "Storefront API") && strings.Contains(out, "Web shop")
	})
	if strings.Contains(list, target.URL) {
		t.Errorf("incident titles show the probes' URL: %s", list)
	}
	vigietest.Eventually(t, 20*time.Second, "vigie_status_incidents_open stored", func() bool {
		s := ta.Query(`vigie_status_incidents_open{impact="major"}`)
		return len(s) == 1 && s[0].Float() >= 1
	})
}

// A component naming no configured probe is refused with file:line.
func TestStatusPageUnknownProbeRefused(t *testing.T) {
	file := writeConfig(t, statusConfig("http://127.0.0.1:1")+"        - {name: Ghost, probe: nope}\n")
	_, err := loadConfig(file)
	if err == nil || !strings.Contains(err.Error(), file+":") ||
		!strings.Contains(err.Error(), `status_page.groups[0].components[1].probe: unknown probe "nope"`) {
		t.Fatalf("loadConfig: %v", err)
	}
}

// recordSink keeps what reaches notify.
type recordSink struct{ got []rules.Alert }

func (s *recordSink) Send(_ context.Context, as []rules.Alert) { s.got = append(s.got, as...) }

// During a scheduled maintenance of a component, its firing alerts do not
// reach notify and open no incident; its resolutions and other alerts do.
func TestStatusMaintenanceMutesAlertsBeforeNotify(t *testing.T) {
	now := time.Date(2026, 12, 24, 22, 30, 0, 0, time.UTC)
	cfgYAML := statusConfig("http://127.0.0.1:1") + `        - {name: Web, probe: web}
  maintenance:
    - name: Database upgrade
      components: [Storefront API]
      start: 2026-12-24T22:00:00Z
      end: 2026-12-24T23:00:00Z
`
	cfg, err := loadConfig(writeConfig(t, cfgYAML))
	if err != nil {
		t.Fatal(err)
	}
	state, err := storage.OpenState(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = state.Close() })
	up, err := uptime.New(uptime.Options{Config: cfg.Uptime, StateDB: state})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := newStatusComponent(t.Context(), cfg, up, nil, state, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	next := &recordSink{}
	alert := func(probe, st string) rules.Alert {
		return rules.Alert{Labels: labels.FromStrings("alertname", "ProbeFailing", "probe", probe, "severity", "critical"),
			Annotations: labels.FromStrings("summary", probe+" is down"), State: st}
	}
	sc.sink(next).Send(t.Context(), []rules.Alert{alert("api", "firing"), alert("api", "resolved"), alert("web", "firing")})
	var sent []string
	for _, a := range next.got {
		sent = append(sent, a.Labels.Get("probe")+":"+a.State)
	}
	if want := []string{"api:resolved", "web:firing"}; !slices.Equal(sent, want) {
		t.Errorf("sent to notify %q, want %q", sent, want)
	}
	incidents, err := sc.page.Incidents(t.Context(), time.Hour, 10)
	if err != nil {
		t.Fatal(err)
	}
	var titles []string
	for _, in := range incidents {
		titles = append(titles, in.Title)
	}
	if len(incidents) != 1 || !slices.Equal(incidents[0].Components, []string{"Web"}) {
		t.Errorf("incidents %q, want one on Web", titles)
	}
}

// A reload changes the page; one naming an unknown probe is refused whole.
func TestStatusPageReload(t *testing.T) {
	target, _ := flipServer(t)
	ta := startApp(t, statusConfig(target.URL), appOptions{})
	title := func() string {
		resp, err := http.Get(ta.URL("/status.json"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var s struct {
			Title string `json:"title"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
			t.Fatal(err)
		}
		return s.Title
	}
	if got := title(); got != "Acme status" {
		t.Fatalf("title %q", got)
	}
	replaceFile(t, ta.cfgFile, strings.Replace(statusConfig(target.URL), "Acme status", "Acme", 1))
	if err := ta.a.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := title(); got != "Acme" {
		t.Fatalf("title after reload %q, want Acme", got)
	}
	replaceFile(t, ta.cfgFile, strings.Replace(statusConfig(target.URL), "probe: api}", "probe: nope}", 1))
	err := ta.a.reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), `unknown probe "nope"`) {
		t.Fatalf("reload naming an unknown probe: %v", err)
	}
	if got := title(); got != "Acme" {
		t.Fatalf("title after a refused reload %q, want Acme", got)
	}
}

// statusFileConfig adds a file check (uptime.files) and a status page
// component naming ref as a file check.
func statusFileConfig(ref string) string {
	cfg := strings.Replace(statusConfig("http://127.0.0.1:1"), "status_page:", `  files:
    - {name: dumps, path: /backup/*.dump, max_age: 24h}
status_page:`, 1)
	return cfg + "        - {name: Database dumps, file: " + ref + "}\n"
}

// A component naming no configured file check is refused with file:line.
func TestStatusPageUnknownFileCheckRefused(t *testing.T) {
	file := writeConfig(t, statusFileConfig("nope"))
	_, err := loadConfig(file)
	if err == nil || !strings.Contains(err.Error(), file+":") ||
		!strings.Contains(err.Error(), `status_page.groups[0].components[1].file: unknown file check "nope"`) {
		t.Fatalf("loadConfig: %v", err)
	}
}

// A file check named by a component shows on the page, from the
// heartbeats component the app builds: operational with a fresh backup,
// down once it is older than max_age.
func TestStatusPageFileCheck(t *testing.T) {
	cfg, err := loadConfig(writeConfig(t, statusFileConfig("dumps")))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 24, 4, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	root := t.TempDir()
	dump := filepath.Join(root, "backup", "db.dump")
	if err := os.MkdirAll(filepath.Dir(dump), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dump, []byte("dump"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(dump, now, now); err != nil {
		t.Fatal(err)
	}
	state, err := storage.OpenState(t.Context(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = state.Close() })
	up, err := uptime.New(uptime.Options{Config: cfg.Uptime, StateDB: state})
	if err != nil {
		t.Fatal(err)
	}
	hb, err := heartbeat.New(t.Context(), heartbeat.Options{Config: cfg.Uptime.Heartbeat, StateDB: state, RootPath: root, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := newStatusComponent(t.Context(), cfg, up, hb, state, prometheus.NewRegistry(), slog.New(slog.DiscardHandler), clock)
	if err != nil {
		t.Fatal(err)
	}
	mux := web.NewMux()
	mux.Handle(sc.Routes()...)
	dumps := func() (string, int) {
		t.Helper()
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/status.json", nil))
		var snap struct {
			Groups []struct {
				Components []struct {
					Name, Kind, State string
					Days              []json.RawMessage
				} `json:"components"`
			} `json:"groups"`
		}
		if err := json.NewDecoder(rec.Body).Decode(&snap); err != nil {
			t.Fatalf("/status.json: %d %v", rec.Code, err)
		}
		for _, g := range snap.Groups {
			for _, c := range g.Components {
				if c.Name == "Database dumps" && c.Kind == "file" {
					return c.State, len(c.Days)
				}
			}
		}
		t.Fatalf("/status.json has no file component: %+v", snap)
		return "", 0
	}
	if st, days := dumps(); st != "operational" || days != 90 {
		t.Errorf("fresh backup: %s, %d days", st, days)
	}
	now = now.Add(25 * time.Hour) // past the snapshot cache and max_age
	if st, _ := dumps(); st != "down" {
		t.Errorf("stale backup: %s, want down", st)
	}
}

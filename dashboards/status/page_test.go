package status

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
)

var (
	componentRE = regexp.MustCompile(`(?s)<div class="card component" id="c-([a-z0-9-]+)">(.*?)</dl>`)
	barRE       = regexp.MustCompile(`<li class="bar (ok|minor|major|none)" title="([^"]*)"></li>`)
)

func TestPageHTML(t *testing.T) {
	f := newFixture(t)
	resp, body := get(t, f.srv.URL+"/status")
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /status: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	if csp := resp.Header.Get("Content-Security-Policy"); csp != web.CSP {
		t.Errorf("CSP %q", csp)
	}
	if strings.Contains(body, "<script") || strings.Contains(body, "http://") && strings.Contains(body, "internal.example") {
		t.Error("page has a script or an internal URL")
	}
	if strings.Contains(body, internalURL) || strings.Contains(body, "docs.internal.example") {
		t.Error("an internal URL is shown without show_url")
	}
	if strings.Contains(body, "/ping/") {
		t.Error("a heartbeat's ping URL (its token) is on the page")
	}
	if !strings.Contains(body, "https://www.example.com/") {
		t.Error("the website's URL (show_url: true) is missing")
	}
	comps := componentRE.FindAllStringSubmatch(body, -1)
	want := []string{"api", "website", "status-api", "nightly-backup", "documentation"} // auto components join their group
	if len(comps) != len(want) {
		t.Fatalf("%d components, want %d", len(comps), len(want))
	}
	day := fixtureNow.Truncate(24 * time.Hour)
	for i, c := range comps {
		if c[1] != want[i] {
			t.Errorf("component %d is %s, want %s", i, c[1], want[i])
		}
		bars := barRE.FindAllStringSubmatch(c[2], -1)
		if len(bars) != Days {
			t.Fatalf("%s: %d bars, want %d", c[1], len(bars), Days)
		}
		if c[1] != "api" {
			continue
		}
		for j, b := range bars {
			ago := Days - 1 - j
			date := day.AddDate(0, 0, -ago).Format("Mon 2 Jan 2006")
			switch {
			case ago == gapFirst || ago == gapLast:
				if b[1] != "none" || b[2] != date+": no data" {
					t.Errorf("gap day %d: %q %q", ago, b[1], b[2])
				}
			case ago == 10:
				if b[1] != "major" || !strings.HasPrefix(b[2], date+": 93.75% uptime, 1 outage") {
					t.Errorf("outage day: %q %q", b[1], b[2])
				}
			default:
				if b[1] != "ok" || b[2] != date+": 100.00% uptime" {
					t.Errorf("day %d ago: %q %q (restart lost a day?)", ago, b[1], b[2])
				}
			}
		}
	}
	for _, s := range []string{"Partial outage", `<span class="state down">Outage <span class="since">since 15 Jan 2030 10:00 UTC</span></span>`, "Scheduled maintenance: Database upgrade",
		`<svg viewBox="0 0 600 100"`, "<dt>90d</dt>", "Jobs", "Extras"} {
		if !strings.Contains(body, s) {
			t.Errorf("page lacks %q", s)
		}
	}
	resp, css := get(t, f.srv.URL+"/status/assets/status.css")
	if resp.StatusCode != 200 || !strings.Contains(css, "prefers-color-scheme: dark") {
		t.Errorf("css: %d", resp.StatusCode)
	}
}

func TestHeartbeatComponent(t *testing.T) {
	f := newFixture(t)
	s, ok, err := f.page.snapshot(context.Background())
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	c := s.byID["nightly-backup"]
	if c.State != StateOperational || c.Kind != "heartbeat" {
		t.Fatalf("backup: %+v", c)
	}
	// Five days ago the job went missing from +1h05 to +3h.
	d := c.Days[Days-6]
	if d.Outages != 1 || d.Uptime < 0.84 || d.Uptime > 0.841 { // 1h55 of 12h
		t.Errorf("day with the outage: %+v", d)
	}
	if c.Days[Days-7].Uptime != -1 || c.Days[Days-2].Uptime != 1 {
		t.Errorf("before the first ping %v, yesterday %v", c.Days[Days-7].Uptime, c.Days[Days-2].Uptime)
	}
	missing := (3*time.Hour - 65*time.Minute).Seconds()
	want := 1 - missing/(5*24*time.Hour).Seconds()
	if u := c.Uptime[3].Ratio; u < want-1e-6 || u > want+1e-6 {
		t.Errorf("90d uptime %v, want %v", u, want)
	}
}

func TestJSONBadgesFeed(t *testing.T) {
	f := newFixture(t)
	in, err := f.page.OpenIncident(context.Background(), NewIncident{Title: "Slow API <b>", Components: []string{"API"}, Message: "Looking"})
	if err != nil {
		t.Fatal(err)
	}
	if _, page := get(t, f.srv.URL+"/status"); !strings.Contains(page, "<h3>Slow API &lt;b&gt;</h3>") {
		t.Error("incident title not escaped")
	}
	resp, body := get(t, f.srv.URL+"/status.json")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("json: %d", resp.StatusCode)
	}
	var s Snapshot
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if s.Overall != StatePartialOutage || len(s.Groups) != 3 || len(s.Incidents) != 1 || s.Incidents[0].ID != in.ID {
		t.Errorf("json: overall %s, %d groups, incidents %+v", s.Overall, len(s.Groups), s.Incidents)
	}
	if strings.Contains(body, "internal.example") {
		t.Error("json shows an internal URL")
	}
	api := s.Groups[0].Components[0]
	if len(api.Days) != Days || api.Uptime[0].Window != "24h" || api.Uptime[0].Ratio != 1 || len(api.ResponseTimes) == 0 {
		t.Errorf("api: %d days, uptime %+v, %d points", len(api.Days), api.Uptime, len(api.ResponseTimes))
	}
	for _, tc := range []struct{ path, code, text string }{
		{"/status/badge/api.svg", "200", ">up</text>"},
		{"/status/badge/website.svg", "200", ">down</text>"},
		{"/status/badge/api.svg?kind=uptime&window=30d", "200", "API 30d"},
		{"/status/badge/api.svg?kind=uptime&window=24h", "200", ">100.00%</text>"},
		{"/status/badge/api.svg?kind=uptime&window=1y", "400", ""},
		{"/status/badge/nope.svg", "404", ""},
		{"/status/badge/api", "404", ""},
	} {
		resp, body := get(t, f.srv.URL+tc.path)
		if got := resp.Status[:3]; got != tc.code || !strings.Contains(body, tc.text) {
			t.Errorf("%s: %s %s", tc.path, resp.Status, body)
			continue
		}
		if tc.code == "200" {
			if resp.Header.Get("Content-Type") != "image/svg+xml" {
				t.Errorf("%s: %s", tc.path, resp.Header.Get("Content-Type"))
			}
			var v struct{ XMLName xml.Name }
			if err := xml.Unmarshal([]byte(body), &v); err != nil || v.XMLName.Local != "svg" {
				t.Errorf("%s: not SVG: %v", tc.path, err)
			}
		}
	}
	resp, body = get(t, f.srv.URL+"/status/feed.atom")
	var feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"title"`
		Entries []struct {
			Title   string `xml:"title"`
			ID      string `xml:"id"`
			Updated string `xml:"updated"`
			Content string `xml:"content"`
		} `xml:"entry"`
	}
	if err := xml.Unmarshal([]byte(body), &feed); err != nil {
		t.Fatalf("feed: %v\n%s", err, body)
	}
	if resp.Header.Get("Content-Type") != "application/atom+xml; charset=utf-8" || feed.Title != "Acme status: incidents" ||
		len(feed.Entries) != 1 || feed.Entries[0].Title != "Slow API <b>" || !strings.HasSuffix(feed.Entries[0].ID, "/status#incident-1") ||
		!strings.Contains(feed.Entries[0].Content, "(investigating): Looking") {
		t.Errorf("feed: %+v", feed)
	}
	if _, err := time.Parse(time.RFC3339, feed.Entries[0].Updated); err != nil {
		t.Error(err)
	}
}

func TestDisabled(t *testing.T) {
	f := newFixture(t)
	off := false
	cfg := pageConfig()
	cfg.Enabled = &off
	if err := f.page.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/status", "/status.json", "/status/badge/api.svg", "/status/feed.atom"} {
		if resp, _ := get(t, f.srv.URL+p); resp.StatusCode != 404 {
			t.Errorf("%s: %d with the page disabled", p, resp.StatusCode)
		}
	}
}

func TestRoutesAccess(t *testing.T) {
	f := newFixture(t)
	mux := web.NewMux()
	mux.Handle(f.page.Routes()...)
	for p, a := range mux.Routes() {
		want := web.Public
		switch {
		case strings.HasPrefix(p, "POST "):
			want = web.Admin
		case strings.HasPrefix(p, "GET /api/"):
			want = web.Read
		}
		if a != want {
			t.Errorf("%s is %s, want %s", p, a, want)
		}
	}
}

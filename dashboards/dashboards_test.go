package dashboards

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/scaling"
)

func TestPagesRender(t *testing.T) {
	e := newTestEnv(t, 6, 2*time.Hour, 15*time.Second)
	c, _ := e.login(t)
	for _, tc := range []struct {
		path  string
		wants []string
	}{
		{"/", []string{"<polyline", "CPU used", "Memory used", "Disk used", "Network received", `href="/containers/c00"`, "ContainerHighCPU", "2 / 3", "No PostgreSQL instance"}},
		{"/?range=7d", []string{"<polyline", `<option value="7d" selected>`}},
		{"/host", []string{"<polyline", "Load average"}},
		{"/containers/c01", []string{"<polyline", "CPU (cores) against its limit", "limit", "working set"}},
		{"/services/web", []string{"<polyline", `href="/containers/c05"`}},
		{"/postgres", []string{"Connections by state", "No data in this range."}},
		{"/alerts", []string{"ContainerHighCPU", "Acknowledge", "/silences?matcher=alertname%3D%22ContainerHighCPU%22"}},
		{"/silences", []string{"New silence", "No silence."}},
		{"/rules", []string{"No rule loaded."}},
		{"/targets", []string{"No scrape target"}},
		{"/graph", []string{`name="g0.expr"`}},
		{"/graph?g0.expr=" + url.QueryEscape(`sum by (name) (container_memory_working_set_bytes)`), []string{"<polyline", `{name=&#34;c03&#34;}`}},
		{"/graph?g0.expr=" + url.QueryEscape(`sum(`), []string{`class="error"`}},
		{"/delivery", []string{"Provider answer"}},
		{"/assets/vigie.css", []string{"prefers-color-scheme: dark"}},
	} {
		resp, body := e.get(t, c, tc.path)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", tc.path, resp.StatusCode)
			continue
		}
		mustContain(t, tc.path, body, tc.wants...)
		if strings.Contains(body, "<script>") || strings.Contains(body, " onclick=") {
			t.Errorf("%s has an inline script or handler (the CSP forbids them)", tc.path)
		}
	}
}

func TestSilenceFromAlertAndAcknowledge(t *testing.T) {
	e := newTestEnv(t, 2, time.Hour, 15*time.Second)
	c, csrf := e.login(t)
	_, page := e.get(t, c, "/silences?matcher="+url.QueryEscape(`alertname="ContainerHighCPU"`)+"&matcher="+url.QueryEscape(`name="c00"`))
	mustContain(t, "prefilled silence form", page, "alertname=&#34;ContainerHighCPU&#34;\nname=&#34;c00&#34;</textarea>")

	// Without the CSRF token: refused.
	if resp, _ := e.post(t, c, "/silences", url.Values{"matchers": {`name="c00"`}}); resp.StatusCode != http.StatusForbidden {
		t.Errorf("silence without CSRF token: %d", resp.StatusCode)
	}
	resp, body := e.post(t, c, "/silences", url.Values{"csrf_token": {csrf}, "matchers": {"alertname=\"ContainerHighCPU\"\nname=~\"c0.\""}, "duration": {"1h"}, "comment": {"maintenance"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Silence created.") {
		t.Fatalf("create silence: %d %s", resp.StatusCode, body)
	}
	ss := e.notifier.Silences()
	if len(ss) != 1 || ss[0].CreatedBy != testUser || ss[0].Comment != "maintenance" || !ss[0].Matchers[1].IsRegex {
		t.Fatalf("silences %+v", ss)
	}
	_, alerts := e.get(t, c, "/alerts")
	mustContain(t, "alerts page", alerts, `<table id="silenced">`, ss[0].ID)

	// A bad matcher is reported, the form keeps what was typed.
	resp, body = e.post(t, c, "/silences", url.Values{"csrf_token": {csrf}, "matchers": {"nonsense"}})
	if resp.StatusCode != 400 || !strings.Contains(body, "nonsense") {
		t.Errorf("bad matcher: %d", resp.StatusCode)
	}
	// Expire it: the alert is active again, then acknowledge it.
	if resp, _ := e.post(t, c, "/silences/"+ss[0].ID+"/expire", url.Values{"csrf_token": {csrf}}); resp.StatusCode != 200 {
		t.Errorf("expire: %d", resp.StatusCode)
	}
	fp := e.alert.Fingerprint()
	resp, body = e.post(t, c, "/alerts/"+fp+"/ack", url.Values{"csrf_token": {csrf}})
	if resp.StatusCode != 200 || !strings.Contains(body, "Alert acknowledged.") {
		t.Fatalf("ack: %d %s", resp.StatusCode, body)
	}
	if a := e.notifier.Alerts(); len(a) != 1 || a[0].Acknowledged == nil || a[0].Acknowledged.CreatedBy != testUser {
		t.Errorf("alert not acknowledged by %s: %+v", testUser, a)
	}
	_, alerts = e.get(t, c, "/alerts")
	mustContain(t, "alerts page", alerts, `<table id="acknowledged">`)
}

func TestParseMatchers(t *testing.T) {
	ms, err := parseMatchers("a=\"1\"\nb!=2, c=~\"x.*\"\nd!~y")
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		name, value  string
		regex, equal bool
	}{{"a", "1", false, true}, {"b", "2", false, false}, {"c", "x.*", true, true}, {"d", "y", true, false}}
	for i, w := range want {
		m := ms[i]
		if m.Name != w.name || m.Value != w.value || m.IsRegex != w.regex || *m.IsEqual != w.equal {
			t.Errorf("matcher %d: %+v, want %+v", i, m, w)
		}
	}
	for _, bad := range []string{"", "novalue", "=x"} {
		if _, err := parseMatchers(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestChartLayout(t *testing.T) {
	if niceCeil(0.73) != 1 || niceCeil(130) != 200 || niceCeil(2.2) != 2.5 {
		t.Error("niceCeil")
	}
	if got := formatValue(3<<30, "bytes"); got != "3.00 GiB" {
		t.Errorf("formatValue: %s", got)
	}
}

// TestNamedSeriesKeepTheirValues: the usage and limit series of a chart
// keep their own points (the engine's pooled memory is copied).
func TestNamedSeriesKeepTheirValues(t *testing.T) {
	e := newTestEnv(t, 2, time.Hour, 15*time.Second)
	c, _ := e.login(t)
	_, body := e.get(t, c, "/containers/c00")
	mustContain(t, "container page", body, "limit <b>0.5</b>", "usage <b>0.01</b>", "limit <b>512 MiB</b>", "working set <b>")
	if strings.Contains(body, "working set <b>0 B</b>") {
		t.Error("the working set shows 0 B")
	}
}

type fixedScaling scaling.Result

func (f fixedScaling) Last() scaling.Result { return scaling.Result(f) }

// TestScalingRecommendations: the overview shows the scaler's last
// recommendations when the scaling component is wired.
func TestScalingRecommendations(t *testing.T) {
	e := newTestEnv(t, 1, time.Hour, 15*time.Second)
	res := scaling.Result{Services: []scaling.ServiceStatus{{Service: "shop_web", Command: "docker service scale shop_web=4",
		Recommendation: scaling.Recommendation{Current: 2, Desired: 4, Reasons: []string{"cpu at 90% of its target"}}}}}
	e.ui.o.Scaling = func() Scaling { return fixedScaling(res) }
	c, _ := e.login(t)
	_, body := e.get(t, c, "/")
	mustContain(t, "overview", body, "Scaling recommendations", "shop_web", "docker service scale shop_web=4", "cpu at 90% of its target")
}

// TestFavicon: /favicon.ico answers 204 without a session, so a page
// without an icon link (the acknowledgement page) logs no 404.
func TestFavicon(t *testing.T) {
	e := newTestEnv(t, 1, 15*time.Minute, 15*time.Second)
	resp, _ := e.get(t, http.DefaultClient, "/favicon.ico")
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("/favicon.ico: %d, want 204", resp.StatusCode)
	}
}

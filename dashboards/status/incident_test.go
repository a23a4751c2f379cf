package status

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestIncidentsFromAlerts(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	open := func() []Incident {
		t.Helper()
		list, err := f.page.Incidents(ctx, time.Hour, 100)
		if err != nil {
			t.Fatal(err)
		}
		return list
	}
	// An alert on a component's probe, by instance: an incident opens once.
	// The summary names the hidden target: the title names the component.
	labels := map[string]string{"alertname": "ProbeFailing", "instance": internalURL, "job": "uptime", "severity": "critical"}
	f.page.OnAlert(labels, true, internalURL+" is unreachable")
	f.page.OnAlert(labels, true, internalURL+" is unreachable")
	// Alerts on nothing shown, and warnings, are ignored.
	f.page.OnAlert(map[string]string{"alertname": "DiskFull", "instance": "db1:9100", "severity": "critical"}, true, "disk")
	f.page.OnAlert(map[string]string{"alertname": "TLSCertificateExpiringSoon", "instance": internalURL, "severity": "warning"}, true, "cert")
	list := open()
	if len(list) != 1 || list[0].Title != "API is unreachable" || list[0].Source != "alert" || list[0].Components[0] != "API" || list[0].Impact != ImpactMajor {
		t.Fatalf("incidents: %+v", list)
	}
	// A heartbeat's alert, by name label, without summary.
	f.page.OnAlert(map[string]string{"alertname": "HeartbeatMissing", "name": "backup", "severity": "critical"}, true, "")
	if l := open(); len(l) != 2 || l[0].Title != "Nightly backup: HeartbeatMissing" {
		t.Fatalf("heartbeat incident: %+v", l)
	}
	f.clk.set(fixtureNow.Add(10 * time.Minute))
	f.page.OnAlert(labels, false, "")
	list = open()
	var api Incident
	for _, in := range list {
		if in.Components[0] == "API" {
			api = in
		}
	}
	if api.ResolvedAt == nil || !api.ResolvedAt.Equal(fixtureNow.Add(10*time.Minute)) || api.Status != Resolved || len(api.Updates) != 2 {
		t.Fatalf("not resolved: %+v", api)
	}
	// Firing again opens a new incident.
	f.page.OnAlert(labels, true, internalURL+" is unreachable again")
	l := open()
	if len(l) != 3 {
		t.Fatalf("%d incidents", len(l))
	}
	// Resolved by hand while the alert fires: its re-sends do not reopen it.
	if _, err := f.page.UpdateIncident(ctx, l[0].ID, Resolved, "Fixed by hand"); err != nil {
		t.Fatal(err)
	}
	f.page.OnAlert(labels, true, internalURL+" is unreachable again")
	for _, in := range open() {
		if in.ResolvedAt == nil && in.Components[0] == "API" {
			t.Fatalf("reopened: %+v", in)
		}
	}
	f.page.OnAlert(labels, false, "")
	f.page.OnAlert(labels, true, internalURL+" is unreachable again")
	if l := open(); len(l) != 4 || l[0].ResolvedAt != nil {
		t.Fatalf("a new firing after the resolution opens no incident: %+v", l)
	}
	_, body := get(t, f.srv.URL+"/status")
	if !strings.Contains(body, "API is unreachable again") || !strings.Contains(body, "incidents: API is unreachable again; API is unreachable again; API is unreachable\"") {
		t.Error("the page lacks the incidents or the bar's incident title")
	}
	if strings.Contains(body, "internal.example") {
		t.Error("an alert's summary put the internal URL on the page")
	}
}

func TestMaintenanceMutes(t *testing.T) {
	f := newFixture(t)
	labels := map[string]string{"alertname": "ProbeFailing", "probe": "api", "severity": "critical"}
	during := fixtureNow.Add(49 * time.Hour)
	if f.page.Muted(labels, fixtureNow) || f.page.Muted(labels, fixtureNow.Add(50*time.Hour)) {
		t.Error("muted outside the window")
	}
	if !f.page.Muted(labels, during) {
		t.Error("not muted during the window")
	}
	if f.page.Muted(map[string]string{"alertname": "X", "probe": "web"}, during) || f.page.Muted(map[string]string{"alertname": "X"}, during) {
		t.Error("an alert on another component, or on none, is muted")
	}
	// During the window the page says so, and alerts open no incident.
	f.clk.set(during)
	f.page.OnAlert(labels, true, "down")
	if l, _ := f.page.Incidents(context.Background(), time.Hour, 10); len(l) != 0 {
		t.Errorf("incident opened during maintenance: %+v", l)
	}
	_, body := get(t, f.srv.URL+"/status")
	if !strings.Contains(body, "Maintenance in progress: Database upgrade") || !strings.Contains(body, `<span class="state maintenance">`) {
		t.Error("maintenance not shown as in progress")
	}
}

func TestIncidentCLI(t *testing.T) {
	f := newFixture(t)
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := RunIncidentCLI(args, &out, &errb)
		return code, out.String(), errb.String()
	}
	u := "--url=" + f.srv.URL
	if code, out, _ := run("--help"); code != 0 || !strings.Contains(out, "Usage: vigie incident") {
		t.Errorf("--help: %d %q", code, out)
	}
	if code, out, _ := run("open", "--help"); code != 0 || !strings.Contains(out, "Usage: vigie incident") {
		t.Errorf("open --help: %d %q", code, out)
	}
	if code, _, errOut := run("open", u, "--title", "x", "--component", "Nope"); code != 1 || !strings.Contains(errOut, `unknown component "Nope": the page shows "API", "Website", "Nightly backup", "Documentation"`) {
		t.Errorf("unknown component: %d %q", code, errOut)
	}
	for _, args := range [][]string{{}, {"frobnicate", u}, {"open", u}, {"update", u, "x", "--status", "resolved", "--message", "m"}, {"open", "--bogus"}} {
		if code, _, errOut := run(args...); code != 2 || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q", args, code, errOut)
		}
	}
	code, out, errOut := run("open", u, "--title", "Payments delayed", "--component", "API", "--impact", "major", "--message", "Investigating delays")
	if code != 0 || out != "incident 1: Payments delayed (investigating)\n" {
		t.Fatalf("open: %d %q %q", code, out, errOut)
	}
	if code, out, _ := run("update", "1", u, "--status", "identified", "--message", "A queue is stuck"); code != 0 || !strings.Contains(out, "(identified)") {
		t.Errorf("update: %d %q", code, out)
	}
	if code, _, errOut := run("update", "99", u, "--status", "identified", "--message", "m"); code != 1 || !strings.Contains(errOut, "404") {
		t.Errorf("unknown id: %d %q", code, errOut)
	}
	if code, _, errOut := run("update", "1", u, "--status", "fixed", "--message", "m"); code != 1 || !strings.Contains(errOut, "status \"fixed\"") {
		t.Errorf("bad status: %d %q", code, errOut)
	}
	if code, out, _ := run("resolve", "1", u); code != 0 || !strings.Contains(out, "(resolved)") {
		t.Errorf("resolve: %d %q", code, out)
	}
	code, out, _ = run("list", u)
	if code != 0 || !strings.Contains(out, "Payments delayed") || !strings.Contains(out, "resolved") {
		t.Errorf("list: %d %q", code, out)
	}
	in, err := f.page.incidents.get(context.Background(), 1)
	if err != nil || len(in.Updates) != 3 || in.Updates[0].Message != "This incident has been resolved." || in.Updates[2].Message != "Investigating delays" {
		t.Errorf("stored: %+v %v", in, err)
	}
	_, body := get(t, f.srv.URL+"/status")
	if !strings.Contains(body, "A queue is stuck") || !strings.Contains(body, "Resolved 15 Jan 2030") {
		t.Error("page lacks the incident's updates")
	}
}

func TestIncidentAPI(t *testing.T) {
	f := newFixture(t)
	post := func(path, body string) (int, map[string]any) {
		t.Helper()
		resp, err := http.Post(f.srv.URL+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var v map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, v
	}
	for _, tc := range []struct {
		path, body string
		code       int
		errType    string
	}{
		{"/api/v1/incidents", `{"title": "x", "color": "red"}`, 400, "bad_data"},
		{"/api/v1/incidents", `{"title": ""}`, 400, "bad_data"},
		{"/api/v1/incidents", `{"title": "x", "impact": "huge"}`, 400, "bad_data"},
		{"/api/v1/incidents", `{"title": "x", "status": "resolved"}`, 400, "bad_data"},
		{"/api/v1/incidents/7/updates", `{"status": "resolved", "message": "m"}`, 404, "not_found"},
		{"/api/v1/incidents/abc/updates", `{"status": "resolved", "message": "m"}`, 404, "not_found"},
	} {
		code, v := post(tc.path, tc.body)
		if code != tc.code || v["status"] != "error" || v["errorType"] != tc.errType {
			t.Errorf("%s %s: %d %v", tc.path, tc.body, code, v)
		}
	}
	code, v := post("/api/v1/incidents", `{"title": "Slow checkout", "components": ["Website"], "impact": "minor"}`)
	data, _ := v["data"].(map[string]any)
	if code != 201 || data["id"] != float64(1) || data["status"] != Investigating {
		t.Fatalf("open: %d %v", code, v)
	}
	resp, body := get(t, f.srv.URL+"/api/v1/incidents")
	var list struct {
		Status string     `json:"status"`
		Data   []Incident `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || resp.StatusCode != 200 || list.Status != "success" ||
		len(list.Data) != 1 || list.Data[0].Updates[0].Message != "Slow checkout" {
		t.Errorf("list: %d %s", resp.StatusCode, body)
	}
}

func TestOpenIncidentsMetric(t *testing.T) {
	f := newFixture(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(f.page)
	if _, err := f.page.OpenIncident(context.Background(), NewIncident{Title: "a", Impact: ImpactMajor}); err != nil {
		t.Fatal(err)
	}
	want := `# HELP vigie_status_incidents_open Incidents open on the status page, by impact.
# TYPE vigie_status_incidents_open gauge
vigie_status_incidents_open{impact="major"} 1
vigie_status_incidents_open{impact="minor"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}

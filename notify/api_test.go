package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// The Alertmanager-compatible API and the CLI on top of it, end to end
// over HTTP, with a webhook receiver checking Alertmanager's v4 JSON.
func TestAPIAndCLI(t *testing.T) {
	var mu sync.Mutex
	var hooks []map[string]any
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		mu.Lock()
		hooks = append(hooks, m)
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	got := func() []map[string]any { mu.Lock(); defer mu.Unlock(); return append([]map[string]any{}, hooks...) }

	n, _ := newTestNotifier(t, mustConfig(t, fmt.Sprintf(`
route: {receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 100ms, repeat_interval: 200ms}
receivers: [{name: hook, webhook_configs: [{url: %q}]}]
`, hook.URL)), nil)
	runNotifier(t, n)
	srv := httptest.NewServer(n.Handler())
	t.Cleanup(srv.Close)

	// Prometheus posts alerts to /api/v2/alerts.
	body := `[{"labels":{"alertname":"Down","instance":"h1"},"annotations":{"summary":"h1 down"},"generatorURL":"http://prom/graph"}]`
	resp, err := http.Post(srv.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/v2/alerts: %v %v", err, resp)
	}
	// >= 1: a repeat may follow 200ms later on a slow machine.
	eventually(t, 5*time.Second, "the webhook", func() bool { return len(got()) >= 1 })
	m := got()[0]
	for k, want := range map[string]any{"version": "4", "status": "firing", "receiver": "hook", "truncatedAlerts": float64(0)} {
		if m[k] != want {
			t.Errorf("webhook %s = %v, want %v", k, m[k], want)
		}
	}
	for _, k := range []string{"groupKey", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"} {
		if _, ok := m[k]; !ok {
			t.Errorf("webhook message lacks %s", k)
		}
	}
	a0 := m["alerts"].([]any)[0].(map[string]any)
	fp := alert("Down", "instance", "h1").Fingerprint()
	if a0["fingerprint"] != fp || a0["generatorURL"] != "http://prom/graph" || a0["status"] != "firing" {
		t.Errorf("webhook alert %v", a0)
	}

	// Acknowledge through the CLI: the 200ms repeats stop.
	var out bytes.Buffer
	if err := AckCommand([]string{"--url", srv.URL, "--author", "me", fp}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "acknowledged "+fp) {
		t.Errorf("ack output %q", out.String())
	}
	// A flush started before the acknowledgement has finished once this
	// one has run (flushes run one at a time); what it queued is sent.
	assertFlushesQueueNothing(t, n, time.Now(), 0)
	waitOutboxIdle(t, n)
	before := len(got())
	// The flushes of the next repeat intervals queue nothing.
	assertFlushesQueueNothing(t, n, time.Now(), intervals(3, 200*time.Millisecond)...)
	if after := len(got()); after != before {
		t.Errorf("%d repeats after the acknowledgement", after-before)
	}
	var alerts []APIAlert
	getJSON(t, srv.URL+"/api/v2/alerts", &alerts)
	if len(alerts) != 1 || alerts[0].Acknowledged == nil || alerts[0].Acknowledged.CreatedBy != "me" || alerts[0].Status.State != "active" {
		t.Fatalf("alerts %+v", alerts)
	}

	// Silences: add, list, get, expire through the CLI and the API.
	out.Reset()
	if err := SilenceCommand([]string{"add", "--url", srv.URL, "--author", "ops", "--comment", "maintenance", "--duration", "2h", `alertname="Down"`, `instance=~"h.*"`}, &out); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(out.String())
	var s Silence
	getJSON(t, srv.URL+"/api/v2/silence/"+id, &s)
	if s.Status.State != "active" || s.CreatedBy != "ops" || len(s.Matchers) != 2 || !s.Matchers[1].IsRegex || time.Until(s.EndsAt) < 119*time.Minute {
		t.Fatalf("silence %+v", s)
	}
	getJSON(t, srv.URL+"/api/v2/alerts", &alerts)
	if alerts[0].Status.State != "suppressed" || len(alerts[0].Status.SilencedBy) != 1 || alerts[0].Status.SilencedBy[0] != id {
		t.Errorf("silenced alert status %+v", alerts[0].Status)
	}
	out.Reset()
	if err := SilenceCommand([]string{"list", "--url", srv.URL}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), id) || !strings.Contains(out.String(), `{alertname="Down", instance=~"h.*"}`) || !strings.Contains(out.String(), "maintenance") {
		t.Errorf("silence list:\n%s", out.String())
	}
	out.Reset()
	if err := SilenceCommand([]string{"expire", "--url", srv.URL, id}, &out); err != nil {
		t.Fatal(err)
	}
	getJSON(t, srv.URL+"/api/v2/silence/"+id, &s)
	if s.Status.State != "expired" {
		t.Errorf("silence state %s after expire", s.Status.State)
	}
	if err := SilenceCommand([]string{"expire", "--url", srv.URL, id}, &out); err == nil || !strings.Contains(err.Error(), "already expired") {
		t.Errorf("expiring twice: %v", err)
	}
	// Alertmanager's POST /api/v2/silences shape, as amtool sends it.
	resp, err = http.Post(srv.URL+"/api/v2/silences", "application/json", strings.NewReader(
		`{"matchers":[{"name":"alertname","value":"X","isRegex":false,"isEqual":true}],"startsAt":"2020-01-01T00:00:00Z","endsAt":"2999-01-01T00:00:00Z","createdBy":"amtool","comment":"c"}`))
	if err != nil {
		t.Fatal(err)
	}
	var created map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if resp.StatusCode != 200 || created["silenceID"] == "" {
		t.Fatalf("POST /api/v2/silences: %d %v", resp.StatusCode, created)
	}
	resp, _ = http.Post(srv.URL+"/api/v2/silences", "application/json", strings.NewReader(`{"matchers":[],"endsAt":"2999-01-01T00:00:00Z"}`))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a silence without matchers: %d", resp.StatusCode)
	}
	resp.Body.Close()
	resp, _ = http.Get(srv.URL + "/api/v2/silence/nope")
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown silence: %d", resp.StatusCode)
	}
	resp.Body.Close()

	var notes struct {
		Status string         `json:"status"`
		Data   []Notification `json:"data"`
	}
	getJSON(t, srv.URL+"/api/v1/notifications?receiver=hook&status=sent", &notes)
	if notes.Status != "success" || len(notes.Data) == 0 || notes.Data[0].Response != "HTTP 200" {
		t.Errorf("notifications %+v", notes)
	}
}

func getJSON(t *testing.T, u string, out any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		t.Fatalf("GET %s: %v: %s", u, err, b)
	}
}

// The signed one-click link: its page acknowledges by posting itself; a
// forged or expired signature is refused.
func TestAckLink(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)}
	n, _ := newTestNotifier(t, mustConfig(t, routingConfig), clock.Now)
	a := alert("Disk", "instance", "h1")
	_ = n.Put(context.Background(), firingAt(clock.Now(), a))
	link := n.AckURL(a.Fingerprint(), clock.Now())
	path := strings.TrimPrefix(link, "http://vigie.test:9753")
	h := n.Handler()

	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	if rec.Code != 200 || !strings.Contains(rec.Body.String(), `<form method="post"`) {
		t.Fatalf("GET link: %d %s", rec.Code, rec.Body)
	}
	if len(n.Alerts()[0:1]) == 1 && n.Alerts()[0].Acknowledged != nil {
		t.Fatal("a GET (a link preview) acknowledged the alert")
	}
	for _, bad := range []string{strings.Replace(path, "sig=", "sig=x", 1), strings.Replace(path, a.Fingerprint(), alert("Other").Fingerprint(), 1)} {
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, bad, nil))
		if rec.Code != http.StatusForbidden {
			t.Errorf("forged link %s: %d", bad, rec.Code)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
	if rec.Code != 200 || n.Alerts()[0].Acknowledged == nil {
		t.Fatalf("POST link: %d %s", rec.Code, rec.Body)
	}
	clock.Set(clock.Now().Add(ackLinkValidity + time.Minute))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, nil))
	if rec.Code != http.StatusForbidden {
		t.Errorf("expired link: %d", rec.Code)
	}
}

func TestConfigValidation(t *testing.T) {
	cases := []struct{ yaml, want string }{
		{`route: {receiver: ops}`, `notify.yml:1:19: route.receiver: route uses undefined receiver "ops"`},
		{"route: {receiver: default, routes: [{matchers: ['a=~\"(\"']}]}", `invalid regular expression`},
		{"route: {receiver: default, routes: [{mute_time_intervals: [nope]}]}", `undefined time interval "nope"`},
		{"route: {receiver: default, group_by: [a, '...']}", `"..." groups by every label and must be alone`},
		{"receivers: [{name: default, slack_configs: [{channel: x}]}]", `missing api_url (incoming webhook) or app_token (bot token)`},
		{"receivers: [{name: default, email_configs: [{to: a@b.c, from: v@b.c, smarthost: nohost}]}]", `invalid smarthost "nohost"`},
		{"time_intervals: [{name: w, time_intervals: [{times: [{start_time: '25:00', end_time: '26:00'}]}]}]", `couldn't parse timestamp 25:00`},
		{"time_intervals: [{name: w, time_intervals: [{location: Mars/Olympus}]}]", `unknown time zone Mars/Olympus`},
		{"delivery: {fallback_receiver: nobody}", `delivery.fallback_receiver: undefined receiver "nobody"`},
		{"inhibit_rules: [{source_matchers: ['a=\"b\"']}]", `an inhibit rule needs source_matchers and target_matchers`},
	}
	for _, tc := range cases {
		cfg := DefaultConfig()
		err := config.Decode("notify.yml", []byte(tc.yaml), &cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant …%s…", tc.yaml, err, tc.want)
		}
	}
	// Alertmanager's own syntax is accepted as is.
	mustConfig(t, `
route:
  receiver: ops
  group_by: ['alertname', 'cluster']
  routes:
    - match: {severity: critical}
      match_re: {service: '^(foo1|foo2)$'}
      receiver: ops
    - matchers: ['{team="a", env!~"dev|test"}', 'x!=y']
      receiver: ops
receivers:
  - name: ops
    email_configs: [{to: ops@example.com, from: am@example.com, smarthost: 'smtp.example.com:587', auth_username: u, auth_password: p, headers: {Subject: 'Alert {{ .CommonLabels.alertname }}'}}]
    slack_configs: [{api_url: 'https://hooks.slack.com/services/T/B/X', channel: '#alerts', title: '{{ .CommonLabels.alertname }}', send_resolved: true}]
    webhook_configs: [{url: 'http://127.0.0.1:5001/', max_alerts: 10}]
inhibit_rules:
  - source_match: {severity: critical}
    target_match: {severity: warning}
    equal: ['alertname']
`)
}

func TestParseMatchers(t *testing.T) {
	for in, want := range map[string]string{
		`a="b"`:                `{a="b"}`,
		`{a="b", c=~"d.*"}`:    `{a="b", c=~"d.*"}`,
		`a!=b,c!~d`:            `{a!="b", c!~"d"}`,
		`  env = "x,y" `:       `{env="x,y"}`,
		`{quote="say \"hi\""}`: `{quote="say \"hi\""}`,
	} {
		m, err := ParseMatchers(in)
		if err != nil || m.String() != want {
			t.Errorf("ParseMatchers(%q) = %s, %v; want %s", in, m, err, want)
		}
	}
	for _, bad := range []string{``, `a`, `a=~"("`, `{a="b"`, `="x"`, `a="b" c="d"`} {
		if _, err := ParseMatchers(bad); err == nil {
			t.Errorf("ParseMatchers(%q) succeeded", bad)
		}
	}
}

package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/dashboards/status"
	"github.com/vigie-dev/vigie/internal/vigietest"
	"github.com/vigie-dev/vigie/logs"
	"github.com/vigie-dev/vigie/uptime"
)

// TestUIPagesOnRealData: every page of the UI answers from a running
// vigie, and the overview draws the host's charts from collected data.
func TestUIPagesOnRealData(t *testing.T) {
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n"})
	get := func(path string) (int, string) {
		resp, err := http.Get(p.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	vigietest.Eventually(t, 20*time.Second, "the overview's CPU chart", func() bool {
		code, body := get("/?range=15m")
		return code == 200 && strings.Count(body, "<polyline") >= 3
	})
	for _, path := range []string{"/host", "/postgres", "/alerts", "/silences", "/rules", "/targets", "/delivery",
		"/graph?g0.expr=vigie_build_info", "/containers/none", "/services/none", "/assets/vigie.js", "/login"} {
		if code, body := get(path); code != 200 {
			t.Errorf("%s: %d %.300s", path, code, body)
		}
	}
	if _, body := get("/rules"); !strings.Contains(body, "ok") {
		t.Error("/rules shows no healthy built-in rule")
	}
	if _, body := get("/graph?g0.expr=vigie_build_info"); !strings.Contains(body, "<polyline") {
		t.Error("/graph draws no line for vigie_build_info")
	}
}

// TestUIProbesHeartbeatsAndLogLines: the composition root gives the UI the
// probes, the heartbeats, the status page's probes and the log store: the
// overview lists the probes (the status page link only for the one on the
// page) and the heartbeat, a container's page shows its stored log lines.
func TestUIProbesHeartbeatsAndLogLines(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(srv.Close)
	ta := startApp(t, testConfig+fmt.Sprintf(`uptime:
  probes:
    - {name: web, url: %q, interval: 1s, status: {name: Web}}
    - {name: api, url: %q, interval: 1s}
  heartbeats:
    - {name: backup, period: 1h}
`, srv.URL, srv.URL+"/api"), appOptions{})
	get := func(path string) string {
		resp, err := http.Get(ta.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	vigietest.Eventually(t, 20*time.Second, "both probes up on the overview", func() bool {
		return strings.Count(get("/"), `class="ok">up</td>`) == 2
	})
	body := get("/")
	for _, want := range []string{`<table id="probes">`, "<td>web</td>", "<td>api</td>", `<table id="heartbeats">`, "<td>backup</td>"} {
		if !strings.Contains(body, want) {
			t.Errorf("overview lacks %q", want)
		}
	}
	if n := strings.Count(body, `<a href="/status">`); n != 1 {
		t.Errorf("%d status page links, want 1 (web only)", n)
	}

	line := "GET /health 200 " + t.Name()
	if err := ta.a.logStore.Append(t.Context(), []logs.Entry{{Labels: labels.FromStrings("container", "shop-1", "source", "shop-1"),
		Level: logs.LevelInfo, TS: time.Now().UnixNano(), Line: line}}, nil); err != nil {
		t.Fatal(err)
	}
	if body := get("/containers/shop-1"); !strings.Contains(body, line) {
		t.Errorf("the container page lacks its log line %q", line)
	}
}

// TestStatusProbes: the probes the status page shows, none when it is off.
func TestStatusProbes(t *testing.T) {
	up, err := uptime.New(uptime.Options{Config: uptime.DefaultConfig()})
	if err != nil {
		t.Fatal(err)
	}
	listed := status.Config{Groups: []status.GroupConfig{{Name: "g", Components: []status.ComponentConfig{{Name: "API", Probe: "api"}, {Name: "Backup", Heartbeat: "backup"}}}}}
	if got := statusProbes(listed, up); len(got) != 1 || !got["api"] {
		t.Errorf("listed: %v", got)
	}
	off := false
	listed.Enabled = &off
	if got := statusProbes(listed, up); got != nil {
		t.Errorf("disabled: %v", got)
	}
	if got := statusProbes(status.Config{}, up); got != nil {
		t.Errorf("no component: %v", got)
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// probeConfig is a quick configuration with one HTTP probe of url, checked
// every second, down after one failed check.
func probeConfig(url string) string {
	return fmt.Sprintf(`collect:
  interval: 1s
  docker: {enabled: false}
rules:
  evaluation_interval: 1s
uptime:
  probes:
    - name: web
      url: %s
      interval: 1s
      failures_before_down: 1
      labels: {service: web}
      status: {name: Web shop}
`, url)
}

// flipServer answers 200 until fail is set, then 500.
func flipServer(t *testing.T) (*httptest.Server, *atomic.Bool) {
	t.Helper()
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			http.Error(w, "broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, &fail
}

// A configured HTTP probe runs in the app: probe_success reaches the TSDB
// (1, then 0 once the target answers 500), /api/v1/probes lists it with the
// failure's reason, and the built-in ProbeFailing fires with its labels.
func TestUptimeProbeEndToEnd(t *testing.T) {
	target, fail := flipServer(t)
	ta := startApp(t, probeConfig(target.URL), appOptions{})

	success := func(want float64) func() bool {
		return func() bool {
			s := ta.Query(`probe_success{job="uptime", service="web"}`)
			return len(s) == 1 && s[0].Float() == want && s[0].Metric["instance"] == target.URL
		}
	}
	vigietest.Eventually(t, 20*time.Second, "probe_success 1", success(1))
	if as := alerts(t, ta.Client, "ProbeFailing"); len(as) != 0 {
		t.Fatalf("ProbeFailing while the target answers 200: %+v", as)
	}

	fail.Store(true)
	vigietest.Eventually(t, 20*time.Second, "probe_success 0", success(0))
	vigietest.Eventually(t, 20*time.Second, "ProbeFailing firing", func() bool {
		for _, a := range alerts(t, ta.Client, "ProbeFailing") {
			if a.State == "firing" && a.Labels["instance"] == target.URL && a.Labels["service"] == "web" {
				return true
			}
		}
		return false
	})

	r := ta.Get("/api/v1/probes", nil)
	var probes []struct {
		Config struct {
			Name string `json:"name"`
		} `json:"config"`
		Instance  string `json:"instance"`
		LastCheck *struct {
			Success bool   `json:"success"`
			Reason  string `json:"reason"`
		} `json:"last_check"`
	}
	if err := json.Unmarshal(r.Data, &probes); err != nil || len(probes) != 1 {
		t.Fatalf("/api/v1/probes: %v %s", err, r.Data)
	}
	p := probes[0]
	if p.Config.Name != "web" || p.Instance != target.URL || p.LastCheck == nil || p.LastCheck.Success ||
		!strings.Contains(p.LastCheck.Reason, "500") {
		t.Errorf("/api/v1/probes: %s", r.Data)
	}
}

// A reload adds and removes probes; an invalid uptime section is refused
// with its file:line, and the running probes stay.
func TestUptimeReload(t *testing.T) {
	target, _ := flipServer(t)
	ta := startApp(t, probeConfig(target.URL), appOptions{})
	names := func() []string {
		var ps []struct {
			Config struct {
				Name string `json:"name"`
			} `json:"config"`
		}
		if err := json.Unmarshal(ta.Get("/api/v1/probes", nil).Data, &ps); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			out = append(out, p.Config.Name)
		}
		return out
	}
	if got := names(); len(got) != 1 || got[0] != "web" {
		t.Fatalf("probes %q, want [web]", got)
	}

	replaceFile(t, ta.cfgFile, strings.Replace(probeConfig(target.URL), "name: web", "name: shop", 1))
	if err := ta.a.reload(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 1 || got[0] != "shop" {
		t.Fatalf("probes after reload %q, want [shop]", got)
	}

	replaceFile(t, ta.cfgFile, strings.Replace(probeConfig(target.URL), "interval: 1s\n      failures", "interval: -1s\n      failures", 1))
	err := ta.a.reload(t.Context())
	if err == nil || !strings.Contains(err.Error(), "uptime.probes[0].interval") || !strings.Contains(err.Error(), ta.cfgFile+":") {
		t.Fatalf("invalid reload: %v", err)
	}
	if got := names(); len(got) != 1 || got[0] != "shop" {
		t.Fatalf("probes after a refused reload %q, want [shop]", got)
	}
}

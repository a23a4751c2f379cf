package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// A probe of the uptime section runs in the app: its result is collected
// into the TSDB and listed on /api/v1/probes.
func TestUptimeProbeThroughTheApp(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(srv.Close)
	ta := startApp(t, testConfig+fmt.Sprintf("uptime:\n  probes:\n    - {name: web, url: %q, interval: 1s}\n", srv.URL+"/health"), appOptions{})
	vigietest.Eventually(t, 30*time.Second, "probe_success == 1 stored", func() bool {
		return len(ta.Query(`probe_success == 1`)) == 1
	})
	r := ta.Get("/api/v1/probes", nil)
	if r.Code != 200 || !strings.Contains(string(r.Data), `"web"`) {
		t.Fatalf("/api/v1/probes: %d %.300s", r.Code, r.Data)
	}
}

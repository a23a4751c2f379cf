package main

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// promtoolOrSkip finds Debian's promtool; CI installs it, so there it must exist.
func promtoolOrSkip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	return p
}

// TestPromtoolQueriesVigie is the compatibility proof: Prometheus's own
// client, promtool, queries vigie as it queries Prometheus.
func TestPromtoolQueriesVigie(t *testing.T) {
	promtool := promtoolOrSkip(t)
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n"})
	vigietest.Eventually(t, 10*time.Second, "two collections", func() bool {
		s := p.Query("vigie_collection_gathers_total")
		return len(s) > 0 && s[0].Float() >= 2
	})
	server := "http://" + p.Addr
	now := time.Now()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"query", "instant", server, "vigie_build_info"}, "vigie_build_info{"},
		{[]string{"query", "instant", "-o", "json", server, "sum(vigie_build_info)"}, `"value"`},
		{[]string{"query", "range", "--start", fmt.Sprint(now.Add(-time.Minute).Unix()), "--end", fmt.Sprint(now.Unix()), "--step", "1s", server, "vigie_collection_gathers_total"}, "vigie_collection_gathers_total{"},
		{[]string{"query", "series", "--match", "vigie_build_info", server}, "vigie_build_info"},
		{[]string{"query", "labels", server, "job"}, "vigie"},
	} {
		out, err := exec.Command(promtool, tc.args...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("promtool %s: %v\n%s", strings.Join(tc.args, " "), err, out)
		}
	}
	// A bad query is reported by promtool as the API's bad_data error.
	out, err := exec.Command(promtool, "query", "instant", server, "sum(").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "bad_data") {
		t.Errorf("promtool with a bad query: %v\n%s", err, out)
	}
}

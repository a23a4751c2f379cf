package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// lokiLines runs a LogQL query on the app's Loki API and returns the lines.
func lokiLines(t *testing.T, ta *testApp, query string) []string {
	t.Helper()
	r := ta.Get("/loki/api/v1/query_range", url.Values{"query": {query}, "limit": {"100"},
		"start": {strconv.FormatInt(time.Now().Add(-time.Hour).UnixNano(), 10)},
		"end":   {strconv.FormatInt(time.Now().Add(time.Minute).UnixNano(), 10)}})
	if r.Code != 200 {
		t.Fatalf("query_range %s: %d %s", query, r.Code, r.Error)
	}
	var d struct {
		Result []struct {
			Values [][2]string `json:"values"`
		} `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range d.Result {
		for _, v := range s.Values {
			lines = append(lines, v[1])
		}
	}
	return lines
}

// Logs through the whole app: a Loki push is queryable on the Loki API, a
// file named in the configuration is tailed, a pattern's alert becomes a
// rule, and an alert about a log source carries its last lines.
func TestLogsThroughTheApp(t *testing.T) {
	dir := t.TempDir()
	logFile := filepath.Join(dir, "app.log")
	if err := os.WriteFile(logFile, []byte("starting\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := startApp(t, testConfig+fmt.Sprintf(`logs:
  files:
    - path: %q
      labels: {source: app}
  patterns:
    - name: payment_failed
      regex: 'payment failed'
      alert: {threshold: 1, window: 1m}
`, filepath.Join(dir, "*.log")), appOptions{})

	// A push, as promtail or Alloy send it (JSON form).
	now := strconv.FormatInt(time.Now().UnixNano(), 10)
	body := `{"streams":[{"stream":{"source":"pushed","job":"e2e"},"values":[["` + now + `","hello from push"]]}]}`
	resp, err := http.Post(ta.URL("/loki/api/v1/push"), "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %s", resp.Status)
	}
	if got := lokiLines(t, ta, `{source="pushed"}`); len(got) != 1 || got[0] != "hello from push" {
		t.Fatalf("pushed lines: %q", got)
	}

	// The file source: lines appended while vigie tails the file.
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	n := 0
	vigietest.Eventually(t, 30*time.Second, "a line of the tailed file on the Loki API", func() bool {
		n++
		fmt.Fprintf(f, "payment failed: order %d\n", n)
		return len(lokiLines(t, ta, `{source="app"} |= "payment failed"`)) > 0
	})

	// The pattern's alert is a loaded rule.
	r := ta.Get("/api/v1/rules", nil)
	if r.Code != 200 || !strings.Contains(string(r.Data), "LogPatternPaymentFailed") {
		t.Fatalf("/api/v1/rules lacks the log pattern alert: %d %.300s", r.Code, r.Data)
	}

	// A reload without the pattern's alert drops the rule and its file.
	replaceFile(t, ta.cfgFile, testConfig)
	if err := ta.a.reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := ta.Get("/api/v1/rules", nil); strings.Contains(string(r.Data), "LogPatternPaymentFailed") {
		t.Fatal("the pattern's alert is still loaded after a reload without it")
	}
	if _, err := os.Stat(patternRulesFile(ta.a.config().Global.DataDir)); !os.IsNotExist(err) {
		t.Fatalf("generated rule file after the reload: %v", err)
	}

	// An alert about the pushed source carries its last lines.
	ann := map[string]string{}
	logLinesAnnotator(ta.a.logStore)(context.Background(), map[string]string{"alertname": "LogErrorRateHigh", "source": "pushed"}, ann)
	if !strings.Contains(ann["log_lines"], "hello from push") {
		t.Fatalf("annotations %v lack the source's last lines", ann)
	}
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// Heartbeats and file checks through the whole app: a ping on the app's
// HTTP server changes the listing and the stored metrics; `vigie job run`
// exits with its command's code and vigie records it; `vigie heartbeat
// list` shows it; an alert about the job carries its output.
func TestHeartbeatsThroughTheApp(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "db.sql"), []byte("dump"), 0o600); err != nil {
		t.Fatal(err)
	}
	ta := startApp(t, testConfig+fmt.Sprintf(`uptime:
  heartbeats:
    - {name: backup, period: 1h}
    - {name: report, period: 1h}
  files:
    - {name: dump, path: %q, max_age: 1h}
`, filepath.Join(dir, "*.sql")), appOptions{})

	list := func() map[string]heartbeat.Info {
		r := ta.Get("/api/v1/heartbeats", nil)
		var infos []heartbeat.Info
		if err := json.Unmarshal(r.Data, &infos); err != nil || r.Code != 200 {
			t.Fatalf("/api/v1/heartbeats: %d %v", r.Code, err)
		}
		out := map[string]heartbeat.Info{}
		for _, i := range infos {
			out[i.Name] = i
		}
		return out
	}
	report := list()["report"]
	if report.Status != heartbeat.StatusNew || !strings.HasPrefix(report.PingURL, ta.URL("/ping/")) {
		t.Fatalf("report before any ping: %+v", report)
	}
	resp, err := http.Get(report.PingURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("ping: %s", resp.Status)
	}
	if s := list()["report"].Status; s != heartbeat.StatusUp {
		t.Fatalf("report after a ping: %s, want up", s)
	}
	vigietest.Eventually(t, 30*time.Second, `vigie_heartbeat_up{name="report"} == 1 and the file check stored`, func() bool {
		return len(ta.Query(`vigie_heartbeat_up{name="report"} == 1`)) == 1 && len(ta.Query(`{__name__=~"vigie_file_.+", name="dump"}`)) > 0
	})

	code, out, errOut := runArgs("job", "run", "backup", "--vigie", ta.URL(""), "--", "sh", "-c", "echo out; exit 3")
	if code != 3 || out != "out\n" {
		t.Fatalf("job run: exit %d, stdout %q, stderr %q; want 3 and the command's output", code, out, errOut)
	}
	backup := list()["backup"]
	if backup.LastExitCode == nil || *backup.LastExitCode != 3 || backup.Status != heartbeat.StatusFailed {
		t.Fatalf("backup after the job: %+v", backup)
	}
	vigietest.Eventually(t, 30*time.Second, `vigie_heartbeat_up{name="backup"} == 0`, func() bool {
		return len(ta.Query(`vigie_heartbeat_up{name="backup"} == 0`)) == 1
	})

	code, out, errOut = runArgs("heartbeat", "list", "--vigie", ta.URL(""))
	if code != 0 || !strings.Contains(out, "backup") || !strings.Contains(out, "failed") || !strings.Contains(out, "report") {
		t.Fatalf("heartbeat list: exit %d\n%s%s", code, out, errOut)
	}

	ann := map[string]string{}
	heartbeatAnnotator(ta.a.heartbeats)(context.Background(), map[string]string{"alertname": "JobFailed", "name": "backup"}, ann)
	if ann["exit_code"] != "3" || !strings.Contains(ann["output"], "out") {
		t.Fatalf("JobFailed annotations: %v, want the exit code and the output", ann)
	}
}

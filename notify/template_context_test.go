package notify

import (
	"strings"
	"testing"
)

// The default email shows a job's exit code and output and a source's
// last log lines when the alert carries them (the composition root adds
// them as annotations); the HTML escapes them.
func TestDefaultEmailShowsAlertContext(t *testing.T) {
	d := &Data{Status: "firing", Alerts: Alerts{{
		Status: "firing",
		Labels: KV{"alertname": "JobFailed", "name": "backup"},
		Annotations: KV{"summary": "Job backup failed", "exit_code": "3",
			"output": "dump: <disk full>", "log_lines": "ERROR pg_dump aborted"},
	}}}
	text, err := renderText("text", DefaultEmailText, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit code: 3", "Output (last lines):\ndump: <disk full>", "Last log lines:\nERROR pg_dump aborted"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	html, err := renderHTML("html", DefaultEmailHTML, d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, "<pre>dump: &lt;disk full&gt;</pre>") || !strings.Contains(html, "Exit code: 3") {
		t.Errorf("html lacks the escaped output:\n%s", html)
	}
}

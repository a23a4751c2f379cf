package heartbeat

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
)

// A real shell command through RunJob against real heartbeat routes:
// succeeding, then failing with its exit code and output.
func TestRunJob(t *testing.T) {
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "backup", Period: dur(24 * time.Hour), Grace: dur(time.Hour)}}}, t0)
	run := func(script string) (int, string, error) {
		t.Helper()
		var stdout, stderr bytes.Buffer
		code, err := RunJob(context.Background(), JobOptions{
			Name: "backup", URL: f.srv.URL + "/", Command: []string{"sh", "-c", script},
			Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr, Backoff: time.Millisecond,
		})
		return code, stdout.String() + stderr.String(), err
	}

	code, out, err := run("echo dumping; echo done")
	if code != 0 || err != nil || out != "dumping\ndone\n" {
		t.Fatalf("success: code %d, err %v, output %q", code, err, out)
	}
	in := f.info(t, "backup")
	if in.Status != StatusUp || in.LastExitCode == nil || *in.LastExitCode != 0 || in.LastDurationSeconds == nil || in.LastPings[KindStart].IsZero() {
		t.Errorf("after success: %+v", in)
	}
	if tail, c, ok := f.h.LastOutput("backup"); tail != "dumping\ndone\n" || c != 0 || !ok {
		t.Errorf("LastOutput: %q %d %v", tail, c, ok)
	}

	code, out, err = run("echo hi; echo 'pg_dump: connection refused' >&2; exit 3")
	if code != 3 || err != nil || !strings.Contains(out, "hi\n") || !strings.Contains(out, "connection refused") {
		t.Fatalf("failure: code %d, err %v, output %q", code, err, out)
	}
	if in := f.info(t, "backup"); in.Status != StatusFailed || *in.LastExitCode != 3 {
		t.Errorf("after failure: %+v", in)
	}
	if tail, c, _ := f.h.LastOutput("backup"); c != 3 || !strings.Contains(tail, "hi\n") || !strings.Contains(tail, "pg_dump: connection refused\n") {
		t.Errorf("LastOutput: %q %d", tail, c)
	}
	if v, _ := f.metric(t, "vigie_heartbeat_last_exit_code", map[string]string{"name": "backup"}); v != 3 {
		t.Errorf("vigie_heartbeat_last_exit_code %v", v)
	}

	code, _, err = run("kill -TERM $$")
	if code != 128+15 || err != nil {
		t.Errorf("killed: code %d, err %v", code, err)
	}

	// Interrupted: the command gets SIGTERM, and the end is still reported.
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var stdout bytes.Buffer
	go func() {
		defer close(started)
		defer cancel()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if f.h.List("")[0].Status == StatusRunning { // polled until the start ping is in
				return
			}
		}
	}()
	code, err = RunJob(ctx, JobOptions{Name: "backup", URL: f.srv.URL, Stdout: &stdout, Stderr: &stdout, Stdin: strings.NewReader(""),
		Command: []string{"sh", "-c", "trap 'echo terminated; exit 143' TERM; echo waiting; while :; do sleep 0.05; done"}})
	<-started
	if code != 143 || err != nil {
		t.Errorf("interrupted: code %d, err %v, output %q", code, err, stdout.String())
	}
	if in := f.info(t, "backup"); in.Status != StatusFailed || *in.LastExitCode != 143 {
		t.Errorf("after interrupt: %+v", in)
	}
}

// The command runs, and keeps its exit code, when vigie is unreachable or
// does not know the heartbeat; pings are retried on 5xx.
func TestRunJobVigieTrouble(t *testing.T) {
	f := newFixture(t, Config{Heartbeats: []HeartbeatConfig{{Name: "backup", Period: dur(time.Hour)}}}, t0)
	mux := web.NewMux()
	mux.Handle(f.h.Routes()...)
	var fails atomic.Int32
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/ping/") && fails.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(flaky.Close)
	var out bytes.Buffer
	opts := JobOptions{Name: "backup", URL: flaky.URL, Command: []string{"sh", "-c", "echo x; exit 4"}, Stdout: &out, Stderr: &out, Backoff: time.Millisecond}
	code, err := RunJob(context.Background(), opts)
	if code != 4 || err != nil {
		t.Fatalf("with two 503s: code %d, err %v", code, err)
	}
	if in := f.info(t, "backup"); in.Status != StatusFailed || *in.LastExitCode != 4 {
		t.Errorf("after retries: %+v", in)
	}

	fails.Store(-10) // every ping gets 503: three tries each, then an error without the token
	token := f.pingURL(t, "backup")[len(f.srv.URL+"/ping/"):]
	code, err = RunJob(context.Background(), opts)
	if code != 4 || err == nil || !strings.Contains(err.Error(), "ping heartbeat backup: 503") || strings.Contains(err.Error(), token) {
		t.Errorf("pings refused: code %d, err %v", code, err)
	}
	if n := fails.Load(); n != -10+6 {
		t.Errorf("%d ping requests, want 6 (start and end, 3 tries each)", n+10)
	}

	opts.Name = "nope"
	code, err = RunJob(context.Background(), opts)
	if code != 4 || err == nil || !strings.Contains(err.Error(), `no heartbeat named "nope"`) {
		t.Errorf("unknown heartbeat: code %d, err %v", code, err)
	}

	opts.Name, opts.URL = "backup", "http://127.0.0.1:1"
	out.Reset()
	code, err = RunJob(context.Background(), opts)
	if code != 4 || err == nil || out.String() != "x\n" {
		t.Errorf("vigie down: code %d, err %v, output %q", code, err, out.String())
	}

	opts.Command = []string{"/nonexistent/command"}
	if code, err = RunJob(context.Background(), opts); code != 127 || err == nil {
		t.Errorf("missing command: code %d, err %v", code, err)
	}
}

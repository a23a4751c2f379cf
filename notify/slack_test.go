package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

const slackSecretPath = "/services/T000/B000/sEcReTwEbHoOk"

type slackCall struct {
	at     time.Time
	path   string
	msg    slack.WebhookMessage
	form   map[string]string
	blocks slack.Blocks
	answer int
}

// fakeSlack answers like Slack: incoming webhooks under /services/, the Web
// API under /api/. Bodies are validated against slack-go's types.
type fakeSlack struct {
	t       *testing.T
	mu      sync.Mutex
	calls   []slackCall
	answers []int // status codes for the next webhook calls; 200 when empty
	ts      int
}

func (f *fakeSlack) all() []slackCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]slackCall{}, f.calls...)
}

func (f *fakeSlack) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := slackCall{at: time.Now(), path: r.URL.Path, answer: http.StatusOK}
	switch {
	case r.URL.Path == slackSecretPath:
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
			f.t.Errorf("webhook: %s with Content-Type %q", r.Method, r.Header.Get("Content-Type"))
		}
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c.msg); err != nil {
			f.t.Errorf("webhook body is not a slack.WebhookMessage: %v", err)
			http.Error(w, "invalid_payload", http.StatusBadRequest)
			return
		}
		if c.msg.Text == "" || c.msg.Blocks == nil || len(c.msg.Blocks.BlockSet) == 0 {
			f.t.Errorf("webhook message without text or blocks: %+v", c.msg)
		}
		if len(f.answers) > 0 {
			c.answer, f.answers = f.answers[0], f.answers[1:]
		}
		f.calls = append(f.calls, c)
		switch c.answer {
		case http.StatusTooManyRequests:
			w.Header().Set("Retry-After", "1")
			http.Error(w, "rate_limited", c.answer)
		case http.StatusOK:
			_, _ = w.Write([]byte("ok"))
		default:
			http.Error(w, "<html>server error</html>", c.answer)
		}
	case strings.HasPrefix(r.URL.Path, "/api/chat."):
		if err := r.ParseForm(); err != nil {
			f.t.Errorf("form: %v", err)
		}
		// Slack takes the token as a bearer header or a form field.
		if r.Header.Get("Authorization") != "Bearer xoxb-sEcReTtOkEn" && r.PostForm.Get("token") != "xoxb-sEcReTtOkEn" {
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		c.form = map[string]string{}
		for k := range r.PostForm {
			c.form[k] = r.PostForm.Get(k)
		}
		if b := c.form["blocks"]; b != "" {
			if err := json.Unmarshal([]byte(b), &c.blocks); err != nil {
				f.t.Errorf("blocks are not slack.Blocks: %v", err)
			}
		}
		ts := c.form["ts"]
		if r.URL.Path == "/api/chat.postMessage" {
			f.ts++
			ts = fmt.Sprintf("1700000000.%06d", f.ts)
		}
		f.calls = append(f.calls, c)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": "C0VIGIE", "ts": ts})
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func startFakeSlack(t *testing.T) (*fakeSlack, string) {
	f := &fakeSlack{t: t}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// A 429 with Retry-After, then a 500: the message is delivered once, after
// waiting as long as Slack asked.
func TestSlackWebhookRetries(t *testing.T) {
	fs, base := startFakeSlack(t)
	fs.answers = []int{http.StatusTooManyRequests, http.StatusInternalServerError}
	cfg := mustConfig(t, fmt.Sprintf(`
route: {receiver: chat, group_wait: 0s, group_interval: 100ms}
receivers:
  - name: chat
    slack_configs: [{api_url: %q, channel: "#ops"}]
delivery: {min_backoff: 20ms, max_backoff: 50ms}
`, base+slackSecretPath))
	n, _ := newTestNotifier(t, cfg, nil)
	runNotifier(t, n)
	a := alert("ContainerOOMKilled", "instance", "h1", "container", "api", "severity", "critical")
	a.Annotations["runbook_url"] = "https://runbooks.example.com/oom"
	a.Annotations["value"] = "3"
	a.GeneratorURL = "http://vigie.test:9753/graph?g0.expr=x"
	if err := n.Put(context.Background(), firingAt(time.Now(), a)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the message delivered", func() bool {
		c := fs.all()
		return len(c) >= 3 && c[len(c)-1].answer == http.StatusOK
	})
	// Sent, and the next group intervals queue nothing: no fourth call comes.
	waitOutboxIdle(t, n)
	assertFlushesQueueNothing(t, n, time.Now(), intervals(3, 100*time.Millisecond)...)
	calls := fs.all()
	if len(calls) != 3 {
		t.Fatalf("%d webhook calls, want 3 (429, 500, 200)", len(calls))
	}
	if d := calls[1].at.Sub(calls[0].at); d < 900*time.Millisecond {
		t.Errorf("retried %s after a 429 with Retry-After: 1", d)
	}
	msg := calls[2].msg
	if msg.Channel != "#ops" || !strings.Contains(msg.Text, "[FIRING:1]") {
		t.Errorf("message %+v", msg)
	}
	js, _ := json.Marshal(msg.Blocks)
	for _, want := range []string{`"type":"header"`, "ContainerOOMKilled", "critical", "*container*\\napi", "*Value:* 3",
		"https://runbooks.example.com/oom", "/api/v1/alerts/" + a.Fingerprint() + "/ack?exp=", "Open vigie", "http://vigie.test:9753"} {
		if !strings.Contains(string(js), want) {
			t.Errorf("blocks lack %q: %s", want, js)
		}
	}
	list, _ := n.Notifications(context.Background(), 10, "", "")
	if len(list) != 1 || list[0].Status != "sent" || list[0].Attempts != 3 {
		t.Fatalf("notifications %+v", list)
	}
	if got := n.metrics.failed.WithLabelValues("chat", "rate_limited"); got == nil {
		t.Fatal("no rate_limited counter")
	}
}

// With a bot token, the resolution updates the firing message and answers in its thread.
func TestSlackBotThreads(t *testing.T) {
	fs, base := startFakeSlack(t)
	cfg := mustConfig(t, fmt.Sprintf(`
route: {receiver: chat, group_wait: 0s, group_interval: 100ms}
receivers:
  - name: chat
    slack_configs: [{app_token: xoxb-sEcReTtOkEn, app_url: %q, channel: "#ops"}]
`, base+"/api/chat.postMessage"))
	n, _ := newTestNotifier(t, cfg, nil)
	runNotifier(t, n)
	ctx := context.Background()
	a := alert("ServiceReplicasMissing", "instance", "h1", "service", "web")
	if err := n.Put(ctx, firingAt(time.Now(), a)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the firing message", func() bool { return len(fs.all()) == 1 })
	first := fs.all()[0]
	if first.path != "/api/chat.postMessage" || first.form["channel"] != "#ops" || first.form["thread_ts"] != "" || len(first.blocks.BlockSet) == 0 {
		t.Fatalf("first call %+v", first)
	}
	if err := n.Put(ctx, resolvedAt(time.Now(), a)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the resolution", func() bool { return len(fs.all()) == 3 })
	calls := fs.all()
	if calls[1].path != "/api/chat.update" || calls[1].form["ts"] != "1700000000.000001" || calls[1].form["channel"] != "C0VIGIE" {
		t.Errorf("update call %+v", calls[1])
	}
	js, _ := json.Marshal(calls[1].blocks)
	if !strings.Contains(string(js), "RESOLVED") {
		t.Errorf("the updated message does not say resolved: %s", js)
	}
	if calls[2].path != "/api/chat.postMessage" || calls[2].form["thread_ts"] != "1700000000.000001" || !strings.Contains(calls[2].form["text"], "RESOLVED") {
		t.Errorf("thread reply %+v", calls[2])
	}
}

// Secrets never appear in errors, logs, the API, or `notify test` output.
func TestSecretsStayHidden(t *testing.T) {
	dead := "http://" + freeAddr(t)
	cfg := mustConfig(t, fmt.Sprintf(`
route: {receiver: all, group_wait: 0s}
receivers:
  - name: all
    slack_configs: [{api_url: %q}]
    webhook_configs: [{url: %q, bearer_token: bEaReRsEcReT}]
delivery: {min_backoff: 20ms, max_backoff: 50ms}
`, dead+slackSecretPath, dead+"/hook?key=qUeRySeCrEt"))
	var out strings.Builder
	err := SendTest(context.Background(), cfg, "all", &out)
	if err == nil {
		t.Fatal("notify test against a dead server succeeded")
	}
	var logs syncBuffer
	n, err2 := New(cfg, Options{State: openState(t, t.TempDir()+"/s.db"), Logger: slogTo(&logs)})
	if err2 != nil {
		t.Fatal(err2)
	}
	runNotifier(t, n)
	_ = n.Put(context.Background(), firingAt(time.Now(), alert("A")))
	eventually(t, 10*time.Second, "failed attempts", func() bool {
		l, _ := n.Notifications(context.Background(), 10, "", "")
		return len(l) == 2 && l[0].Attempts > 1 && l[1].Attempts > 1
	})
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/notifications", nil))
	yml, _ := json.Marshal(cfg)
	for what, s := range map[string]string{"error": err.Error(), "output": out.String(), "log": logs.String(), "API": rec.Body.String(), "config JSON": string(yml)} {
		for _, secret := range []string{"sEcReTwEbHoOk", "qUeRySeCrEt", "bEaReRsEcReT"} {
			if strings.Contains(s, secret) {
				t.Errorf("secret %s appears in the %s: %s", secret, what, s)
			}
		}
	}
	if !strings.Contains(rec.Body.String(), "connection refused") {
		t.Errorf("the API does not say what failed: %s", rec.Body.String())
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/slack-go/slack"

	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/internal/vigietest"
)

// mailbox is a real SMTP server (go-smtp) on loopback that keeps what it receives.
type mailbox struct {
	mu   sync.Mutex
	msgs []*mail.Message
	srv  *smtp.Server
	Addr string
}

func startMailbox(t *testing.T, addr string) *mailbox {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	mb := &mailbox{Addr: ln.Addr().String()}
	mb.srv = smtp.NewServer(mbBackend{mb})
	mb.srv.Domain = "localhost"
	mb.srv.AllowInsecureAuth = true
	go func() { _ = mb.srv.Serve(ln) }()
	t.Cleanup(func() { _ = mb.srv.Close() })
	return mb
}

func (mb *mailbox) subjects() []string {
	mb.mu.Lock()
	defer mb.mu.Unlock()
	var out []string
	for _, m := range mb.msgs {
		out = append(out, m.Header.Get("Subject"))
	}
	return out
}

func (mb *mailbox) count(substr string) int {
	n := 0
	for _, s := range mb.subjects() {
		if strings.Contains(strings.ToLower(s), strings.ToLower(substr)) {
			n++
		}
	}
	return n
}

type mbBackend struct{ mb *mailbox }

func (b mbBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &mbSession{mb: b.mb}, nil }

type mbSession struct{ mb *mailbox }

func (*mbSession) Mail(string, *smtp.MailOptions) error { return nil }
func (*mbSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (*mbSession) Reset()                               {}
func (*mbSession) Logout() error                        { return nil }
func (s *mbSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	s.mb.mu.Lock()
	s.mb.msgs = append(s.mb.msgs, m)
	s.mb.mu.Unlock()
	return nil
}

// slackStandIn answers like Slack's incoming webhooks and checks each body
// against the payload slack-go defines.
type slackStandIn struct {
	mu   sync.Mutex
	msgs []slack.WebhookMessage
	errs []string
	URL  string
}

func startSlack(t *testing.T) *slackStandIn {
	t.Helper()
	s := &slackStandIn{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var m slack.WebhookMessage
		dec := json.NewDecoder(strings.NewReader(string(b)))
		err := dec.Decode(&m)
		s.mu.Lock()
		defer s.mu.Unlock()
		if err != nil || r.Header.Get("Content-Type") != "application/json" || (m.Text == "" && (m.Blocks == nil || len(m.Blocks.BlockSet) == 0)) {
			s.errs = append(s.errs, fmt.Sprintf("bad payload (%v, %s): %s", err, r.Header.Get("Content-Type"), b))
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, "invalid_payload")
			return
		}
		s.msgs = append(s.msgs, m)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/services/T000/B000/XXXX"
	return s
}

func (s *slackStandIn) count(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		b, _ := json.Marshal(m)
		if strings.Contains(strings.ToLower(string(b)), strings.ToLower(substr)) {
			n++
		}
	}
	return n
}

func notifyConfig(smtpAddr, slackURL string) string {
	return fmt.Sprintf(`notify:
  route:
    receiver: team
    group_wait: 0s
    group_interval: 1s
    repeat_interval: 1h
  receivers:
    - name: team
      email_configs:
        - {to: ops@example.com, from: vigie@example.com, smarthost: %q, require_tls: false}
      slack_configs:
        - {api_url: %q, channel: "#alerts"}
  delivery:
    min_backoff: 200ms
    max_backoff: 1s
`, smtpAddr, slackURL)
}

// A built-in rule firing on a real container reaches the SMTP server and
// the Slack stand-in, then its resolution does.
func TestAlertReachesEmailAndSlackEndToEnd(t *testing.T) {
	requireDocker(t)
	mb := startMailbox(t, "")
	sl := startSlack(t)
	img := testimage.Build(t)
	c := testimage.Run(t, img, testimage.RunOptions{Name: "e2e-notify", Flags: []string{"--memory", "64m"}, Args: []string{"-alloc", "60Mi"}})
	c.WaitLog(t, "ready", 30*time.Second)
	cfg := fmt.Sprintf(`collect:
  interval: 1s
  docker:
    include_names: [%q]
rules:
  evaluation_interval: 1s
  builtin:
    overrides:
      ContainerHighMemoryUsage: {for: 1s}
`, c.Name) + notifyConfig(mb.Addr, sl.URL)
	p := vigietest.Start(t, vigietest.Options{Config: cfg})
	vigietest.Eventually(t, 30*time.Second, "firing email and Slack message", func() bool {
		return mb.count("firing") >= 1 && sl.count("ContainerHighMemoryUsage") >= 1
	})
	if !strings.Contains(strings.Join(mb.subjects(), "\n"), "ContainerHighMemoryUsage") {
		t.Errorf("email subjects lack the alert name: %q", mb.subjects())
	}
	testimage.Docker(t, "rm", "-f", c.ID)
	vigietest.Eventually(t, 30*time.Second, "resolved email and Slack message", func() bool {
		return mb.count("resolved") >= 1 && sl.count("resolved") >= 1
	})
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if len(sl.errs) > 0 {
		t.Errorf("Slack stand-in refused payloads: %v", sl.errs)
	}
	if n := mb.count("firing"); n != 1 {
		t.Errorf("%d firing emails, want 1: %q", n, mb.subjects())
	}
	_ = p
}

// vigie killed with kill -9 while the outbox holds an undelivered
// notification (the SMTP server is down): after a restart it is delivered,
// once, and the firing group is not notified again before repeat_interval.
func TestOutboxSurvivesKill9(t *testing.T) {
	smtpAddr := vigietest.FreeAddr(t) // nothing listens there yet
	sl := startSlack(t)
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "always.yml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
  - name: always
    rules:
      - alert: AlwaysFiring
        expr: vector(1)
        labels: {severity: warning}
        annotations: {summary: "always firing"}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`collect:
  interval: 1s
  docker: {enabled: false}
rules:
  evaluation_interval: 1s
  files: [%q]
  builtin: {enabled: false}
`, rulesFile) + notifyConfig(smtpAddr, sl.URL)
	p := vigietest.Start(t, vigietest.Options{Config: cfg})
	// Slack gets it at once; the email waits in the outbox, failing.
	vigietest.Eventually(t, 20*time.Second, "Slack notified and the email failing", func() bool {
		s := p.Query(`sum(vigie_notifications_failed_total)`)
		return sl.count("AlwaysFiring") == 1 && len(s) == 1 && s[0].Float() >= 1
	})
	p.Kill()

	mb := startMailbox(t, smtpAddr)
	q := vigietest.Start(t, vigietest.Options{Config: cfg, DataDir: p.DataDir})
	vigietest.Eventually(t, 30*time.Second, "the queued email delivered after the restart", func() bool {
		return mb.count("AlwaysFiring") >= 1
	})
	// Five evaluations (and as many 1s group intervals) later: still one of each.
	evals := func() float64 {
		s := q.Query(`sum(prometheus_rule_evaluations_total{rule_group=~".*always.*"})`)
		if len(s) != 1 {
			return 0
		}
		return s[0].Float()
	}
	start := evals()
	vigietest.Eventually(t, 30*time.Second, "five more evaluations", func() bool { return evals() >= start+5 })
	if n := mb.count("AlwaysFiring"); n != 1 {
		t.Fatalf("%d emails for the firing group, want exactly 1: %q", n, mb.subjects())
	}
	if n := sl.count("AlwaysFiring"); n != 1 {
		t.Fatalf("%d Slack messages for the firing group, want exactly 1", n)
	}
}

package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

const smtpPassword = "s3cr3t-smtp-pw"

func emailConfig(addr, ca, extra string) string {
	return fmt.Sprintf(`
route:
  receiver: mail
  group_by: [alertname]
  group_wait: 20ms
  group_interval: 100ms
  repeat_interval: 1h
receivers:
  - name: mail
    email_configs:
      - to: "Ops <ops@example.com>, oncall@example.com"
        from: vigie@example.com
        smarthost: %q
        auth_username: alice
        auth_password: %q
        tls_config: {ca_file: %q}
%s
delivery: {min_backoff: 20ms, max_backoff: 100ms}
`, addr, smtpPassword, ca, extra)
}

type parsedMail struct {
	header     mail.Header
	text, html string
}

func parseMail(t *testing.T, raw []byte) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("message does not parse: %v\n%s", err, raw)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsedMail{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(part)
		ct, _, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		switch ct {
		case "text/plain":
			p.text = string(b)
		case "text/html":
			p.html = string(b)
		}
	}
	if p.text == "" || p.html == "" {
		t.Fatalf("want a text and an HTML part, got text %d bytes, html %d bytes", len(p.text), len(p.html))
	}
	return p
}

var tagRE = regexp.MustCompile(`<[^>]*>`)

// sameFacts checks that the text and HTML parts both say every fact.
func sameFacts(t *testing.T, p parsedMail, facts ...string) {
	t.Helper()
	html := tagRE.ReplaceAllString(p.html, " ")
	html = strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(html)
	for _, f := range facts {
		if !strings.Contains(p.text, f) {
			t.Errorf("text part lacks %q:\n%s", f, p.text)
		}
		if !strings.Contains(html, f) && !strings.Contains(strings.ReplaceAll(p.html, "&amp;", "&"), f) {
			t.Errorf("HTML part lacks %q:\n%s", f, html)
		}
	}
}

func TestEmailSTARTTLSAndThreading(t *testing.T) {
	for _, mech := range []string{"PLAIN", "LOGIN"} {
		t.Run(mech, func(t *testing.T) {
			cert, ca := testCert(t)
			srv := &smtpServer{user: "alice", password: smtpPassword, tlsConf: serverTLS(cert)}
			srv.start(t)
			n, _ := newTestNotifier(t, mustConfig(t, emailConfig(srv.addr, ca, "        auth_mechanism: "+mech)), nil)
			runNotifier(t, n)
			ctx := context.Background()
			a1 := alert("DiskFull", "instance", "web-1", "severity", "critical", "mountpoint", "/var")
			a1.Annotations["value"] = "97%"
			a1.Annotations["runbook_url"] = "https://runbooks.example.com/disk"
			a2 := alert("DiskFull", "instance", "web-2", "severity", "critical", "mountpoint", "/")
			if err := n.Put(ctx, firingAt(time.Now(), a1), firingAt(time.Now(), a2)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the firing mail", func() bool { return len(srv.messages()) == 1 })
			m1 := srv.messages()[0]
			if !m1.tls || m1.user != "alice" || m1.from != "vigie@example.com" || strings.Join(m1.to, ",") != "ops@example.com,oncall@example.com" {
				t.Fatalf("envelope: tls=%v user=%q from=%q to=%q", m1.tls, m1.user, m1.from, m1.to)
			}
			p1 := parseMail(t, m1.data)
			if s := p1.header.Get("Subject"); s != "[FIRING:2] DiskFull" {
				t.Errorf("subject %q", s)
			}
			sameFacts(t, p1, "2 firing", "DiskFull", "web-1", "web-2", "mountpoint=/var", "97%", "DiskFull summary",
				"https://runbooks.example.com/disk", "http://vigie.test:9753/api/v1/alerts/"+a1.Fingerprint()+"/ack?exp=")
			id1 := p1.header.Get("Message-Id")
			if !strings.HasPrefix(id1, "<vigie.") || !strings.HasSuffix(id1, "@example.com>") {
				t.Fatalf("Message-ID %q", id1)
			}

			if err := n.Put(ctx, resolvedAt(time.Now(), a1), resolvedAt(time.Now(), a2)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the resolved mail", func() bool { return len(srv.messages()) == 2 })
			p2 := parseMail(t, srv.messages()[1].data)
			if s := p2.header.Get("Subject"); s != "[RESOLVED] DiskFull" {
				t.Errorf("subject %q", s)
			}
			if p2.header.Get("In-Reply-To") != id1 || p2.header.Get("References") != id1 {
				t.Errorf("resolution does not thread: In-Reply-To %q References %q, want %q", p2.header.Get("In-Reply-To"), p2.header.Get("References"), id1)
			}
			if p2.header.Get("Message-Id") == id1 {
				t.Error("the resolution reuses the alert's Message-ID")
			}
			sameFacts(t, p2, "2 resolved", "DiskFull", "web-1", "web-2")
		})
	}
}

func TestEmailImplicitTLS(t *testing.T) {
	cert, ca := testCert(t)
	srv := &smtpServer{user: "alice", password: smtpPassword, tlsConf: serverTLS(cert), implicit: true}
	srv.start(t)
	var out strings.Builder
	cfg := mustConfig(t, emailConfig(srv.addr, ca, "        implicit_tls: true"))
	if err := SendTest(context.Background(), cfg, "mail", &out); err != nil {
		t.Fatal(err)
	}
	if len(srv.messages()) != 1 || !srv.messages()[0].tls {
		t.Fatalf("got %d messages", len(srv.messages()))
	}
	if !strings.Contains(out.String(), "mail email[0]: ") || !strings.Contains(out.String(), "OK: queued") {
		t.Fatalf("notify test output %q does not show the server's answer", out.String())
	}
	p := parseMail(t, srv.messages()[0].data)
	if !strings.Contains(p.header.Get("Subject"), "VigieTestNotification") {
		t.Fatalf("subject %q", p.header.Get("Subject"))
	}
}

// A wrong password is reported, retried, counted, and never shown.
func TestEmailAuthFailureKeepsSecret(t *testing.T) {
	cert, ca := testCert(t)
	srv := &smtpServer{user: "alice", password: "the-right-one", tlsConf: serverTLS(cert)}
	srv.start(t)
	path := t.TempDir() + "/state.db"
	reg := prometheus.NewRegistry()
	var logs syncBuffer
	n, err := New(mustConfig(t, emailConfig(srv.addr, ca, "")), Options{State: openState(t, path), Logger: slogTo(&logs), Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	runNotifier(t, n)
	if err := n.Put(context.Background(), firingAt(time.Now(), alert("A"))); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(logs.String())
		}
	})
	eventually(t, 10*time.Second, "two failed attempts", func() bool {
		return testutil.ToFloat64(n.metrics.failed.WithLabelValues("mail", "auth")) >= 2
	})
	rec := httptest.NewRecorder()
	n.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/notifications", nil))
	var res struct {
		Data []Notification `json:"data"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil || len(res.Data) != 1 {
		t.Fatalf("notifications: %v %s", err, rec.Body)
	}
	if res.Data[0].Status != "pending" || res.Data[0].Attempts < 1 || !strings.Contains(res.Data[0].LastError, "AUTH failed") {
		t.Fatalf("notification %+v", res.Data[0])
	}
	if g := testutil.ToFloat64(n.metrics.queued); g != 1 {
		t.Errorf("vigie_notifications_queued = %v, want 1", g)
	}
	mfs, _ := reg.Gather()
	var metricsText strings.Builder
	for _, mf := range mfs {
		fmt.Fprintln(&metricsText, mf.String())
	}
	for what, s := range map[string]string{"API": rec.Body.String(), "log": logs.String(), "metrics": metricsText.String()} {
		if strings.Contains(s, smtpPassword) {
			t.Errorf("the SMTP password appears in the %s", what)
		}
	}
	if !strings.Contains(logs.String(), "notification failed") {
		t.Errorf("the failure is not logged:\n%s", logs.String())
	}
}

package notify

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// Integration delivers one notification to one provider. retry says
// whether a failure is worth trying again (timeouts, 5xx, 429: yes; a
// rejected request: no). Implementations never put secrets in errors.
type Integration interface {
	Notify(ctx context.Context, m *Message) (res Result, retry bool, err error)
}

// Message is one notification for one integration.
type Message struct {
	Data *Data
	// ThreadRef is what the integration returned for the group's first
	// firing notification (an email Message-ID, a Slack channel and ts), so
	// later notifications of the group thread under it. Empty for a new group.
	ThreadRef string
}

// Result is the provider's answer.
type Result struct {
	// Response is the provider's answer, for the notification log and `vigie notify test`.
	Response string
	// ThreadRef is kept for the group's next notifications.
	ThreadRef string
	// RetryAfter is the provider's requested delay before a retry (Slack 429).
	RetryAfter time.Duration
}

// integration is a configured Integration of a receiver.
type integration struct {
	name         string // email[0], slack[1], webhook[0]
	kind         string
	sendResolved bool
	impl         Integration
}

// buildIntegrations builds a receiver's integrations, reading x_file secrets.
func buildIntegrations(r Receiver) ([]*integration, error) {
	var out []*integration
	var errs []error
	for i, c := range r.EmailConfigs {
		e, err := newEmail(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("receiver %q email_configs[%d]: %w", r.Name, i, err))
			continue
		}
		out = append(out, &integration{name: fmt.Sprintf("email[%d]", i), kind: "email", sendResolved: boolOr(c.SendResolved, true), impl: e})
	}
	for i, c := range r.SlackConfigs {
		s, err := newSlack(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("receiver %q slack_configs[%d]: %w", r.Name, i, err))
			continue
		}
		out = append(out, &integration{name: fmt.Sprintf("slack[%d]", i), kind: "slack", sendResolved: boolOr(c.SendResolved, true), impl: s})
	}
	for i, c := range r.WebhookConfigs {
		w, err := newWebhook(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("receiver %q webhook_configs[%d]: %w", r.Name, i, err))
			continue
		}
		out = append(out, &integration{name: fmt.Sprintf("webhook[%d]", i), kind: "webhook", sendResolved: boolOr(c.SendResolved, true), impl: w})
	}
	return out, errors.Join(errs...)
}

func newTLSConfig(c TLSConfig, host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.ServerName, InsecureSkipVerify: c.InsecureSkipVerify} //nolint:gosec // the user's choice
	if tc.ServerName == "" {
		tc.ServerName = host
	}
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls_config.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_config.ca_file %s: no certificate found", c.CAFile)
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

func newHTTPClient(tc *tls.Config) *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 4
	return &http.Client{Transport: tr}
}

// redact replaces every secret in err's text and drops URLs from
// *url.Error (which quote the whole request URL).
func redact(err error, secrets ...config.Secret) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	msg := err.Error()
	if errors.As(err, &ue) {
		msg = strings.Replace(msg, ue.URL, "<redacted-url>", 1)
		msg = strings.Replace(msg, fmt.Sprintf("%q", ue.URL), "<redacted-url>", 1)
	}
	for _, s := range secrets {
		if v := s.Value(); v != "" {
			msg = strings.ReplaceAll(msg, v, "<secret>")
			if u, err := url.Parse(v); err == nil && u.Host != "" {
				// Also the escaped forms an error may quote.
				msg = strings.ReplaceAll(msg, u.String(), "<secret>")
				msg = strings.ReplaceAll(msg, u.Path, "/<secret>")
			}
		}
	}
	return &redactedError{msg: msg, cause: err}
}

// redactedError keeps the cause for errors.As (timeouts, status codes)
// while its text is clean.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }

// Unwrap gives errors.Is/As access to the cause; never print the cause.
func (e *redactedError) Unwrap() error { return e.cause }

// failureReason classifies an error for vigie_notifications_failed_total.
func failureReason(err error, retry bool) string {
	var ne net.Error
	var se *statusError
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, &se) && se.code == http.StatusTooManyRequests:
		return "rate_limited"
	case errors.As(err, &se) && se.code >= 500:
		return "server_error"
	case errors.As(err, &se):
		return "rejected"
	case errors.Is(err, errTemplate):
		return "template"
	case strings.Contains(err.Error(), "AUTH failed") || strings.Contains(err.Error(), "535 "):
		return "auth"
	case isConnError(err):
		return "unreachable"
	case !retry:
		return "rejected"
	}
	return "other"
}

var errTemplate = errors.New("template")

func isConnError(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) || strings.Contains(err.Error(), "connection refused")
}

// statusError is an HTTP answer that was not a success.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	if e.body == "" {
		return fmt.Sprintf("HTTP %d %s", e.code, http.StatusText(e.code))
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.code, http.StatusText(e.code), e.body)
}

// retryHTTP is Alertmanager's rule: retry 5xx and 429, not other 4xx.
func retryHTTP(code int) bool { return code >= 500 || code == http.StatusTooManyRequests }

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

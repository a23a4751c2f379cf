package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/vigie-dev/vigie/config"
)

// webhook posts Alertmanager's webhook message, version 4, so existing
// Alertmanager webhook consumers work unchanged.
type webhook struct {
	conf  WebhookConfig
	url   config.Secret
	token config.Secret
	http  *http.Client
}

var _ Integration = (*webhook)(nil)

// WebhookMessage is Alertmanager's webhook body (version 4).
type WebhookMessage struct {
	*Data
	Version         string `json:"version"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

func newWebhook(c WebhookConfig) (*webhook, error) {
	u, err := config.ResolveSecret(c.URL, c.URLFile, "url")
	if err != nil {
		return nil, err
	}
	pu, err := url.Parse(u.Value())
	if err != nil || pu.Host == "" {
		return nil, fmt.Errorf("url: invalid URL")
	}
	tc, err := newTLSConfig(c.TLSConfig, pu.Hostname())
	if err != nil {
		return nil, err
	}
	return &webhook{conf: c, url: u, token: c.BearerToken, http: newHTTPClient(tc)}, nil
}

// NewWebhookMessage builds the body, keeping at most maxAlerts alerts (0: all).
func NewWebhookMessage(d *Data, maxAlerts int) *WebhookMessage {
	m := &WebhookMessage{Data: d, Version: "4"}
	if maxAlerts > 0 && len(d.Alerts) > maxAlerts {
		cp := *d
		cp.Alerts = d.Alerts[:maxAlerts]
		m.Data = &cp
		m.TruncatedAlerts = uint64(len(d.Alerts) - maxAlerts)
	}
	return m
}

func (w *webhook) Notify(ctx context.Context, m *Message) (Result, bool, error) {
	body, err := json.Marshal(NewWebhookMessage(m.Data, w.conf.MaxAlerts))
	if err != nil {
		return Result{}, false, fmt.Errorf("webhook: encode: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url.Value(), bytes.NewReader(body))
	if err != nil {
		return Result{}, false, redact(fmt.Errorf("webhook: %w", err), w.url)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigie")
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token.Value())
	}
	resp, err := w.http.Do(req)
	if err != nil {
		return Result{}, true, redact(fmt.Errorf("webhook: %w", err), w.url, w.token)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return Result{}, retryHTTP(resp.StatusCode), redact(&statusError{code: resp.StatusCode, body: truncate(string(b), 200)}, w.url, w.token)
	}
	return Result{Response: truncate(fmt.Sprintf("HTTP %d %s", resp.StatusCode, b), 300)}, false, nil
}

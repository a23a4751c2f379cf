package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// Ack is an acknowledgement of one firing alert: repeats of its group stop
// until the alert resolves (a new incident of the same alert is not
// acknowledged) or the acknowledgement expires.
type Ack struct {
	Fingerprint string    `json:"fingerprint"`
	StartsAt    time.Time `json:"alertStartsAt"`
	CreatedBy   string    `json:"createdBy"`
	Comment     string    `json:"comment"`
	CreatedAt   time.Time `json:"createdAt"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// DefaultAckDuration is how long an acknowledgement lasts when none is given.
const DefaultAckDuration = 24 * time.Hour

// ackLinkValidity is how long a signed link in a message works.
const ackLinkValidity = 7 * 24 * time.Hour

func (a *Ack) valid(e *alertEntry, now time.Time) bool {
	return a.StartsAt.Equal(e.StartsAt) && now.Before(a.ExpiresAt)
}

func (n *Notifier) loadAcks(ctx context.Context) error {
	rows, err := n.db.QueryContext(ctx, `SELECT fingerprint, alert_starts_at, created_by, comment, created_at, expires_at FROM notify_acks`)
	if err != nil {
		return fmt.Errorf("load acks: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var a Ack
		var st, cr, ex int64
		if err := rows.Scan(&a.Fingerprint, &st, &a.CreatedBy, &a.Comment, &cr, &ex); err != nil {
			return fmt.Errorf("load acks: %w", err)
		}
		a.StartsAt, a.CreatedAt, a.ExpiresAt = fromMS(st), fromMS(cr), fromMS(ex)
		n.acks[a.Fingerprint] = &a
	}
	return rows.Err()
}

func (n *Notifier) deleteAck(fp string) {
	if _, err := n.db.Exec(`DELETE FROM notify_acks WHERE fingerprint = ?`, fp); err != nil {
		n.logger.Warn("deleting an acknowledgement failed", "fingerprint", fp, "err", err)
	}
}

// Acknowledge acknowledges the firing alert with this fingerprint for d
// (DefaultAckDuration when 0).
func (n *Notifier) Acknowledge(ctx context.Context, fp, by, comment string, d time.Duration) (Ack, error) {
	now := n.now()
	if d <= 0 {
		d = DefaultAckDuration
	}
	n.mu.Lock()
	var e *alertEntry
	for _, a := range n.alerts {
		if a.fpStr == fp {
			e = a
			break
		}
	}
	if e == nil || e.Resolved(now) {
		n.mu.Unlock()
		return Ack{}, fmt.Errorf("%w: no firing alert with fingerprint %s", errNotFound, fp)
	}
	a := Ack{Fingerprint: fp, StartsAt: e.StartsAt, CreatedBy: by, Comment: comment, CreatedAt: now.UTC(), ExpiresAt: now.Add(d).UTC()}
	n.mu.Unlock()
	if _, err := n.db.ExecContext(ctx, `INSERT OR REPLACE INTO notify_acks (fingerprint, alert_starts_at, created_by, comment, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		a.Fingerprint, ms(a.StartsAt), a.CreatedBy, a.Comment, ms(a.CreatedAt), ms(a.ExpiresAt)); err != nil {
		return Ack{}, fmt.Errorf("save acknowledgement: %w", err)
	}
	n.mu.Lock()
	n.acks[fp] = &a
	n.mu.Unlock()
	n.logger.Info("alert acknowledged", "fingerprint", fp, "alertname", e.Labels["alertname"], "by", by, "expires_at", a.ExpiresAt)
	return a, nil
}

func (n *Notifier) ackSig(fp string, exp int64) string {
	m := hmac.New(sha256.New, n.ackKey)
	fmt.Fprintf(m, "ack\x00%s\x00%d", fp, exp)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// AckURL is the signed one-click acknowledgement link of an alert.
func (n *Notifier) AckURL(fp string, now time.Time) string {
	if n.externalURL == "" {
		return ""
	}
	exp := now.Add(ackLinkValidity).Unix()
	return fmt.Sprintf("%s/api/v1/alerts/%s/ack?exp=%d&sig=%s", n.externalURL, url.PathEscape(fp), exp, n.ackSig(fp, exp))
}

func (n *Notifier) checkAckSig(fp, exp, sig string, now time.Time) bool {
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || now.Unix() > e {
		return false
	}
	return hmac.Equal([]byte(sig), []byte(n.ackSig(fp, e)))
}

package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
)

// APIAlert is Alertmanager's API v2 gettable alert, plus vigie's acknowledgement.
type APIAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	UpdatedAt    time.Time         `json:"updatedAt"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
	Fingerprint  string            `json:"fingerprint"`
	Receivers    []APIReceiver     `json:"receivers"`
	Status       APIAlertStatus    `json:"status"`
	Acknowledged *Ack              `json:"acknowledged,omitempty"`
}

// APIReceiver names a receiver.
type APIReceiver struct {
	Name string `json:"name"`
}

// APIAlertStatus is active or suppressed, and why.
type APIAlertStatus struct {
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
	MutedBy     []string `json:"mutedBy"`
}

// Notification is one entry of /api/v1/notifications: a delivery and its status.
type Notification struct {
	ID            int64     `json:"id"`
	Receiver      string    `json:"receiver"`
	Integration   string    `json:"integration"`
	GroupKey      string    `json:"groupKey"`
	Status        string    `json:"status"` // pending, sent, failed
	Notification  string    `json:"notification"`
	Firing        int       `json:"firing"`
	Resolved      int       `json:"resolved"`
	CreatedAt     time.Time `json:"createdAt"`
	Attempts      int       `json:"attempts"`
	LastAttemptAt time.Time `json:"lastAttemptAt,omitzero"`
	NextAttemptAt time.Time `json:"nextAttemptAt,omitzero"`
	DoneAt        time.Time `json:"doneAt,omitzero"`
	LastError     string    `json:"lastError,omitempty"`
	Response      string    `json:"response,omitempty"`
}

// Handler serves the notifier's API, to mount at the root of vigie's mux:
//
//	GET, POST  /api/v2/alerts                       Alertmanager's alerts API (Prometheus can send here)
//	GET, POST  /api/v2/silences                     list, create or update
//	GET, DELETE /api/v2/silence/{id}                get, expire
//	GET        /api/v1/notifications                recent deliveries with status
//	POST       /api/v1/alerts/{fingerprint}/ack     acknowledge (JSON body, or a signed link's exp and sig)
//	GET        /api/v1/alerts/{fingerprint}/ack     the signed one-click link's page
func (n *Notifier) Handler() http.Handler {
	mux := http.NewServeMux()
	n.Register(mux)
	return mux
}

// Register mounts the notifier's endpoints on mux.
func (n *Notifier) Register(mux *http.ServeMux) {
	for _, r := range n.Routes() {
		mux.Handle(r.Pattern, r.Handler)
	}
}

// Routes is the notifier's route table, each route with who may call it:
// reading alerts, silences and deliveries is Read; changing them is Admin;
// the signed acknowledgement link's page is Public (its signature is the
// credential).
func (n *Notifier) Routes() []web.Route {
	return []web.Route{
		web.R("GET /api/v2/alerts", web.Read, n.getAlerts),
		web.R("POST /api/v2/alerts", web.Admin, n.postAlerts),
		web.R("GET /api/v2/silences", web.Read, n.getSilences),
		web.R("POST /api/v2/silences", web.Admin, n.postSilence),
		web.R("GET /api/v2/silence/{id}", web.Read, n.getSilence),
		web.R("DELETE /api/v2/silence/{id}", web.Admin, n.deleteSilence),
		web.R("GET /api/v1/notifications", web.Read, n.getNotifications),
		web.R("POST /api/v1/alerts/{fp}/ack", web.Admin, n.postAck),
		web.R("GET /api/v1/alerts/{fp}/ack", web.Public, n.getAckPage),
		// The link page's form posts here: its signature is the credential.
		web.R("POST /api/v1/alerts/{fp}/ack/link", web.Public, n.postAckLink),
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// v2Error answers as Alertmanager's v2 API does: a JSON string.
func v2Error(w http.ResponseWriter, err error) {
	writeJSON(w, errCode(err), err.Error())
}

// v1 answers use Prometheus' envelope.
func v1Error(w http.ResponseWriter, err error) {
	code := errCode(err)
	typ := "internal"
	switch code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		typ = "bad_data"
	case http.StatusNotFound:
		typ = "not_found"
	}
	writeJSON(w, code, map[string]any{"status": "error", "errorType": typ, "error": err.Error()})
}

func v1OK(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "data": data})
}

// errBodyTooLarge and errTooManyAlerts are requests over a limit (413).
var (
	errBodyTooLarge  = errors.New("request body too large")
	errTooManyAlerts = errors.New("too many alerts")
)

func errCode(err error) int {
	switch {
	case errors.Is(err, errBodyTooLarge), errors.Is(err, errTooManyAlerts):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrActiveLimit):
		return http.StatusUnprocessableEntity
	case errors.Is(err, errBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, errNotFound):
		return http.StatusNotFound
	}
	return http.StatusInternalServerError
}

// decodeBody decodes a JSON body of at most limits.max_request_size bytes.
func (n *Notifier) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	size := int64(n.config().cfg.Limits.MaxRequestSize)
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, size))
	if err := dec.Decode(v); err != nil {
		return bodyError(err, size)
	}
	return nil
}

// bodyError explains a body that could not be read: over the size cap
// (413, naming it) or not JSON (400). The JSON error's text is written
// JSON-encoded, never raw.
func bodyError(err error, size int64) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return fmt.Errorf("%w: the limit notify.limits.max_request_size is %d bytes", errBodyTooLarge, size)
	}
	return fmt.Errorf("%w: invalid JSON body: %v", errBadRequest, err)
}

// decodeAlerts reads an array of alerts, one at a time, keeping at most
// limits.max_alerts_per_request of them: a larger request is refused
// whole, after counting its alerts without keeping them.
func (n *Notifier) decodeAlerts(w http.ResponseWriter, r *http.Request) (alerts []Alert, count int, err error) {
	lim := n.config().cfg.Limits
	size := int64(lim.MaxRequestSize)
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, size))
	tok, err := dec.Token()
	if err != nil {
		return nil, count, bodyError(err, size)
	}
	if tok == nil {
		return nil, 0, nil // null: no alerts
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return nil, 0, fmt.Errorf("%w: invalid JSON body: want an array of alerts", errBadRequest)
	}
	for dec.More() {
		count++
		if count > lim.MaxAlertsPerRequest {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return nil, count, bodyError(err, size)
			}
			continue
		}
		var a Alert
		if err := dec.Decode(&a); err != nil {
			return nil, count, bodyError(err, size)
		}
		alerts = append(alerts, a)
	}
	if _, err := dec.Token(); err != nil {
		return nil, count, bodyError(err, size)
	}
	if count > lim.MaxAlertsPerRequest {
		return nil, count, fmt.Errorf("%w: %d in one request, the limit notify.limits.max_alerts_per_request is %d", errTooManyAlerts, count, lim.MaxAlertsPerRequest)
	}
	return alerts, count, nil
}

func (n *Notifier) getAlerts(w http.ResponseWriter, r *http.Request) {
	alerts := n.Alerts()
	var filter Matchers
	for _, f := range r.URL.Query()["filter"] {
		ms, err := ParseMatchers(f)
		if err != nil {
			v2Error(w, fmt.Errorf("%w: %v", errBadRequest, err))
			return
		}
		filter = append(filter, ms...)
	}
	q := r.URL.Query()
	out := make([]APIAlert, 0, len(alerts))
	for _, a := range alerts {
		if !filter.Matches(a.Labels) {
			continue
		}
		if q.Get("silenced") == "false" && len(a.Status.SilencedBy) > 0 ||
			q.Get("inhibited") == "false" && len(a.Status.InhibitedBy) > 0 ||
			q.Get("active") == "false" && a.Status.State == "active" {
			continue
		}
		out = append(out, a)
	}
	writeJSON(w, http.StatusOK, out)
}

func (n *Notifier) postAlerts(w http.ResponseWriter, r *http.Request) {
	alerts, count, err := n.decodeAlerts(w, r)
	if err != nil {
		reason, c := rejectInvalid, 1
		switch {
		case errors.Is(err, errBodyTooLarge):
			reason = rejectBodySize
		case errors.Is(err, errTooManyAlerts):
			reason, c = rejectPerRequest, count
		}
		n.metrics.rejected.WithLabelValues(reason).Add(float64(c))
		v2Error(w, err)
		return
	}
	for i, a := range alerts {
		for k := range a.Labels {
			if !labelNameRE.MatchString(k) {
				n.metrics.rejected.WithLabelValues(rejectInvalid).Inc()
				v2Error(w, fmt.Errorf("%w: alert %d: invalid label name %q", errBadRequest, i, k))
				return
			}
		}
	}
	if err := n.Put(r.Context(), alerts...); err != nil {
		if !errors.Is(err, ErrActiveLimit) {
			err = fmt.Errorf("%w: %v", errBadRequest, err)
		}
		v2Error(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (n *Notifier) getSilences(w http.ResponseWriter, r *http.Request) {
	var filter Matchers
	for _, f := range r.URL.Query()["filter"] {
		ms, err := ParseMatchers(f)
		if err != nil {
			v2Error(w, fmt.Errorf("%w: %v", errBadRequest, err))
			return
		}
		filter = append(filter, ms...)
	}
	out := []Silence{}
	for _, s := range n.Silences() {
		if len(filter) > 0 && !silenceHas(s, filter) {
			continue
		}
		out = append(out, s)
	}
	writeJSON(w, http.StatusOK, out)
}

// silenceHas reports whether the silence has every filter matcher among its own, as Alertmanager filters.
func silenceHas(s Silence, filter Matchers) bool {
	own := APIMatchers(s.matchers)
	for _, f := range APIMatchers(filter) {
		found := false
		for _, o := range own {
			if o.Name == f.Name && o.Value == f.Value && o.IsRegex == f.IsRegex && *o.IsEqual == *f.IsEqual {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (n *Notifier) postSilence(w http.ResponseWriter, r *http.Request) {
	var s Silence
	if err := n.decodeBody(w, r, &s); err != nil {
		v2Error(w, err)
		return
	}
	id, err := n.AddSilence(r.Context(), s)
	if err != nil {
		v2Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"silenceID": id})
}

func (n *Notifier) getSilence(w http.ResponseWriter, r *http.Request) {
	s, err := n.Silence(r.PathValue("id"))
	if err != nil {
		v2Error(w, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (n *Notifier) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if err := n.ExpireSilence(r.Context(), r.PathValue("id")); err != nil {
		v2Error(w, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Notifications returns the most recent deliveries, newest first.
func (n *Notifier) Notifications(ctx context.Context, limit int, status, receiver string) ([]Notification, error) {
	q := `SELECT ` + outboxCols + ` FROM notify_outbox WHERE (? = '' OR status = ?) AND (? = '' OR receiver = ?) ORDER BY id DESC LIMIT ?`
	rows, err := n.db.QueryContext(ctx, q, status, status, receiver, receiver, limit)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	defer rows.Close()
	out := []Notification{}
	for rows.Next() {
		o, err := scanOutbox(rows, false)
		if err != nil {
			return nil, fmt.Errorf("notifications: %w", err)
		}
		nt := Notification{ID: o.ID, Receiver: o.Receiver, Integration: o.Integration, GroupKey: o.GroupKey, Status: o.Status,
			Notification: o.NotifStatus, Firing: o.Firing, Resolved: o.Resolved, CreatedAt: o.CreatedAt, Attempts: o.Attempts,
			LastAttemptAt: o.LastAttempt, DoneAt: o.DoneAt, LastError: o.LastError, Response: o.Response}
		if o.Status == "pending" {
			nt.NextAttemptAt = o.NextAttempt
		}
		out = append(out, nt)
	}
	return out, rows.Err()
}

func (n *Notifier) getNotifications(w http.ResponseWriter, r *http.Request) {
	limit := 100
	if s := r.URL.Query().Get("limit"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 || v > 10000 {
			v1Error(w, fmt.Errorf("%w: limit must be between 1 and 10000", errBadRequest))
			return
		}
		limit = v
	}
	st := r.URL.Query().Get("status")
	switch st {
	case "", "pending", "sent", "failed":
	default:
		v1Error(w, fmt.Errorf("%w: status must be pending, sent or failed", errBadRequest))
		return
	}
	out, err := n.Notifications(r.Context(), limit, st, r.URL.Query().Get("receiver"))
	if err != nil {
		v1Error(w, err)
		return
	}
	v1OK(w, out)
}

// AckRequest is the body of POST /api/v1/alerts/{fingerprint}/ack.
type AckRequest struct {
	CreatedBy string `json:"createdBy"`
	Comment   string `json:"comment"`
	// Duration such as "4h" (default 24h).
	Duration string `json:"duration"`
}

func (n *Notifier) postAck(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fp")
	q := r.URL.Query()
	if q.Get("sig") != "" {
		// The signed link's confirmation form.
		if !n.checkAckSig(fp, q.Get("exp"), q.Get("sig"), n.now()) {
			ackPage(w, http.StatusForbidden, "This acknowledgement link is invalid or has expired.")
			return
		}
		if _, err := n.Acknowledge(r.Context(), fp, "link", "acknowledged from a notification", 0); err != nil {
			ackPage(w, errCode(err), "Could not acknowledge: "+err.Error())
			return
		}
		ackPage(w, http.StatusOK, "Acknowledged: repeats of this alert stop until it resolves or for 24h.")
		return
	}
	var req AckRequest
	if r.ContentLength != 0 {
		if err := n.decodeBody(w, r, &req); err != nil {
			v1Error(w, err)
			return
		}
	}
	var d time.Duration
	if req.Duration != "" {
		v, err := parseDuration(req.Duration)
		if err != nil || v <= 0 {
			v1Error(w, fmt.Errorf("%w: invalid duration %q", errBadRequest, req.Duration))
			return
		}
		d = v
	}
	a, err := n.Acknowledge(r.Context(), fp, req.CreatedBy, req.Comment, d)
	if err != nil {
		v1Error(w, err)
		return
	}
	v1OK(w, a)
}

// postAckLink acknowledges through a signed link only.
func (n *Notifier) postAckLink(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("sig") == "" {
		ackPage(w, http.StatusForbidden, "This acknowledgement link is invalid or has expired.")
		return
	}
	n.postAck(w, r)
}

// getAckPage answers the one-click link with a page that acknowledges by
// posting itself: a person's browser acknowledges in one click, while link
// scanners and chat previews, which fetch but don't run scripts, don't.
func (n *Notifier) getAckPage(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fp")
	q := r.URL.Query()
	if !n.checkAckSig(fp, q.Get("exp"), q.Get("sig"), n.now()) {
		ackPage(w, http.StatusForbidden, "This acknowledgement link is invalid or has expired.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_ = ackFormTmpl.Execute(w, map[string]string{"Action": r.URL.Path + "/link?" + r.URL.RawQuery, "FP": fp})
}

var ackFormTmpl = template.Must(template.New("ack").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Acknowledge alert</title></head>
<body style="font-family: sans-serif">
<form method="post" action="{{ .Action }}"><p>Acknowledge alert {{ .FP }}?</p><button type="submit">Acknowledge</button></form>
<script src="/assets/autosubmit.js"></script>
</body></html>
`))

var ackResultTmpl = template.Must(template.New("ackResult").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>vigie</title></head><body style="font-family: sans-serif"><p>{{ . }}</p></body></html>
`))

func ackPage(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_ = ackResultTmpl.Execute(w, msg)
}

// parseDuration accepts Go durations and Prometheus' (1d, 1w).
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	var unit time.Duration
	switch {
	case strings.HasSuffix(s, "d"):
		unit = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		unit = 7 * 24 * time.Hour
	default:
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	v, err := strconv.Atoi(s[:len(s)-1])
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q", s)
	}
	return time.Duration(v) * unit, nil
}

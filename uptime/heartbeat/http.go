package heartbeat

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/vigie-dev/vigie/internal/web"
)

// MaxOutput is how much of a ping's body (the tail of the job's output)
// is kept; maxBody is how much of a body is read to find that tail.
const (
	MaxOutput = 10 << 10
	maxBody   = 1 << 20
)

// Routes are the ping URLs (public: the token is the credential) and the
// listing (read access).
func (h *Heartbeats) Routes() []web.Route {
	ping := http.HandlerFunc(h.handlePing)
	return []web.Route{
		{Pattern: "GET /ping/{token}", Access: web.Public, Handler: ping},
		{Pattern: "POST /ping/{token}", Access: web.Public, Handler: ping},
		{Pattern: "GET /ping/{token}/{action}", Access: web.Public, Handler: ping},
		{Pattern: "POST /ping/{token}/{action}", Access: web.Public, Handler: ping},
		web.R("GET /api/v1/heartbeats", web.Read, h.handleList),
	}
}

// handlePing records /ping/{token}[/start|/fail|/{exit code}]. The token
// is never logged: the heartbeat's name is.
func (h *Heartbeats) handlePing(w http.ResponseWriter, r *http.Request) {
	now := h.now()
	ip := clientIP(r)
	if h.limiter.blocked(ip, now) {
		http.Error(w, "too many requests with unknown tokens", http.StatusTooManyRequests)
		return
	}
	p, ok := parsePing(r, now)
	if !ok {
		http.Error(w, "unknown ping action: use start, fail or an exit code", http.StatusBadRequest)
		return
	}
	name, err := h.record(r.Context(), r.PathValue("token"), p)
	switch {
	case name == "":
		h.limiter.miss(ip, now)
		h.logger.Debug("ping with an unknown token", "remote", ip)
		http.Error(w, "not found", http.StatusNotFound)
		return
	case err != nil:
		h.logger.Error("recording a ping failed", "heartbeat", name, "err", err)
		http.Error(w, "could not record the ping", http.StatusInternalServerError)
		return
	}
	h.logger.Debug("ping", "heartbeat", name, "kind", p.Kind, "remote", ip)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "OK\n")
}

// parsePing reads the action, the optional duration (?duration=seconds)
// and the body's tail.
func parsePing(r *http.Request, now time.Time) (ping, bool) {
	p := ping{Kind: KindSuccess, At: now}
	switch a := r.PathValue("action"); a {
	case "":
	case "start":
		p.Kind = KindStart
	case "fail":
		p.Kind = KindFail
	default:
		code, err := strconv.Atoi(a)
		if err != nil || code < 0 || code > 255 {
			return p, false
		}
		p.ExitCode = &code
		if code != 0 {
			p.Kind = KindFail
		}
	}
	if s := r.URL.Query().Get("duration"); s != "" {
		if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v < 1e9 {
			d := time.Duration(v * float64(time.Second))
			p.Duration = &d
		}
	}
	if r.Method == http.MethodPost && r.Body != nil {
		t := newTail(MaxOutput)
		_, _ = io.Copy(t, io.LimitReader(r.Body, maxBody))
		p.Body = t.String()
	}
	return p, true
}

// clientIP is the connection's address: X-Forwarded-For can be forged
// by the very clients the limit is for.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ipLimiter limits requests with unknown tokens per client address: 10 a
// minute, in bursts of 10; requests with a known token cost nothing.
type ipLimiter struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

const (
	missRate  = rate.Limit(10.0 / 60)
	missBurst = 10
)

func newIPLimiter() *ipLimiter { return &ipLimiter{m: map[string]*rate.Limiter{}} }

func (l *ipLimiter) blocked(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[ip]
	return ok && lim.TokensAt(now) < 1
}

func (l *ipLimiter) miss(ip string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[ip]
	if !ok {
		lim = rate.NewLimiter(missRate, missBurst)
		l.m[ip] = lim
	}
	lim.AllowN(now, 1)
}

// prune forgets addresses whose bucket is full again.
func (l *ipLimiter) prune(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for ip, lim := range l.m {
		if lim.TokensAt(now) >= missBurst {
			delete(l.m, ip)
		}
	}
}

// Info is one heartbeat as GET /api/v1/heartbeats lists it.
type Info struct {
	Name                string             `json:"name"`
	PingURL             string             `json:"ping_url"`
	Status              Status             `json:"status"`
	Failed              bool               `json:"failed"` // the last finished run failed (vigie_heartbeat_failed)
	Period              string             `json:"period,omitempty"`
	Schedule            string             `json:"schedule,omitempty"`
	Timezone            string             `json:"timezone,omitempty"`
	Grace               string             `json:"grace"`
	MaxRuntime          string             `json:"max_runtime,omitempty"`
	Due                 *time.Time         `json:"due,omitempty"`
	Deadline            *time.Time         `json:"deadline,omitempty"`
	LastPings           map[Kind]time.Time `json:"last_pings"`
	LastKind            Kind               `json:"last_kind,omitempty"`
	LastExitCode        *int               `json:"last_exit_code,omitempty"`
	LastDurationSeconds *float64           `json:"last_duration_seconds,omitempty"`
}

// List returns every heartbeat, sorted by name, with its ping URL under base.
func (h *Heartbeats) List(base string) []Info {
	now := h.now()
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]Info, 0, len(h.beats))
	for _, b := range h.beats {
		out = append(out, b.info(base, now))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func (b *beat) info(base string, now time.Time) Info {
	e := evaluate(b.timing, &b.st, now)
	in := Info{
		Name: b.cfg.Name, PingURL: base + "/ping/" + b.token, Status: e.Status, Failed: e.Failed,
		Schedule: b.cfg.Schedule, Timezone: b.cfg.Timezone, Grace: b.cfg.Grace.String(),
		LastPings: map[Kind]time.Time{},
	}
	if b.cfg.Period > 0 {
		in.Period = b.cfg.Period.String()
	}
	if b.cfg.MaxRuntime > 0 {
		in.MaxRuntime = b.cfg.MaxRuntime.String()
	}
	if !e.Due.IsZero() {
		in.Due, in.Deadline = &e.Due, &e.Deadline
	}
	for k, t := range map[Kind]time.Time{KindStart: b.st.lastStart, KindSuccess: b.st.lastSuccess, KindFail: b.st.lastFail} {
		if !t.IsZero() {
			in.LastPings[k] = t
		}
	}
	if p := b.st.last; p != nil {
		in.LastKind = p.Kind
		in.LastExitCode = p.ExitCode
		if p.Kind == KindSuccess && p.ExitCode == nil {
			zero := 0
			in.LastExitCode = &zero
		}
		if p.Duration != nil {
			s := p.Duration.Seconds()
			in.LastDurationSeconds = &s
		}
	}
	if b.st.running() {
		in.LastKind = KindStart
	}
	return in
}

// handleList serves GET /api/v1/heartbeats in the API's envelope.
func (h *Heartbeats) handleList(w http.ResponseWriter, r *http.Request) {
	base := strings.TrimSuffix(h.externalURL, "/")
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		base = scheme + "://" + r.Host
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Data   []Info `json:"data"`
	}{"success", h.List(base)})
}

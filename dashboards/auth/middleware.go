package auth

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
)

// Principal is who made a request.
type Principal struct {
	// Name is the user's name, or the token's name and id.
	Name string
	// Scope is read or admin.
	Scope string
	// Via is session, token, basic, or anonymous when no credentials are required.
	Via string
	// CSRF is the session's token, for the forms of the pages.
	CSRF string
}

type principalKey struct{}

// FromContext returns the request's principal (the zero Principal when none).
func FromContext(ctx context.Context) Principal {
	p, _ := ctx.Value(principalKey{}).(Principal)
	return p
}

// Cookie and form field names.
const (
	SessionCookie = "vigie_session"
	loginCookie   = "vigie_login_csrf"
	// CSRFField is the hidden form field every state-changing form carries.
	CSRFField = "csrf_token"
	// CSRFHeader is its header form, for scripts.
	CSRFHeader = "X-CSRF-Token"
)

// Login rate limit: the 11th wrong password within a minute is refused.
const (
	maxFailures   = 10
	failureWindow = time.Minute
)

// Options configure the middleware.
type Options struct {
	Store *Store
	// Listen is global.listen: auto mode requires credentials beyond loopback.
	Listen string
	Logger *slog.Logger
	Now    func() time.Time
}

// Auth is the access-control middleware and its login, logout and token pages.
type Auth struct {
	store   *Store
	listen  string
	log     *slog.Logger
	now     func() time.Time
	limiter *limiter
	cfg     atomic.Pointer[Config]
}

// New returns the middleware for cfg.
func New(cfg Config, o Options) *Auth {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	a := &Auth{store: o.Store, listen: o.Listen, log: o.Logger, now: o.Now,
		limiter: newLimiter(maxFailures, failureWindow, o.Now)}
	a.cfg.Store(&cfg)
	return a
}

// ApplyConfig takes a reloaded auth section into use.
func (a *Auth) ApplyConfig(cfg Config) { a.cfg.Store(&cfg) }

func (a *Auth) config() Config { return *a.cfg.Load() }

// Required reports whether requests need credentials.
func (a *Auth) Required() bool { return a.config().Required(a.listen) }

// Wrap is the one middleware around the whole mux: it refuses cross-origin
// state-changing requests, identifies the caller (session cookie, Bearer
// token or basic auth), checks the CSRF token of session requests that
// change state, and compares the caller's scope with the Access of the
// route that will serve the request.
func (a *Auth) Wrap(h *web.Mux) http.Handler {
	check := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		access, ok := h.AccessFor(r)
		if !ok {
			h.ServeHTTP(w, r) // 404 or 405
			return
		}
		p, status := a.identify(w, r)
		if status != 0 {
			return // identify answered
		}
		if p.Via == "" && !a.Required() {
			p = Principal{Name: "anonymous", Scope: ScopeAdmin, Via: "anonymous"}
		}
		if access == web.Read && r.URL.Path == "/metrics" && !a.config().MetricsRequireToken {
			access = web.Public
		}
		switch {
		case access == web.Public:
		case p.Via == "":
			a.unauthenticated(w, r)
			return
		case access == web.Admin && p.Scope != ScopeAdmin:
			a.deny(w, r, http.StatusForbidden, "this needs the admin scope")
			return
		}
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.deny(w, r, http.StatusForbidden, "cross-origin request refused")
	}))
	return cop.Handler(check)
}

// identify finds the caller. A non-zero status means it already answered
// (bad credentials, throttled, missing CSRF token).
func (a *Auth) identify(w http.ResponseWriter, r *http.Request) (Principal, int) {
	ctx := r.Context()
	if authz := r.Header.Get("Authorization"); authz != "" {
		if secret, ok := strings.CutPrefix(authz, "Bearer "); ok {
			return a.tokenPrincipal(w, r, strings.TrimSpace(secret))
		}
		if _, pass, ok := r.BasicAuth(); ok && strings.HasPrefix(pass, TokenPrefix) {
			// A token as basic auth's password, for clients that only
			// know basic auth (promtool before 2.43, URLs with user info).
			return a.tokenPrincipal(w, r, pass)
		}
		if user, pass, ok := r.BasicAuth(); ok {
			u, status := a.checkLogin(w, r, user, pass)
			if status != 0 {
				return Principal{}, status
			}
			return Principal{Name: u.Name, Scope: u.Role, Via: "basic"}, 0
		}
		a.deny(w, r, http.StatusUnauthorized, "unsupported Authorization scheme: use Bearer or Basic")
		return Principal{}, http.StatusUnauthorized
	}
	c, err := r.Cookie(SessionCookie)
	if err != nil || c.Value == "" {
		return Principal{}, 0
	}
	s, ok, err := a.store.Session(ctx, c.Value)
	if err != nil || !ok {
		a.logErr(err)
		return Principal{}, 0 // an expired session is no session
	}
	if !safeMethod(r.Method) && !validCSRF(r, s.CSRF) {
		a.deny(w, r, http.StatusForbidden, "missing or wrong CSRF token")
		return Principal{}, http.StatusForbidden
	}
	return Principal{Name: s.User.Name, Scope: s.User.Role, Via: "session", CSRF: s.CSRF}, 0
}

// tokenPrincipal identifies an API token's bearer. A non-zero status
// means it answered.
func (a *Auth) tokenPrincipal(w http.ResponseWriter, r *http.Request, secret string) (Principal, int) {
	t, ok, err := a.store.TokenBySecret(r.Context(), secret)
	if err != nil || !ok {
		a.logErr(err)
		a.deny(w, r, http.StatusUnauthorized, "invalid or revoked token")
		return Principal{}, http.StatusUnauthorized
	}
	return Principal{Name: "token " + t.Name + " (" + t.ID + ")", Scope: t.Scope, Via: "token"}, 0
}

// checkLogin checks a user's password under the rate limit, recording
// failures. A non-zero status means it answered.
func (a *Auth) checkLogin(w http.ResponseWriter, r *http.Request, user, pass string) (User, int) {
	client := clientIP(r)
	keys := []string{"client:" + client, "user:" + user}
	if ok, wait := a.limiter.Allow(keys...); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds())+1))
		a.deny(w, r, http.StatusTooManyRequests, "too many failed logins; try again later")
		return User{}, http.StatusTooManyRequests
	}
	u, ok, err := a.store.CheckPassword(r.Context(), user, pass)
	if err != nil {
		a.logErr(err)
		a.deny(w, r, http.StatusInternalServerError, "cannot check credentials")
		return User{}, http.StatusInternalServerError
	}
	if !ok {
		a.limiter.Fail(keys...)
		a.log.Warn("failed login", "user", user, "client", client)
		a.logErr(a.store.Audit(r.Context(), "login_failed", user, client, ""))
		a.deny(w, r, http.StatusUnauthorized, "wrong user name or password")
		return User{}, http.StatusUnauthorized
	}
	return u, 0
}

func (a *Auth) logErr(err error) {
	if err != nil {
		a.log.Error("access control", "err", err)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

func validCSRF(r *http.Request, want string) bool {
	got := r.Header.Get(CSRFHeader)
	if got == "" {
		got = r.PostFormValue(CSRFField)
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// clientIP is the peer's address. X-Forwarded-For is not trusted: a proxy
// in front makes every client one, which still limits guessing.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// isPage says whether a request is a person's browser asking for a page,
// which gets a redirect to the login form rather than a 401.
func isPage(r *http.Request) bool {
	if !safeMethod(r.Method) {
		return false
	}
	for _, p := range []string{"/api/", "/-/", "/metrics", "/debug/", "/federate"} {
		if strings.HasPrefix(r.URL.Path, p) {
			return false
		}
	}
	return true
}

func (a *Auth) unauthenticated(w http.ResponseWriter, r *http.Request) {
	if isPage(r) {
		http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		return
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="vigie", charset="UTF-8"`)
	a.deny(w, r, http.StatusUnauthorized, "authentication required: a session, a Bearer token or basic auth")
}

// deny answers with Prometheus' error envelope on the API, text elsewhere.
// msg never holds a credential.
func (a *Auth) deny(w http.ResponseWriter, r *http.Request, code int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	if isPage(r) && code != http.StatusUnauthorized {
		http.Error(w, msg, code)
		return
	}
	typ := map[int]string{401: "unauthorized", 403: "forbidden", 429: "too_many_requests"}[code]
	if typ == "" {
		typ = "internal"
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "error", "errorType": typ, "error": msg})
}

// secureRequest says whether the browser reached vigie over TLS.
func secureRequest(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/storage"
)

// fakeClock is a clock tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTestStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	st, err := storage.OpenState(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s, err := NewStore(context.Background(), st.DB, now, st.Migrate)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type env struct {
	srv   *httptest.Server
	store *Store
	clock *fakeClock
	logs  *bytes.Buffer
	auth  *Auth
}

const testPassword = "correct horse battery"

// newEnv serves a mux with a public, a read and an admin route, a page,
// and the auth routes, wrapped by the middleware in required mode.
func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	store := newTestStore(t, clock.Now)
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mux := web.NewMux()
	a := New(cfg, Options{Store: store, Listen: "0.0.0.0:9753", Logger: logger, Now: clock.Now})
	ok := func(w http.ResponseWriter, r *http.Request) {
		p := FromContext(r.Context())
		io.WriteString(w, "ok "+p.Name+" "+p.Scope)
	}
	mux.Handle(a.Routes()...)
	mux.Handle(
		web.R("GET /-/healthy", web.Public, ok),
		web.R("GET /api/v1/query", web.Read, ok),
		web.R("POST /api/v2/silences", web.Admin, ok),
		web.R("GET /alerts", web.Read, ok),
		web.R("POST /alerts/ack", web.Admin, ok),
		web.R("/metrics", web.Read, ok),
	)
	srv := httptest.NewServer(web.SecureHeaders(a.Wrap(mux)))
	t.Cleanup(srv.Close)
	if err := store.AddUser(context.Background(), "alice", testPassword, ScopeAdmin); err != nil {
		t.Fatal(err)
	}
	return &env{srv: srv, store: store, clock: clock, logs: &logs, auth: a}
}

func required() Config {
	c := DefaultConfig()
	c.Mode = ModeRequired
	return c
}

func noRedirect(jar http.CookieJar) *http.Client {
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]+)"`)

// login signs in through the form and returns a client holding the session.
func (e *env) login(t *testing.T, user, pass string) (*http.Client, *http.Response) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	_, body := get(t, c, e.srv.URL+"/login?next=/alerts")
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF field in the login page: %s", body)
	}
	form := url.Values{"username": {user}, "password": {pass}, "csrf_token": {m[1]}, "next": {"/alerts"}}
	resp, _ := do(t, c, postForm(e.srv.URL+"/login", form))
	return c, resp
}

func postForm(u string, form url.Values) *http.Request {
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t, required())
	c := noRedirect(nil)
	for _, tc := range []struct {
		path string
		code int
		loc  string
	}{
		{"/-/healthy", 200, ""},
		{"/metrics", 200, ""}, // public unless metrics_require_token
		{"/api/v1/query?query=up", 401, ""},
		{"/alerts?x=1", 303, "/login?next=%2Falerts%3Fx%3D1"},
		{"/login", 200, ""},
	} {
		resp, body := get(t, c, e.srv.URL+tc.path)
		if resp.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d: %s", tc.path, resp.StatusCode, tc.code, body)
		}
		if tc.loc != "" && resp.Header.Get("Location") != tc.loc {
			t.Errorf("%s: Location %q, want %q", tc.path, resp.Header.Get("Location"), tc.loc)
		}
		if tc.code == 401 {
			var env map[string]string
			if err := json.Unmarshal([]byte(body), &env); err != nil || env["errorType"] != "unauthorized" {
				t.Errorf("%s: want a JSON error envelope, got %s", tc.path, body)
			}
		}
	}
	cfg := required()
	cfg.MetricsRequireToken = true
	e.auth.ApplyConfig(cfg)
	if resp, _ := get(t, c, e.srv.URL+"/metrics"); resp.StatusCode != 401 {
		t.Errorf("/metrics with metrics_require_token: %d, want 401", resp.StatusCode)
	}
}

func TestLoopbackAutoNeedsNothing(t *testing.T) {
	cfg := DefaultConfig()
	if cfg.Required("127.0.0.1:9753") || cfg.Required("[::1]:9753") || cfg.Required("localhost:1") {
		t.Error("auto mode requires credentials on loopback")
	}
	if !cfg.Required("0.0.0.0:9753") || !cfg.Required(":9753") || !cfg.Required("10.0.0.1:9753") {
		t.Error("auto mode does not require credentials beyond loopback")
	}
	cfg.Mode = ModeNone
	if cfg.Required("0.0.0.0:9753") {
		t.Error("mode none requires credentials")
	}
}

func TestLoginSessionCSRFLogout(t *testing.T) {
	e := newEnv(t, required())
	c, resp := e.login(t, "alice", testPassword)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/alerts" {
		t.Fatalf("login: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == SessionCookie {
			session = ck
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Secure {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, not Secure over plain HTTP", session)
	}
	if r, body := get(t, c, e.srv.URL+"/alerts"); r.StatusCode != 200 || body != "ok alice admin" {
		t.Fatalf("page with a session: %d %q", r.StatusCode, body)
	}
	// A state-changing request with the session but without the token.
	r, _ := do(t, c, postForm(e.srv.URL+"/alerts/ack", url.Values{}))
	if r.StatusCode != 403 {
		t.Errorf("POST without CSRF token: %d, want 403", r.StatusCode)
	}
	// A cross-site POST (a browser says so) is refused even with a token.
	req := postForm(e.srv.URL+"/alerts/ack", url.Values{})
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	req.Header.Set("Origin", "https://evil.example")
	if r, _ := do(t, c, req); r.StatusCode != 403 {
		t.Errorf("cross-site POST: %d, want 403", r.StatusCode)
	}
	s, _, _ := e.store.Session(context.Background(), session.Value)
	r, body := do(t, c, postForm(e.srv.URL+"/alerts/ack", url.Values{CSRFField: {s.CSRF}}))
	if r.StatusCode != 200 {
		t.Errorf("POST with the CSRF token: %d %s", r.StatusCode, body)
	}
	r, _ = do(t, c, postForm(e.srv.URL+"/logout", url.Values{CSRFField: {s.CSRF}}))
	if r.StatusCode != 303 {
		t.Errorf("logout: %d", r.StatusCode)
	}
	if r, _ := get(t, c, e.srv.URL+"/alerts"); r.StatusCode != 303 {
		t.Errorf("after logout: %d, want a redirect to the login", r.StatusCode)
	}
	log, _ := e.store.AuditLog(context.Background(), 10)
	var events []string
	for _, a := range log {
		events = append(events, a.Event)
	}
	if got := strings.Join(events, ","); got != "logout,login" {
		t.Errorf("audit log %s, want logout,login", got)
	}
	// The session expires with its lifetime.
	c2, _ := e.login(t, "alice", testPassword)
	e.clock.Add(25 * time.Hour)
	if r, _ := get(t, c2, e.srv.URL+"/alerts"); r.StatusCode != 303 {
		t.Errorf("expired session: %d, want a redirect", r.StatusCode)
	}
}

func TestSecureCookieBehindTLSProxy(t *testing.T) {
	e := newEnv(t, required())
	jar, _ := cookiejar.New(nil)
	c := noRedirect(jar)
	req, _ := http.NewRequest("GET", e.srv.URL+"/login", nil)
	req.Header.Set("X-Forwarded-Proto", "https")
	resp, _ := do(t, c, req)
	for _, ck := range resp.Cookies() {
		if !ck.Secure {
			t.Errorf("cookie %s not Secure behind https", ck.Name)
		}
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, required())
	for i := 1; i <= 10; i++ {
		if _, r := e.login(t, "alice", "wrong password"); r.StatusCode != 401 {
			t.Fatalf("wrong password %d: %d, want 401", i, r.StatusCode)
		}
	}
	if _, r := e.login(t, "alice", testPassword); r.StatusCode != 429 {
		t.Fatalf("11th attempt within a minute: %d, want 429", r.StatusCode)
	}
	// Basic auth shares the limit.
	req, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/query", nil)
	req.SetBasicAuth("alice", testPassword)
	if r, _ := do(t, noRedirect(nil), req); r.StatusCode != 429 || r.Header.Get("Retry-After") == "" {
		t.Errorf("basic auth while throttled: %d, want 429 with Retry-After", r.StatusCode)
	}
	e.clock.Add(61 * time.Second)
	if _, r := e.login(t, "alice", testPassword); r.StatusCode != 303 {
		t.Errorf("a minute later: %d, want a login", r.StatusCode)
	}
	log, _ := e.store.AuditLog(context.Background(), 100)
	failed := 0
	for _, a := range log {
		if a.Event == "login_failed" {
			failed++
		}
	}
	if failed != 10 {
		t.Errorf("%d failed logins audited, want 10", failed)
	}
}

func TestTokensAndBasicAuth(t *testing.T) {
	e := newEnv(t, required())
	ctx := context.Background()
	ro, roSecret, err := e.store.CreateToken(ctx, "grafana", ScopeRead)
	if err != nil {
		t.Fatal(err)
	}
	_, adminSecret, _ := e.store.CreateToken(ctx, "ci", ScopeAdmin)
	c := noRedirect(nil)
	call := func(method, path, authz string) int {
		req, _ := http.NewRequest(method, e.srv.URL+path, nil)
		req.Header.Set("Authorization", authz)
		r, _ := do(t, c, req)
		return r.StatusCode
	}
	basic := func(u, p string) string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(u, p)
		return req.Header.Get("Authorization")
	}
	for _, tc := range []struct {
		method, path, authz string
		want                int
	}{
		{"GET", "/api/v1/query", "Bearer " + roSecret, 200},
		{"POST", "/api/v2/silences", "Bearer " + roSecret, 403},
		{"POST", "/api/v2/silences", "Bearer " + adminSecret, 200},
		{"GET", "/api/v1/query", "Bearer vigie_wrong", 401},
		{"GET", "/api/v1/query", basic("alice", testPassword), 200},
		{"POST", "/api/v2/silences", basic("alice", testPassword), 200},
		{"GET", "/api/v1/query", basic("alice", "nope"), 401},
		{"GET", "/api/v1/query", basic("token", roSecret), 200},
		{"POST", "/api/v2/silences", basic("token", roSecret), 403},
		{"GET", "/api/v1/query", "Digest x", 401},
	} {
		if got := call(tc.method, tc.path, tc.authz); got != tc.want {
			t.Errorf("%s %s with %.12s…: %d, want %d", tc.method, tc.path, tc.authz, got, tc.want)
		}
	}
	if err := e.store.RevokeToken(ctx, ro.ID); err != nil {
		t.Fatal(err)
	}
	if got := call("GET", "/api/v1/query", "Bearer "+roSecret); got != 401 {
		t.Errorf("revoked token: %d, want 401", got)
	}
	// Secrets never reach the logs.
	for _, s := range []string{roSecret, adminSecret, testPassword} {
		if strings.Contains(e.logs.String(), s) {
			t.Errorf("a secret appears in the logs")
		}
	}
}

func TestTokenPageCreatesAndRevokes(t *testing.T) {
	e := newEnv(t, required())
	c, _ := e.login(t, "alice", testPassword)
	_, page := get(t, c, e.srv.URL+"/settings/tokens")
	m := csrfRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no CSRF field on the token page")
	}
	r, body := do(t, c, postForm(e.srv.URL+"/settings/tokens", url.Values{"name": {"prom"}, "scope": {"read"}, CSRFField: {m[1]}}))
	secret := regexp.MustCompile(`vigie_[A-Za-z0-9_-]{43}`).FindString(body)
	if r.StatusCode != 200 || secret == "" {
		t.Fatalf("create token: %d, secret %q", r.StatusCode, secret)
	}
	if r, _ := get(t, noRedirect(nil), e.srv.URL+"/api/v1/query", "Authorization", "Bearer "+secret); r.StatusCode != 200 {
		t.Errorf("new token: %d", r.StatusCode)
	}
	toks, _ := e.store.Tokens(context.Background())
	r, _ = do(t, c, postForm(e.srv.URL+"/settings/tokens/"+toks[0].ID+"/revoke", url.Values{CSRFField: {m[1]}}))
	if r.StatusCode != 303 {
		t.Errorf("revoke: %d", r.StatusCode)
	}
	if r, _ := get(t, noRedirect(nil), e.srv.URL+"/api/v1/query", "Authorization", "Bearer "+secret); r.StatusCode != 401 {
		t.Errorf("revoked token: %d", r.StatusCode)
	}
	_, page = get(t, c, e.srv.URL+"/settings/tokens")
	if strings.Contains(page, secret) {
		t.Error("the token page shows a secret again")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{"/alerts": "/alerts", "//evil.example": "/", "https://evil.example": "/", "/\\evil": "/", "": "/", "/login": "/"} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBootstrap(t *testing.T) {
	ctx := context.Background()
	s := newTestStore(t, nil)
	cfg := DefaultConfig()
	if err := Bootstrap(ctx, s, cfg, "127.0.0.1:9753"); err != nil {
		t.Errorf("loopback without users: %v", err)
	}
	if err := Bootstrap(ctx, s, cfg, "0.0.0.0:9753"); err == nil {
		t.Error("beyond loopback without users: no error")
	}
	cfg.Mode = ModeNone
	if err := Bootstrap(ctx, s, cfg, "0.0.0.0:9753"); err != nil {
		t.Errorf("mode none: %v", err)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	if err := writeFile(pw, "s3cret-password\n"); err != nil {
		t.Fatal(err)
	}
	cfg = DefaultConfig()
	cfg.AdminPasswordFile = pw
	if err := Bootstrap(ctx, s, cfg, "0.0.0.0:9753"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.CheckPassword(ctx, "admin", "s3cret-password"); !ok {
		t.Error("the first admin cannot log in with the file's password")
	}
	if err := Bootstrap(ctx, s, cfg, "0.0.0.0:9753"); err != nil {
		t.Errorf("second start: %v", err)
	}
}

func TestPasswordHash(t *testing.T) {
	h, err := hashPassword("pässwörd")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %s", h)
	}
	if ok, _ := checkPassword(h, "pässwörd"); !ok {
		t.Error("right password refused")
	}
	if ok, _ := checkPassword(h, "password"); ok {
		t.Error("wrong password accepted")
	}
	if _, err := checkPassword("$2a$10$xyz", "x"); err == nil {
		t.Error("bcrypt hash accepted as argon2id")
	}
}

package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/internal/vigietest"
	"github.com/vigie-dev/vigie/internal/web"
)

const e2ePassword = "e2e-password-42"

// vigieCLI runs one command in process with stdin.
func vigieCLI(t *testing.T, stdin string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx := context.WithValue(context.Background(), stdinKey{}, strings.NewReader(stdin))
	code = runMain(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUserAndTokenCommands(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{{"user", "add", "--help"}, {"user", "passwd", "--help"}, {"user", "rm", "--help"},
		{"user", "list", "--help"}, {"token", "create", "--help"}, {"token", "revoke", "--help"}, {"token", "list", "--help"}} {
		if code, out, _ := vigieCLI(t, "", args...); code != 0 || !strings.Contains(out, "Usage: vigie "+args[0]) {
			t.Errorf("%v: exit %d, stdout %q", args, code, out)
		}
	}
	for _, args := range [][]string{{"user", "add"}, {"user", "rm", "a", "b"}, {"token", "create", "--scope", "root", "x"}, {"user", "list", "--nope"}} {
		if code, _, _ := vigieCLI(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if code, out, errs := vigieCLI(t, e2ePassword+"\n", "user", "add", "ops", "--data-dir", dir); code != 0 {
		t.Fatalf("user add: %d %s %s", code, out, errs)
	}
	if code, _, errs := vigieCLI(t, e2ePassword+"\n", "user", "add", "ops", "--data-dir", dir); code != 1 || !strings.Contains(errs, "already exists") {
		t.Errorf("user add twice: %d %s", code, errs)
	}
	if code, _, errs := vigieCLI(t, "", "user", "add", "x", "--data-dir", dir); code != 1 || !strings.Contains(errs, "no password") {
		t.Errorf("user add without a password: %d %s", code, errs)
	}
	if code, _, _ := vigieCLI(t, "another-password\n", "user", "passwd", "ops", "--data-dir", dir); code != 0 {
		t.Errorf("user passwd: %d", code)
	}
	code, secret, _ := vigieCLI(t, "", "token", "create", "--data-dir", dir, "--scope", "admin", "ci")
	if code != 0 || !strings.HasPrefix(secret, "vigie_") {
		t.Fatalf("token create: %d %q", code, secret)
	}
	_, list, _ := vigieCLI(t, "", "token", "list", "--data-dir", dir)
	if !strings.Contains(list, "ci") || !strings.Contains(list, "admin") || strings.Contains(list, strings.TrimSpace(secret)) {
		t.Errorf("token list: %s", list)
	}
	id := strings.Fields(strings.Split(list, "\n")[1])[0]
	if code, _, errs := vigieCLI(t, "", "token", "revoke", "--data-dir", dir, id); code != 0 {
		t.Errorf("token revoke: %d %s", code, errs)
	}
	if code, _, _ := vigieCLI(t, "", "user", "rm", "--data-dir", dir, "ops"); code != 0 {
		t.Errorf("user rm: %d", code)
	}
	if _, out, _ := vigieCLI(t, "", "user", "list", "--data-dir", dir); strings.Contains(out, "ops") {
		t.Errorf("user list after rm: %s", out)
	}
}

// TestRefusesToStartExposedWithoutCredentials: beyond loopback, no user
// and no token is an error, unless auth says none in so many words.
func TestRefusesToStartExposedWithoutCredentials(t *testing.T) {
	code, _, errs := vigieCLI(t, "", "run", "--listen", "0.0.0.0:0", "--data-dir", t.TempDir())
	if code != 1 || !strings.Contains(errs, "no user or token exists") {
		t.Errorf("exposed without credentials: exit %d: %s", code, errs)
	}
}

// startWithAuth runs vigie with auth required, a user and two tokens.
func startWithAuth(t *testing.T) (p *vigietest.Process, readToken, adminToken string) {
	t.Helper()
	dir := t.TempDir()
	if code, _, errs := vigieCLI(t, e2ePassword+"\n", "user", "add", "ops", "--data-dir", dir); code != 0 {
		t.Fatal(errs)
	}
	_, readToken, _ = vigieCLI(t, "", "token", "create", "--data-dir", dir, "--scope", "read", "prometheus")
	_, adminToken, _ = vigieCLI(t, "", "token", "create", "--data-dir", dir, "--scope", "admin", "ci")
	p = vigietest.Start(t, vigietest.Options{DataDir: dir, Config: "collect:\n  interval: 1s\nauth:\n  mode: required\n"})
	return p, strings.TrimSpace(readToken), strings.TrimSpace(adminToken)
}

func TestAuthRequiredEndToEnd(t *testing.T) {
	p, readToken, adminToken := startWithAuth(t)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	call := func(method, path, authz string) int {
		req, _ := http.NewRequest(method, p.URL(path), nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	basic := func() string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth("ops", e2ePassword)
		return req.Header.Get("Authorization")
	}()
	for _, tc := range []struct {
		method, path, authz string
		want                int
	}{
		{"GET", "/api/v1/query?query=up", "", 401},
		{"GET", "/", "", 303},
		{"GET", "/-/healthy", "", 200},
		{"GET", "/login", "", 200},
		{"GET", "/api/v1/query?query=up", "Bearer " + readToken, 200},
		{"GET", "/api/v1/query?query=up", basic, 200},
		{"GET", "/debug/pprof/", "Bearer " + readToken, 403},
		{"GET", "/debug/pprof/", "Bearer " + adminToken, 200},
		{"POST", "/-/reload", "Bearer " + readToken, 403},
		{"POST", "/-/reload", "Bearer " + adminToken, 200},
		// The signed link's form is public: its signature is checked, not credentials.
		{"POST", "/api/v1/alerts/0123456789abcdef/ack/link?exp=9999999999&sig=forged", "", 403},
		{"GET", "/api/v1/alerts/0123456789abcdef/ack?exp=9999999999&sig=forged", "", 403},
		{"POST", "/api/v1/alerts/0123456789abcdef/ack?exp=9999999999&sig=forged", "", 401},
		{"GET", "/metrics", "", 200},
	} {
		if got := call(tc.method, tc.path, tc.authz); got != tc.want {
			t.Errorf("%s %s (%.10s): %d, want %d", tc.method, tc.path, tc.authz, got, tc.want)
		}
	}
	cfg := p.Get("/api/v1/status/config", nil)
	_ = cfg
	req, _ := http.NewRequest("GET", p.URL("/api/v1/status/config"), nil)
	req.Header.Set("Authorization", "Bearer "+adminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	_, _ = body.ReadFrom(resp.Body)
	resp.Body.Close()
	if !strings.Contains(body.String(), "auth:") {
		t.Errorf("/api/v1/status/config lacks the auth section: %s", body.String())
	}
	for _, s := range []string{readToken, adminToken, e2ePassword} {
		if strings.Contains(body.String(), s) || strings.Contains(p.Log(), s) {
			t.Error("a secret appears in /api/v1/status/config or the log")
		}
	}
}

// TestPromtoolWithToken: Prometheus's own client queries vigie with a
// token. Debian's promtool 2.42 has no --http.config.file (2.43 added
// it), so the token goes as basic auth's password in the server URL,
// which vigie accepts as it accepts a Bearer token; a newer promtool is
// also tried with authorization.credentials.
func TestPromtoolWithToken(t *testing.T) {
	promtool := promtoolOrSkip(t)
	p, readToken, _ := startWithAuth(t)
	out, err := exec.Command(promtool, "query", "instant", "http://token:"+readToken+"@"+p.Addr, "vigie_build_info").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "vigie_build_info{") {
		t.Errorf("promtool with a token: %v\n%s", err, out)
	}
	if strings.Contains(string(out), readToken) {
		t.Error("promtool's output shows the token")
	}
	out, err = exec.Command(promtool, "query", "instant", "http://"+p.Addr, "vigie_build_info").CombinedOutput()
	if err == nil {
		t.Errorf("promtool without a token succeeded:\n%s", out)
	}
	help, _ := exec.Command(promtool, "query", "instant", "--help").CombinedOutput()
	if !strings.Contains(string(help), "http.config.file") {
		t.Log("this promtool has no --http.config.file: authorization.credentials not tried")
		return
	}
	httpCfg := filepath.Join(t.TempDir(), "http.yml")
	if err := os.WriteFile(httpCfg, []byte("authorization:\n  type: Bearer\n  credentials: "+readToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = exec.Command(promtool, "query", "instant", "--http.config.file", httpCfg, "http://"+p.Addr, "vigie_build_info").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "vigie_build_info{") {
		t.Errorf("promtool with authorization.credentials: %v\n%s", err, out)
	}
}

func TestWarnsWhenListeningBeyondLoopback(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, nil))
	cfg := defaultConfig()
	warnExposure(logger, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9753}, &cfg)
	if buf.Len() != 0 {
		t.Errorf("warning on loopback: %s", buf.String())
	}
	warnExposure(logger, &net.TCPAddr{IP: net.IPv4zero, Port: 9753}, &cfg)
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "beyond loopback") {
		t.Errorf("no warning on 0.0.0.0: %q", buf.String())
	}
}

// TestReloadRefusesRequiredAuthWithoutCredentials: a reload that would
// lock everyone out is refused, and the running configuration stays.
func TestReloadRefusesRequiredAuthWithoutCredentials(t *testing.T) {
	cfg := defaultConfig()
	cfg.Global.DataDir = t.TempDir()
	a, err := newApp(context.Background(), &cfg, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.closeComponents() })
	next := cfg
	next.Auth.Mode = "required"
	if err := a.apply(&next); err == nil || !strings.Contains(err.Error(), "no user or token exists") {
		t.Errorf("reload to mode required without credentials: %v", err)
	}
	if a.auth.a.Required() {
		t.Error("the refused reload was applied")
	}
}

// TestRouteAccess: every state-changing route of the whole app is admin,
// except the login form and the signed acknowledgement link; the profiler
// is admin; health is public.
func TestRouteAccess(t *testing.T) {
	cfg := defaultConfig()
	cfg.Global.DataDir = t.TempDir()
	a, err := newApp(context.Background(), &cfg, appOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.closeComponents() })
	mux := web.NewMux()
	for _, c := range a.components {
		mux.Handle(c.Routes()...)
	}
	// Heartbeat pings are public: the secret token in the URL is the credential.
	publicWrites := map[string]bool{"POST /login": true, "POST /api/v1/alerts/{fp}/ack/link": true,
		"POST /ping/{token}": true, "POST /ping/{token}/{action}": true}
	for pattern, access := range mux.Routes() {
		method, _, _ := strings.Cut(pattern, " ")
		switch {
		case publicWrites[pattern]:
			if access != web.Public {
				t.Errorf("%s is %s, want public", pattern, access)
			}
		case method == "POST" || method == "PUT" || method == "DELETE" || method == "PATCH":
			if access != web.Admin && pattern != "POST /logout" && !strings.HasPrefix(pattern, "POST /api/v1/query") &&
				!strings.HasPrefix(pattern, "POST /api/v1/series") && !strings.HasPrefix(pattern, "POST /api/v1/labels") &&
				!strings.HasPrefix(pattern, "POST /api/v1/label") && !strings.HasPrefix(pattern, "POST /loki/api/v1/series") {
				t.Errorf("%s changes state and is %s, want admin", pattern, access)
			}
		case strings.HasPrefix(pattern, "/debug/pprof/"):
			if access != web.Admin {
				t.Errorf("%s is %s, want admin", pattern, access)
			}
		}
	}
	if len(mux.Routes()) < 30 {
		t.Fatalf("only %d routes mounted", len(mux.Routes()))
	}
	for _, p := range []string{"GET /-/healthy", "GET /-/ready", "GET /login", "GET /assets/"} {
		if mux.Routes()[p] != web.Public {
			t.Errorf("%s is not public", p)
		}
	}
}

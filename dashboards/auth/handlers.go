package auth

import (
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/vigie-dev/vigie/internal/web"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// Routes are the login and logout endpoints and the token pages.
func (a *Auth) Routes() []web.Route {
	return []web.Route{
		web.R("GET /login", web.Public, a.getLogin),
		web.R("POST /login", web.Public, a.postLogin),
		web.R("POST /logout", web.Read, a.postLogout),
		web.R("GET /settings/tokens", web.Admin, a.getTokens),
		web.R("POST /settings/tokens", web.Admin, a.postToken),
		web.R("POST /settings/tokens/{id}/revoke", web.Admin, a.revokeToken),
	}
}

type loginPage struct {
	Next, User, Error, CSRF string
}

func (a *Auth) renderLogin(w http.ResponseWriter, r *http.Request, code int, p loginPage) {
	// Login CSRF: a double-submitted random value, cookie and field.
	p.CSRF = randomString(24)
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: p.CSRF, Path: "/login", HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: secureRequest(r), MaxAge: 3600})
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, "login.html", p)
}

func (a *Auth) getLogin(w http.ResponseWriter, r *http.Request) {
	a.renderLogin(w, r, http.StatusOK, loginPage{Next: safeNext(r.URL.Query().Get("next"))})
}

func (a *Auth) postLogin(w http.ResponseWriter, r *http.Request) {
	user, pass, next := r.PostFormValue("username"), r.PostFormValue("password"), safeNext(r.PostFormValue("next"))
	c, err := r.Cookie(loginCookie)
	if err != nil || c.Value == "" || c.Value != r.PostFormValue(CSRFField) {
		a.renderLogin(w, r, http.StatusForbidden, loginPage{Next: next, User: user, Error: "The form expired: please sign in again."})
		return
	}
	rec := &statusRecorder{ResponseWriter: w}
	u, status := a.checkLogin(rec, r, user, pass)
	switch status {
	case 0:
	case http.StatusTooManyRequests:
		a.renderLogin(w, r, status, loginPage{Next: next, User: user, Error: "Too many failed sign-ins: wait a minute."})
		return
	default:
		a.renderLogin(w, r, status, loginPage{Next: next, User: user, Error: "Wrong user name or password."})
		return
	}
	id, _, err := a.store.CreateSession(r.Context(), u.Name, a.config().SessionLifetime.D())
	if err != nil {
		a.logErr(err)
		a.renderLogin(w, r, http.StatusInternalServerError, loginPage{Next: next, User: user, Error: "Cannot start a session."})
		return
	}
	a.logErr(a.store.Audit(r.Context(), "login", u.Name, clientIP(r), ""))
	a.log.Info("login", "user", u.Name, "client", clientIP(r))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: secureRequest(r), MaxAge: int(a.config().SessionLifetime.D().Seconds())})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Path: "/login", MaxAge: -1})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// statusRecorder swallows checkLogin's own answer: the login form answers
// with a page instead.
type statusRecorder struct {
	http.ResponseWriter
	hdr http.Header
}

func (s *statusRecorder) Header() http.Header {
	if s.hdr == nil {
		s.hdr = http.Header{}
	}
	return s.hdr
}
func (s *statusRecorder) WriteHeader(int)             {}
func (s *statusRecorder) Write(b []byte) (int, error) { return len(b), nil }

// safeNext keeps redirects on this site: a local absolute path only.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.HasPrefix(next, "/login") {
		return "/"
	}
	return next
}

func (a *Auth) postLogout(w http.ResponseWriter, r *http.Request) {
	p := FromContext(r.Context())
	if c, err := r.Cookie(SessionCookie); err == nil {
		a.logErr(a.store.DeleteSession(r.Context(), c.Value))
	}
	a.logErr(a.store.Audit(r.Context(), "logout", p.Name, clientIP(r), ""))
	a.log.Info("logout", "user", p.Name, "client", clientIP(r))
	http.SetCookie(w, &http.Cookie{Name: SessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: secureRequest(r)})
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type tokensPage struct {
	Principal Principal
	Tokens    []Token
	Users     []User
	Audit     []AuditEntry
	Created   *Token
	Secret    string
	Error     string
}

func (a *Auth) renderTokens(w http.ResponseWriter, r *http.Request, code int, p tokensPage) {
	ctx := r.Context()
	var err1, err2, err3 error
	p.Principal = FromContext(ctx)
	p.Tokens, err1 = a.store.Tokens(ctx)
	p.Users, err2 = a.store.Users(ctx)
	p.Audit, err3 = a.store.AuditLog(ctx, 50)
	if err := errors.Join(err1, err2, err3); err != nil {
		a.logErr(err)
		http.Error(w, "cannot read the access-control tables", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = pages.ExecuteTemplate(w, "tokens.html", p)
}

func (a *Auth) getTokens(w http.ResponseWriter, r *http.Request) {
	a.renderTokens(w, r, http.StatusOK, tokensPage{})
}

func (a *Auth) postToken(w http.ResponseWriter, r *http.Request) {
	t, secret, err := a.store.CreateToken(r.Context(), strings.TrimSpace(r.PostFormValue("name")), r.PostFormValue("scope"))
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrInvalid) {
			code = http.StatusBadRequest
		}
		a.renderTokens(w, r, code, tokensPage{Error: err.Error()})
		return
	}
	p := FromContext(r.Context())
	a.logErr(a.store.Audit(r.Context(), "token_created", p.Name, clientIP(r), t.ID+" "+t.Name+" "+t.Scope))
	a.renderTokens(w, r, http.StatusOK, tokensPage{Created: &t, Secret: secret})
}

func (a *Auth) revokeToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if err := a.store.RevokeToken(r.Context(), id); err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, ErrNotFound) {
			code = http.StatusNotFound
		}
		a.renderTokens(w, r, code, tokensPage{Error: err.Error()})
		return
	}
	p := FromContext(r.Context())
	a.logErr(a.store.Audit(r.Context(), "token_revoked", p.Name, clientIP(r), id))
	http.Redirect(w, r, "/settings/tokens", http.StatusSeeOther)
}

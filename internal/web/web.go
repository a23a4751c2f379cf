// Package web holds the seams every HTTP-serving component shares: a route
// table in which each route declares who may call it, and the middleware
// that the composition root wraps around the whole mux once (security
// headers today; access control checks each route's Access).
//
// Components never check credentials themselves: they declare routes with
// an Access, and cmd/vigie mounts them all in one place.
package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
)

// Access says who may call a route.
type Access int

const (
	// Public routes need no credentials: health, the status page, signed links.
	Public Access = iota
	// Read routes only read: queries, pages, listings.
	Read
	// Admin routes change state: silences, acks, reloads, users; and pprof.
	Admin
)

func (a Access) String() string {
	switch a {
	case Public:
		return "public"
	case Read:
		return "read"
	case Admin:
		return "admin"
	}
	return fmt.Sprintf("Access(%d)", int(a))
}

// Route is one entry of a component's route table. Pattern is an
// http.ServeMux pattern ("GET /api/v1/query", "/status").
type Route struct {
	Pattern string
	Access  Access
	Handler http.Handler
}

// R builds a Route from a handler function.
func R(pattern string, access Access, h http.HandlerFunc) Route {
	return Route{Pattern: pattern, Access: access, Handler: h}
}

// Mux is an http.ServeMux that remembers each pattern's Access, so one
// middleware can decide per request without the handlers knowing.
type Mux struct {
	mux    *http.ServeMux
	mu     sync.RWMutex
	access map[string]Access
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	return &Mux{mux: http.NewServeMux(), access: map[string]Access{}}
}

// Handle mounts routes. A pattern mounted twice is a programming error and
// panics, as http.ServeMux does.
func (m *Mux) Handle(routes ...Route) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range routes {
		m.mux.Handle(r.Pattern, r.Handler)
		m.access[r.Pattern] = r.Access
	}
}

// AccessFor returns the Access of the route that would serve r, and false
// when no route matches (a 404 or 405 follows).
func (m *Mux) AccessFor(r *http.Request) (Access, bool) {
	_, pattern := m.mux.Handler(r)
	m.mu.RLock()
	defer m.mu.RUnlock()
	a, ok := m.access[pattern]
	return a, ok
}

// Routes lists every mounted pattern with its Access (for tests and docs).
func (m *Mux) Routes() map[string]Access {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]Access, len(m.access))
	for k, v := range m.access {
		out[k] = v
	}
	return out
}

func (m *Mux) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mux.ServeHTTP(w, r)
}

// CSP is the Content-Security-Policy of every HTML page vigie serves: its
// own scripts, styles (inline styles allowed for server-rendered pages) and
// images only, never framed.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

// SecureHeaders wraps h so that every response says nosniff, and every HTML
// response also carries CSP and X-Frame-Options: DENY. The headers are set
// just before the status line is written, when the Content-Type is known.
func SecureHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(&secureWriter{ResponseWriter: w}, r)
	})
}

// secureWriter adds the headers at the first WriteHeader or Write.
type secureWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *secureWriter) addHeaders(sniffed []byte) {
	if w.wrote {
		return
	}
	w.wrote = true
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	ct := hdr.Get("Content-Type")
	if ct == "" && sniffed != nil {
		// net/http would sniff the type from the first bytes: do the same
		// now, so an HTML page without a declared type is protected too.
		ct = http.DetectContentType(sniffed)
		hdr.Set("Content-Type", ct)
	}
	// A type still unknown here may turn out to be HTML: protect it too.
	if ct == "" || strings.HasPrefix(strings.ToLower(ct), "text/html") {
		hdr.Set("Content-Security-Policy", CSP)
		hdr.Set("X-Frame-Options", "DENY")
	}
}

func (w *secureWriter) WriteHeader(code int) {
	w.addHeaders(nil)
	w.ResponseWriter.WriteHeader(code)
}

func (w *secureWriter) Write(b []byte) (int, error) {
	w.addHeaders(b)
	return w.ResponseWriter.Write(b)
}

// Flush lets streaming handlers (pprof's trace, long polls) flush through.
func (w *secureWriter) Flush() {
	w.addHeaders(nil)
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *secureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Envelope is the JSON answer of vigie's own APIs, in Prometheus's shape:
// {status, data} or {status, errorType, error}.
type Envelope struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
}

// WriteJSON writes v with code. It encodes first, so a value that cannot be
// encoded becomes a 500 with an error envelope, never half a body.
func WriteJSON(w http.ResponseWriter, code int, v Envelope) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(Envelope{Status: "error", ErrorType: "internal", Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

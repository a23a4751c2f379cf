// Package web holds the seams every HTTP-serving component shares: a route
// table in which each route declares who may call it, and the middleware
// that the composition root wraps around the whole mux once (security
// headers today; access control checks each route's Access).
//
// Components never check credentials themselves: they declare routes with
// an Access, and cmd/vigie mounts them all in one place.
package web

import (
	"fmt"
	"net/http"
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

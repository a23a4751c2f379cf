package status

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
)

// Routes are the status page (Public) and the incidents API:
//
//	GET  /status                          the page (HTML, no JavaScript)
//	GET  /status.json                     the same data
//	GET  /status/assets/status.css        its style sheet
//	GET  /status/badge/{id}.svg           a component's state; ?kind=uptime&window=30d: its uptime
//	GET  /status/feed.atom                incidents as an Atom feed
//	GET  /api/v1/incidents                open and recent incidents (Read)
//	POST /api/v1/incidents                open an incident (Admin)
//	POST /api/v1/incidents/{id}/updates   post an update; status resolved resolves (Admin)
func (p *Page) Routes() []web.Route {
	return []web.Route{
		web.R("GET /status", web.Public, p.handlePage),
		web.R("GET /status.json", web.Public, p.handleJSON),
		web.R("GET /status/assets/status.css", web.Public, handleCSS),
		web.R("GET /status/badge/{file}", web.Public, p.handleBadge),
		web.R("GET /status/feed.atom", web.Public, p.handleFeed),
		web.R("GET /api/v1/incidents", web.Read, p.handleListIncidents),
		web.R("POST /api/v1/incidents", web.Admin, p.handleOpenIncident),
		web.R("POST /api/v1/incidents/{id}/updates", web.Admin, p.handleUpdateIncident),
	}
}

// load returns the snapshot, or answers 404 (page disabled) or 500 itself.
func (p *Page) load(w http.ResponseWriter, r *http.Request) (*Snapshot, bool) {
	s, ok, err := p.snapshot(r.Context())
	if err != nil {
		p.logger.Error("status page data failed", "err", err)
		http.Error(w, "status page unavailable", http.StatusInternalServerError)
		return nil, false
	}
	if !ok {
		http.NotFound(w, r)
		return nil, false
	}
	return s, true
}

func (p *Page) handlePage(w http.ResponseWriter, r *http.Request) {
	s, ok := p.load(w, r)
	if !ok {
		return
	}
	s.htmlOnce.Do(func() {
		var buf bytes.Buffer
		s.htmlErr = pageTemplate.Execute(&buf, pageData{Snapshot: s, Base: p.basePath()})
		s.html = buf.Bytes()
	})
	if s.htmlErr != nil {
		p.logger.Error("status page render failed", "err", s.htmlErr)
		http.Error(w, "status page unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(s.html)
}

func (p *Page) handleJSON(w http.ResponseWriter, r *http.Request) {
	s, ok := p.load(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_ = json.NewEncoder(w).Encode(s)
}

func handleCSS(w http.ResponseWriter, r *http.Request) {
	css, _ := assets.ReadFile("assets/status.css")
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(css)
}

func (p *Page) handleBadge(w http.ResponseWriter, r *http.Request) {
	id, ok := strings.CutSuffix(r.PathValue("file"), ".svg")
	if !ok {
		http.NotFound(w, r)
		return
	}
	s, ok := p.load(w, r)
	if !ok {
		return
	}
	c, ok := s.byID[id]
	if !ok {
		http.NotFound(w, r)
		return
	}
	label, color := badgeState(c.State)
	var value string
	switch r.URL.Query().Get("kind") {
	case "", "state":
		value = label
		label = c.Name
	case "uptime":
		win := r.URL.Query().Get("window")
		if _, ok := windowOf(win); !ok {
			http.Error(w, "window: want 24h, 7d, 30d or 90d", http.StatusBadRequest)
			return
		}
		if win == "" {
			win = "30d"
		}
		ratio := -1.0
		for _, u := range c.Uptime {
			if u.Window == win {
				ratio = u.Ratio
			}
		}
		value, color = badgeUptime(ratio)
		label = c.Name + " " + win
	default:
		http.Error(w, "kind: want state or uptime", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(badgeSVG(label, value, color))
}

// basePath is the external URL's path ("" when vigie is served at the root).
func (p *Page) basePath() string {
	if u, err := url.Parse(p.externalURL); err == nil {
		return strings.TrimSuffix(u.Path, "/")
	}
	return ""
}

// baseURL is the external URL, or the request's scheme and host.
func (p *Page) baseURL(r *http.Request) string {
	if p.externalURL != "" {
		return p.externalURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// Atom (RFC 4287) elements; encoding/xml writes them.
type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Author  atomPerson  `xml:"author"`
	Links   []atomLink  `xml:"link"`
	Entries []atomEntry `xml:"entry"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomLink struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr,omitempty"`
	Type string `xml:"type,attr,omitempty"`
}

type atomEntry struct {
	Title     string      `xml:"title"`
	ID        string      `xml:"id"`
	Published string      `xml:"published"`
	Updated   string      `xml:"updated"`
	Link      atomLink    `xml:"link"`
	Summary   string      `xml:"summary"`
	Content   atomContent `xml:"content"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

func (p *Page) handleFeed(w http.ResponseWriter, r *http.Request) {
	s, ok := p.load(w, r)
	if !ok {
		return
	}
	base := p.baseURL(r)
	f := atomFeed{Title: s.Title + ": incidents", ID: base + "/status", Updated: s.Generated.Format(time.RFC3339),
		Author: atomPerson{Name: s.Title},
		Links:  []atomLink{{Href: base + "/status/feed.atom", Rel: "self", Type: "application/atom+xml"}, {Href: base + "/status", Type: "text/html"}}}
	for _, in := range s.Incidents {
		var body strings.Builder
		for _, u := range in.Updates {
			fmt.Fprintf(&body, "%s (%s): %s\n", u.At.Format(time.RFC3339), u.Status, u.Message)
		}
		state := "ongoing"
		if in.ResolvedAt != nil {
			state = "resolved"
		}
		f.Entries = append(f.Entries, atomEntry{
			Title: in.Title, ID: fmt.Sprintf("%s/status#incident-%d", base, in.ID),
			Published: in.CreatedAt.Format(time.RFC3339), Updated: in.UpdatedAt.Format(time.RFC3339),
			Link:    atomLink{Href: fmt.Sprintf("%s/status#incident-%d", base, in.ID)},
			Summary: fmt.Sprintf("%s, %s impact: %s", state, in.Impact, strings.Join(in.Components, ", ")),
			Content: atomContent{Type: "text", Body: body.String()},
		})
	}
	out, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		http.Error(w, "feed unavailable", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	_, _ = w.Write([]byte(xml.Header))
	_, _ = w.Write(out)
}

func (p *Page) apiError(w http.ResponseWriter, err error) {
	var inv errInvalid
	switch {
	case errors.As(err, &inv):
		web.WriteJSON(w, http.StatusBadRequest, web.Envelope{Status: "error", ErrorType: "bad_data", Error: err.Error()})
	case errors.Is(err, ErrNotFound):
		web.WriteJSON(w, http.StatusNotFound, web.Envelope{Status: "error", ErrorType: "not_found", Error: err.Error()})
	default:
		p.logger.Error("incidents API failed", "err", err)
		web.WriteJSON(w, http.StatusInternalServerError, web.Envelope{Status: "error", ErrorType: "internal", Error: "internal error"})
	}
}

// maxBody bounds an API request body.
const maxBody = 64 << 10

func decodeBody(r *http.Request, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return invalidf("request body: %v", err)
	}
	return nil
}

func (p *Page) handleListIncidents(w http.ResponseWriter, r *http.Request) {
	recent := recentIncidents
	if r.URL.Query().Get("all") == "true" {
		recent = 100 * 365 * 24 * time.Hour
	}
	list, err := p.Incidents(r.Context(), recent, 500)
	if err != nil {
		p.apiError(w, err)
		return
	}
	if list == nil {
		list = []Incident{}
	}
	web.WriteJSON(w, http.StatusOK, web.Envelope{Status: "success", Data: list})
}

func (p *Page) handleOpenIncident(w http.ResponseWriter, r *http.Request) {
	var n NewIncident
	if err := decodeBody(r, &n); err != nil {
		p.apiError(w, err)
		return
	}
	in, err := p.OpenIncident(r.Context(), n)
	if err != nil {
		p.apiError(w, err)
		return
	}
	web.WriteJSON(w, http.StatusCreated, web.Envelope{Status: "success", Data: in})
}

func (p *Page) handleUpdateIncident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		p.apiError(w, ErrNotFound)
		return
	}
	var u struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if err := decodeBody(r, &u); err != nil {
		p.apiError(w, err)
		return
	}
	in, err := p.UpdateIncident(r.Context(), id, u.Status, u.Message)
	if err != nil {
		p.apiError(w, err)
		return
	}
	web.WriteJSON(w, http.StatusOK, web.Envelope{Status: "success", Data: in})
}

// Package dashboards serves vigie's web UI: server-rendered pages (html/
// template, embedded assets, SVG charts drawn on the server) that read
// through the same interfaces as the HTTP API: the PromQL engine, the
// rules, the notifier and the scrape targets. Access control is its
// subpackage auth; the Grafana dashboards are in grafana/.
package dashboards

import (
	"context"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/prometheus/scrape"

	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/scaling"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed assets
var assetFS embed.FS

// Alerting is what the pages need of the notifier (notify.Notifier).
type Alerting interface {
	Alerts() []notify.APIAlert
	Silences() []notify.Silence
	AddSilence(ctx context.Context, s notify.Silence) (string, error)
	ExpireSilence(ctx context.Context, id string) error
	Acknowledge(ctx context.Context, fp, by, comment string, d time.Duration) (notify.Ack, error)
	Notifications(ctx context.Context, limit int, status, receiver string) ([]notify.Notification, error)
}

// Rules renders the rules as /api/v1/rules does (api.RulesSource).
type Rules interface {
	RulesData(q url.Values) (any, error)
}

// Targets lists the scrape targets (api.TargetRetriever).
type Targets interface {
	TargetsActive() map[string][]*scrape.Target
}

// Scaling gives the last replica recommendations (scaling.Scaler).
type Scaling interface {
	Last() scaling.Result
}

// Options are the read interfaces the pages use. Query and Alerting are
// required; a nil Rules, Targets, Scaling, Probes, Heartbeats or Logs
// leaves its section out.
type Options struct {
	Query      Querier
	Alerting   Alerting
	Rules      func() Rules
	Targets    func() Targets
	Scaling    func() Scaling
	Probes     Probes
	Heartbeats Heartbeats
	Logs       Logs
	// StatusProbes are the probes the public status page (/status) shows
	// while it is served; they link to it.
	StatusProbes func() map[string]bool
	Logger       *slog.Logger
	Now          func() time.Time
}

// UI is the web UI.
type UI struct {
	o     Options
	pages map[string]*template.Template
}

// New parses the templates (a broken template is a programming error
// caught by the tests) and returns the UI.
func New(o Options) (*UI, error) {
	if o.Query == nil || o.Alerting == nil {
		return nil, fmt.Errorf("dashboards: Query and Alerting are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	base, err := template.New("base").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("dashboards: %w", err)
	}
	names, _ := fs.Glob(templateFS, "templates/*.html")
	u := &UI{o: o, pages: map[string]*template.Template{}}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, n)
		if err != nil {
			return nil, fmt.Errorf("dashboards: %w", err)
		}
		u.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return u, nil
}

// Routes are the pages (Read), their forms (Admin) and the assets (Public).
func (u *UI) Routes() []web.Route {
	assets, _ := fs.Sub(assetFS, "assets")
	files := http.StripPrefix("/assets/", http.FileServerFS(assets))
	return []web.Route{
		{Pattern: "GET /assets/", Access: web.Public, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=3600")
			files.ServeHTTP(w, r)
		})},
		// Browsers ask for /favicon.ico on pages without an icon link (the
		// notifier's acknowledgement page): no icon, and no 404 logged.
		{Pattern: "GET /favicon.ico", Access: web.Public, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "public, max-age=86400")
			w.WriteHeader(http.StatusNoContent)
		})},
		web.R("GET /{$}", web.Read, u.overview),
		web.R("GET /host", web.Read, u.host),
		web.R("GET /containers/{name}", web.Read, u.container),
		web.R("GET /services/{name}", web.Read, u.service),
		web.R("GET /postgres", web.Read, u.postgres),
		web.R("GET /alerts", web.Read, u.alerts),
		web.R("POST /alerts/{fp}/ack", web.Admin, u.ackAlert),
		web.R("GET /silences", web.Read, u.silences),
		web.R("POST /silences", web.Admin, u.createSilence),
		web.R("POST /silences/{id}/expire", web.Admin, u.expireSilence),
		web.R("GET /rules", web.Read, u.rules),
		web.R("GET /targets", web.Read, u.targets),
		web.R("GET /graph", web.Read, u.graph),
		web.R("GET /delivery", web.Read, u.delivery),
	}
}

// page is what every template gets.
type page struct {
	Title   string
	Nav     string // the active menu entry
	User    auth.Principal
	Range   string
	Ranges  []string
	Refresh string
	Path    string
	Now     time.Time
	Error   string
	Notice  string
	Data    any
	// Charts shows the range and refresh selects.
	Charts bool
}

// ranges are the time ranges of the select, and their query steps.
var ranges = []struct {
	name string
	d    time.Duration
}{
	{"15m", 15 * time.Minute}, {"1h", time.Hour}, {"6h", 6 * time.Hour}, {"24h", 24 * time.Hour},
	{"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour},
}

// window reads ?range= (default 1h): the duration, the step for about 240
// points, and a rate window of at least a minute covering the step.
func window(r *http.Request) (name string, d, step, rateWin time.Duration) {
	name, d = "1h", time.Hour
	for _, x := range ranges {
		if x.name == r.URL.Query().Get("range") {
			name, d = x.name, x.d
		}
	}
	step = max(d/240, time.Second).Truncate(time.Second)
	// A window a quarter longer than the step sees every sample once and
	// always holds two, with collections every 15 s or less.
	rateWin = max(step+step/4, time.Minute)
	return name, d, step, rateWin
}

func (u *UI) newPage(r *http.Request, title, nav string) page {
	name, _, _, _ := window(r)
	p := page{Title: title, Nav: nav, User: auth.FromContext(r.Context()), Range: name, Path: r.URL.Path,
		Refresh: r.URL.Query().Get("refresh"), Now: u.o.Now(),
		Charts: nav == "overview" || nav == "host" || nav == "postgres" || nav == "graph"}
	for _, x := range ranges {
		p.Ranges = append(p.Ranges, x.name)
	}
	return p
}

func (u *UI) render(w http.ResponseWriter, code int, name string, p page) {
	t, ok := u.pages[name]
	if !ok {
		http.Error(w, "no template "+name, http.StatusInternalServerError)
		return
	}
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		u.o.Logger.Error("rendering a page", "page", name, "err", err)
		http.Error(w, "cannot render the page", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

type navItem struct{ ID, Href, Label string }

var funcs = template.FuncMap{
	"since": func(now, t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return now.Sub(t).Truncate(time.Second).String()
	},
	"ts": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format("2006-01-02 15:04:05")
	},
	"graphURL":    func(expr string) string { return "/graph?g0.expr=" + url.QueryEscape(expr) },
	"pathEscape":  url.PathEscape,
	"join":        strings.Join,
	"silenceLink": silenceLink,
	"deref":       func(b *bool) bool { return b != nil && *b },
	"sub":         func(a, b float64) float64 { return a - b },
	"refreshes":   func() []string { return []string{"10", "30", "60", "300"} },
	"navItems": func() []navItem {
		return []navItem{{"overview", "/", "Overview"}, {"host", "/host", "Host"}, {"postgres", "/postgres", "PostgreSQL"},
			{"alerts", "/alerts", "Alerts"}, {"silences", "/silences", "Silences"}, {"rules", "/rules", "Rules"},
			{"targets", "/targets", "Targets"}, {"graph", "/graph", "Explore"}, {"delivery", "/delivery", "Delivery"}}
	},
	"labelsOf": func(m map[string]string) string {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + "=" + m[k])
		}
		return b.String()
	},
}

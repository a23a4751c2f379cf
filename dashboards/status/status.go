package status

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// History is what the page reads of probe checks (*uptime.History).
type History interface {
	State(ctx context.Context, probe string) (uptime.State, bool, error)
	Uptime(ctx context.Context, probe string, since time.Time) (float64, int, error)
	Daily(ctx context.Context, probe string, days int) ([]uptime.DayBar, error)
	ResponseTimes(ctx context.Context, probe string, since time.Time, step time.Duration) ([]uptime.Point, error)
}

// Probes lists the running probes (*uptime.Manager): their targets, and
// the `status:` block that puts a probe on the page without listing it here.
type Probes interface {
	Probes() []uptime.ProbeStatus
}

// Heartbeats is what the page reads of push monitors (*heartbeat.Heartbeats).
type Heartbeats interface {
	List(base string) []heartbeat.Info
	History(ctx context.Context, name string, from, to time.Time) ([]heartbeat.Transition, error)
}

// FileChecks is what the page reads of file checks (uptime.files,
// *heartbeat.Heartbeats).
type FileChecks interface {
	Files() []heartbeat.FileInfo
	FileHistory(ctx context.Context, name string, from, to time.Time) ([]heartbeat.FileTransition, error)
}

// The real implementations satisfy the seams.
var (
	_ History    = (*uptime.History)(nil)
	_ Probes     = (*uptime.Manager)(nil)
	_ Heartbeats = (*heartbeat.Heartbeats)(nil)
	_ FileChecks = (*heartbeat.Heartbeats)(nil)
)

// Options are what New needs. History and StateDB are required; Probes,
// Heartbeats and Files may be nil (then only what they would give is
// missing).
type Options struct {
	Config     Config
	History    History
	Probes     Probes
	Heartbeats Heartbeats
	Files      FileChecks
	StateDB    *storage.State
	Logger     *slog.Logger
	// Now is the clock (time.Now when nil).
	Now func() time.Time
	// ExternalURL is vigie's public URL, for the feed's and badges' links;
	// empty: derived from each request.
	ExternalURL string
}

// Page is the status page: its handlers, the incidents and the
// maintenance windows.
type Page struct {
	history     History
	probes      Probes
	heartbeats  Heartbeats
	files       FileChecks
	incidents   incidents
	logger      *slog.Logger
	now         func() time.Time
	externalURL string

	mu  sync.RWMutex
	cfg Config

	// building serializes snapshot builds; cached is the last one, kept
	// cacheTTL (a public page must not cost the database a query per
	// component on every request), dropped when incidents or config change.
	building sync.Mutex
	cacheMu  sync.Mutex
	cached   *Snapshot

	firingMu sync.Mutex
	firing   map[string]bool // alert keys seen firing since start
}

// cacheTTL is how long a snapshot serves requests.
const cacheTTL = 10 * time.Second

// New opens the incidents tables and returns the page.
func New(ctx context.Context, o Options) (*Page, error) {
	if o.StateDB == nil || o.History == nil {
		return nil, fmt.Errorf("status page: a state database and the uptime history are required")
	}
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if err := o.StateDB.Migrate(ctx, "status", migrations); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Page{
		history: o.History, probes: o.Probes, heartbeats: o.Heartbeats, files: o.Files,
		incidents: incidents{db: o.StateDB.DB}, logger: o.Logger.With("component", "status_page"),
		now: o.Now, externalURL: strings.TrimSuffix(o.ExternalURL, "/"), cfg: o.Config, firing: map[string]bool{},
	}, nil
}

// ApplyConfig switches to cfg on a reload; an invalid cfg changes nothing.
func (p *Page) ApplyConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	p.mu.Lock()
	p.cfg = cfg
	p.mu.Unlock()
	p.invalidate()
	return nil
}

// invalidate drops the cached snapshot.
func (p *Page) invalidate() {
	p.cacheMu.Lock()
	p.cached = nil
	p.cacheMu.Unlock()
}

func (p *Page) config() Config {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return p.cfg
}

// component is one resolved line of the page.
type component struct {
	ID, Group, Name, Description string
	Probe, Heartbeat, File       string
	Instance                     string // the probe's target, for alerts; shown only with ShowURL
	ShowURL                      bool
}

// DefaultGroup holds probes put on the page by their own `status:` block without a group.
const DefaultGroup = "Services"

// components resolves the configured components, then adds the probes
// whose own `status:` block shows them (discovered domains included).
func (p *Page) components(cfg Config) []component {
	instances := map[string]string{}
	var auto []component
	listed := map[string]bool{}
	for _, g := range cfg.Groups {
		for _, c := range g.Components {
			listed[c.Probe] = true
		}
	}
	if p.probes != nil {
		for _, ps := range p.probes.Probes() {
			instances[ps.Config.Name] = ps.Instance
			s := ps.Config.Status
			if s == nil || listed[ps.Config.Name] {
				continue
			}
			c := component{Group: s.Group, Name: s.Name, Probe: ps.Config.Name, Instance: ps.Instance, ShowURL: s.ShowURL}
			if c.Group == "" {
				c.Group = DefaultGroup
			}
			if c.Name == "" {
				c.Name = ps.Config.Name
			}
			auto = append(auto, c)
		}
	}
	var out []component
	for _, g := range cfg.Groups {
		for _, c := range g.Components {
			out = append(out, component{Group: g.Name, Name: c.Name, Description: c.Description,
				Probe: c.Probe, Heartbeat: c.Heartbeat, File: c.File, Instance: instances[c.Probe], ShowURL: c.ShowURL})
		}
	}
	out = append(out, auto...)
	ids := map[string]int{}
	for i := range out {
		id := slug(out[i].Name)
		if n := ids[id]; n > 0 {
			ids[id]++
			id = fmt.Sprintf("%s-%d", id, n+1)
		} else {
			ids[id] = 1
		}
		out[i].ID = id
	}
	return out
}

// slug makes a component name fit a URL path segment: "API (EU)" → "api-eu".
func slug(s string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
			dash = false
		} else if !dash && b.Len() > 0 {
			b.WriteByte('-')
			dash = true
		}
	}
	out := strings.TrimSuffix(b.String(), "-")
	if out == "" {
		return "component"
	}
	return out
}

// matches reports whether an alert's labels point at component c: its
// probe (instance label, the probe's target as probe series carry it, or
// a probe label), its heartbeat (name label, as vigie_heartbeat_*
// series carry it, or a heartbeat label) or its file check (name label,
// as vigie_file_* series carry it, or a file label).
func (c component) matches(labels map[string]string) bool {
	if c.Probe != "" {
		return labels["probe"] == c.Probe || (c.Instance != "" && labels["instance"] == c.Instance)
	}
	if c.File != "" {
		return labels["file"] == c.File || labels["name"] == c.File
	}
	return labels["heartbeat"] == c.Heartbeat || labels["name"] == c.Heartbeat
}

// inMaintenance reports whether m covers c at t.
func (m MaintenanceConfig) covers(c component, t time.Time) bool {
	if t.Before(m.Start) || !t.Before(m.End) {
		return false
	}
	if len(m.Components) == 0 {
		return true
	}
	for _, n := range m.Components {
		if n == c.Name || (c.Probe != "" && n == c.Probe) || (c.Heartbeat != "" && n == c.Heartbeat) || (c.File != "" && n == c.File) {
			return true
		}
	}
	return false
}

func underMaintenance(cfg Config, c component, t time.Time) bool {
	for _, m := range cfg.Maintenance {
		if m.covers(c, t) {
			return true
		}
	}
	return false
}

// Muted reports whether an alert concerns only components under
// scheduled maintenance at now: the composition root drops such alerts
// before notify, as a silence would. An alert that names no shown
// component is never muted.
func (p *Page) Muted(labels map[string]string, now time.Time) bool {
	cfg := p.config()
	if len(cfg.Maintenance) == 0 {
		return false
	}
	hit := false
	for _, c := range p.components(cfg) {
		if !c.matches(labels) {
			continue
		}
		if !underMaintenance(cfg, c, now) {
			return false
		}
		hit = true
	}
	return hit
}

// alertTimeout bounds the database work of one OnAlert call.
const alertTimeout = 5 * time.Second

// OnAlert opens an incident when an alert on a shown component fires and
// resolves it when the alert resolves. The composition root calls it from
// the rules→notify sink for every alert it forwards. Alerts on no shown
// component, on components under maintenance, or of a severity that
// status_page.alert_incidents does not select are ignored.
func (p *Page) OnAlert(labels map[string]string, firing bool, summary string) {
	cfg := p.config()
	if !cfg.AlertIncidents.opens(labels["severity"]) {
		return
	}
	now := p.now()
	var names []string
	for _, c := range p.components(cfg) {
		if c.matches(labels) && !underMaintenance(cfg, c, now) {
			names = append(names, c.Name)
			if !c.ShowURL && c.Instance != "" { // the summary often names the target: hide it
				summary = strings.ReplaceAll(summary, c.Instance, c.Name)
			}
		}
	}
	if len(names) == 0 {
		return
	}
	impact := ImpactMinor
	if labels["severity"] == "critical" {
		impact = ImpactMajor
	}
	a := alertIncident{key: labels["alertname"] + "\x00" + strings.Join(names, "\x00"), names: names,
		title: summary, impact: impact, firing: firing}
	if a.title == "" {
		a.title = strings.Join(names, ", ") + ": " + labels["alertname"]
	}
	ctx, cancel := context.WithTimeout(context.Background(), alertTimeout)
	defer cancel()
	if err := p.onAlert(ctx, a, now); err != nil {
		p.logger.Warn("incident from alert failed", "alertname", labels["alertname"], "err", err)
	}
}

// alertIncident is what an alert does to the incidents.
type alertIncident struct {
	key, title, impact string
	names              []string
	firing             bool
}

func (p *Page) onAlert(ctx context.Context, a alertIncident, now time.Time) error {
	// An alert is re-sent while it fires: an incident someone resolved by
	// hand meanwhile stays resolved until the alert resolves and fires again.
	p.firingMu.Lock()
	seen := p.firing[a.key]
	if a.firing {
		p.firing[a.key] = true
	} else {
		delete(p.firing, a.key)
	}
	p.firingMu.Unlock()
	if a.firing && seen { // a re-send: nothing changes
		return nil
	}
	id, open, err := p.incidents.openByKey(ctx, a.key)
	if err != nil {
		return err
	}
	defer p.invalidate()
	switch {
	case a.firing && !open:
		_, err = p.incidents.open(ctx, NewIncident{Title: a.title, Impact: a.impact, Components: a.names,
			Message: "Our monitoring detected a problem; we are looking into it."}, "alert", a.key, now)
	case !a.firing && open:
		_, err = p.incidents.update(ctx, id, Update{At: now, Status: Resolved, Message: "The problem is resolved: monitoring sees the service working again."})
	}
	return err
}

// OpenIncident opens a manual incident on components of the page.
func (p *Page) OpenIncident(ctx context.Context, n NewIncident) (Incident, error) {
	known := map[string]bool{}
	var names []string
	for _, c := range p.components(p.config()) {
		known[c.Name] = true
		names = append(names, strconv.Quote(c.Name))
	}
	for _, c := range n.Components {
		if !known[c] {
			return Incident{}, invalidf("unknown component %q: the page shows %s", c, strings.Join(names, ", "))
		}
	}
	defer p.invalidate()
	return p.incidents.open(ctx, n, "manual", "", p.now())
}

// UpdateIncident posts an update; status "resolved" resolves the incident.
func (p *Page) UpdateIncident(ctx context.Context, id int64, status, message string) (Incident, error) {
	defer p.invalidate()
	return p.incidents.update(ctx, id, Update{At: p.now(), Status: status, Message: message})
}

// Incidents lists open incidents and those resolved in the last `recent`.
func (p *Page) Incidents(ctx context.Context, recent time.Duration, limit int) ([]Incident, error) {
	return p.incidents.list(ctx, p.now().Add(-recent), limit)
}

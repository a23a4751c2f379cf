package status

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// Days is how many daily bars each component shows.
const Days = 90

// Component and overall states.
const (
	StateOperational   = "operational"
	StateDegraded      = "degraded"
	StateDown          = "down"
	StateMaintenance   = "maintenance"
	StateUnknown       = "unknown"
	StatePartialOutage = "partial_outage"
	StateMajorOutage   = "major_outage"
)

// Windows are the uptime windows shown.
var Windows = []struct {
	Name string
	D    time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"90d", 90 * 24 * time.Hour}}

// Snapshot is everything the page, the JSON and the badges show.
type Snapshot struct {
	Title       string            `json:"title"`
	Description string            `json:"description,omitempty"`
	Overall     string            `json:"overall"`
	Generated   time.Time         `json:"generated_at"`
	Groups      []GroupView       `json:"groups"`
	Incidents   []Incident        `json:"incidents"`
	Maintenance []MaintenanceView `json:"maintenance"`
	byID        map[string]*ComponentView

	// html is the rendered page, made once per snapshot.
	htmlOnce sync.Once
	html     []byte
	htmlErr  error
}

// GroupView is a group of components.
type GroupView struct {
	Name       string          `json:"name"`
	Components []ComponentView `json:"components"`
}

// ComponentView is one component's state and history.
type ComponentView struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Description   string         `json:"description,omitempty"`
	URL           string         `json:"url,omitempty"`
	Kind          string         `json:"kind"` // probe | heartbeat | file
	State         string         `json:"state"`
	Since         *time.Time     `json:"since,omitempty"`
	Uptime        []WindowUptime `json:"uptime"`
	Days          []Day          `json:"days"`
	ResponseTimes []uptime.Point `json:"response_times,omitempty"` // last 24 h, probes only
}

// WindowUptime is the uptime over one window; Ratio is -1 without data.
type WindowUptime struct {
	Window string  `json:"window"`
	Ratio  float64 `json:"ratio"`
}

// Day is one daily bar; Uptime is -1 on a day without data.
type Day struct {
	Date      string   `json:"date"` // YYYY-MM-DD, UTC
	Uptime    float64  `json:"uptime"`
	Outages   int      `json:"outages"` // up→down changes that day
	Incidents []string `json:"incidents,omitempty"`
}

// MaintenanceView is a maintenance window under way or coming within a week.
type MaintenanceView struct {
	Name       string    `json:"name"`
	Components []string  `json:"components"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end"`
	Message    string    `json:"message,omitempty"`
	Active     bool      `json:"active"`
}

// recentIncidents is how far back resolved incidents are listed.
const recentIncidents = 14 * 24 * time.Hour

// upcoming is how early a maintenance window is announced.
const upcoming = 7 * 24 * time.Hour

// snapshot returns the page's data, from the cache while it is fresh;
// ok is false when the page is disabled.
func (p *Page) snapshot(ctx context.Context) (*Snapshot, bool, error) {
	p.building.Lock()
	defer p.building.Unlock()
	now := p.now()
	p.cacheMu.Lock()
	s := p.cached
	p.cacheMu.Unlock()
	if s != nil && !now.Before(s.Generated) && now.Sub(s.Generated) < cacheTTL {
		return s, true, nil
	}
	s, ok, err := p.build(ctx)
	if err == nil && ok {
		p.cacheMu.Lock()
		p.cached = s
		p.cacheMu.Unlock()
	}
	return s, ok, err
}

// build gathers the page's data as of now.
func (p *Page) build(ctx context.Context) (*Snapshot, bool, error) {
	cfg := p.config()
	comps := p.components(cfg)
	if !cfg.enabled(len(comps)) {
		return nil, false, nil
	}
	now := p.now().UTC()
	s := &Snapshot{Title: cfg.title(), Description: cfg.Description, Generated: now, byID: map[string]*ComponentView{}}
	// Incidents of the last 90 days, for the bars; the list shows the recent ones.
	all, err := p.incidents.list(ctx, now.AddDate(0, 0, -Days), 1000)
	if err != nil {
		return nil, false, err
	}
	s.Incidents = []Incident{}
	for _, in := range all {
		if in.open() || in.ResolvedAt.After(now.Add(-recentIncidents)) {
			s.Incidents = append(s.Incidents, in)
		}
	}
	var hbs map[string]heartbeat.Info
	if p.heartbeats != nil {
		hbs = map[string]heartbeat.Info{}
		for _, in := range p.heartbeats.List("") {
			hbs[in.Name] = in
		}
	}
	var files map[string]heartbeat.FileInfo
	if p.files != nil {
		files = map[string]heartbeat.FileInfo{}
		for _, in := range p.files.Files() {
			files[in.Name] = in
		}
	}
	groups := map[string]int{} // group name → index, in order of first appearance
	for _, c := range comps {
		v, err := p.component(ctx, c, hbs, files, now)
		if err != nil {
			return nil, false, err
		}
		if underMaintenance(cfg, c, now) {
			v.State = StateMaintenance
		}
		markIncidents(&v, all)
		gi, ok := groups[c.Group]
		if !ok {
			gi = len(s.Groups)
			groups[c.Group] = gi
			s.Groups = append(s.Groups, GroupView{Name: c.Group})
		}
		s.Groups[gi].Components = append(s.Groups[gi].Components, v)
	}
	for gi := range s.Groups {
		for ci := range s.Groups[gi].Components {
			cv := &s.Groups[gi].Components[ci]
			s.byID[cv.ID] = cv
		}
	}
	s.Maintenance = maintenanceViews(cfg, now)
	s.Overall = overall(s)
	return s, true, nil
}

// maintenanceViews lists the windows under way or starting within a week.
func maintenanceViews(cfg Config, now time.Time) []MaintenanceView {
	out := []MaintenanceView{}
	for _, m := range cfg.Maintenance {
		if !now.Before(m.End) || !m.Start.Before(now.Add(upcoming)) {
			continue
		}
		names := m.Components
		if names == nil {
			names = []string{}
		}
		out = append(out, MaintenanceView{Name: m.Name, Components: names, Start: m.Start.UTC(), End: m.End.UTC(),
			Message: m.Message, Active: !now.Before(m.Start)})
	}
	return out
}

// overall is the banner: an outage of every (known) component is major,
// of some is partial; then maintenance, then degraded. Open incidents
// raise it too: a major one to a partial outage, a minor one to degraded.
func overall(s *Snapshot) string {
	var known, down, degraded, maint int
	for _, c := range s.byID {
		switch c.State {
		case StateDown:
			down++
		case StateDegraded:
			degraded++
		case StateMaintenance:
			maint++
		}
		if c.State != StateUnknown && c.State != StateMaintenance {
			known++
		}
	}
	for _, in := range s.Incidents {
		if in.open() && in.Impact == ImpactMajor && down == 0 {
			down, known = 1, known+1
		} else if in.open() {
			degraded++
		}
	}
	switch {
	case down > 0 && down >= known:
		return StateMajorOutage
	case down > 0:
		return StatePartialOutage
	case maint > 0:
		return StateMaintenance
	case degraded > 0:
		return StateDegraded
	}
	return StateOperational
}

// markIncidents adds to each day the titles of incidents on the component that day.
func markIncidents(v *ComponentView, all []Incident) {
	for i := range v.Days {
		from, err := time.Parse(time.DateOnly, v.Days[i].Date)
		if err != nil {
			continue
		}
		to := from.Add(24 * time.Hour)
		for _, in := range all {
			if in.touches(v.Name, from, to) {
				v.Days[i].Incidents = append(v.Days[i].Incidents, in.Title)
			}
		}
	}
}

func (p *Page) component(ctx context.Context, c component, hbs map[string]heartbeat.Info,
	files map[string]heartbeat.FileInfo, now time.Time) (ComponentView, error) {
	v := ComponentView{ID: c.ID, Name: c.Name, Description: c.Description}
	if c.ShowURL {
		v.URL = c.Instance
	}
	if c.Heartbeat != "" {
		v.Kind = "heartbeat"
		return v, p.heartbeatView(ctx, &v, c.Heartbeat, hbs, now)
	}
	if c.File != "" {
		v.Kind = "file"
		return v, p.fileView(ctx, &v, c.File, files, now)
	}
	v.Kind = "probe"
	return v, p.probeView(ctx, &v, c.Probe, now)
}

func (p *Page) probeView(ctx context.Context, v *ComponentView, probe string, now time.Time) error {
	st, known, err := p.history.State(ctx, probe)
	if err != nil {
		return err
	}
	v.State = StateUnknown
	if known {
		since := st.Since
		v.Since = &since
		switch {
		case !st.Up:
			v.State = StateDown
		case st.ConsecutiveFailures > 0:
			v.State = StateDegraded
		default:
			v.State = StateOperational
		}
	}
	for _, w := range Windows {
		r, _, err := p.history.Uptime(ctx, probe, now.Add(-w.D))
		if err != nil {
			return err
		}
		v.Uptime = append(v.Uptime, WindowUptime{Window: w.Name, Ratio: r})
	}
	bars, err := p.history.Daily(ctx, probe, Days)
	if err != nil {
		return err
	}
	for _, b := range bars {
		v.Days = append(v.Days, Day{Date: b.Day.Format(time.DateOnly), Uptime: b.Uptime, Outages: b.Incidents})
	}
	v.ResponseTimes, err = p.history.ResponseTimes(ctx, probe, now.Add(-24*time.Hour), 30*time.Minute)
	return err
}

// hbDown reports whether a heartbeat status counts as an outage (as
// vigie_heartbeat_up does); new means no run yet and counts as no data.
func hbDown(s heartbeat.Status) bool {
	return s == heartbeat.StatusDown || s == heartbeat.StatusFailed || s == heartbeat.StatusOverrun
}

func (p *Page) heartbeatView(ctx context.Context, v *ComponentView, name string, hbs map[string]heartbeat.Info, now time.Time) error {
	v.State = StateUnknown
	if in, ok := hbs[name]; ok {
		switch {
		case hbDown(in.Status):
			v.State = StateDown
		case in.Status == heartbeat.StatusLate:
			v.State = StateDegraded
		case in.Status != heartbeat.StatusNew:
			v.State = StateOperational
		}
	}
	today := now.Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(Days - 1))
	var trs []heartbeat.Transition
	if p.heartbeats != nil {
		var err error
		if trs, err = p.heartbeats.History(ctx, name, first, now); err != nil {
			return fmt.Errorf("status page: heartbeat %s: %w", name, err)
		}
	}
	if n := len(trs); n > 0 && v.State != StateUnknown {
		since := trs[n-1].At.UTC()
		v.Since = &since
	}
	marks := make([]mark, len(trs))
	for i, tr := range trs {
		marks[i] = mark{At: tr.At, Known: tr.Status != heartbeat.StatusNew, Down: hbDown(tr.Status)}
	}
	fillHistory(v, marks, first, today, now)
	return nil
}

// fileView is a file check: operational while its newest file is fresh
// and big enough, down otherwise (stale, too small or missing), as the
// BackupStale and BackupTooSmall alerts are critical.
func (p *Page) fileView(ctx context.Context, v *ComponentView, name string, files map[string]heartbeat.FileInfo, now time.Time) error {
	v.State = StateUnknown
	if in, ok := files[name]; ok {
		v.State = StateDown
		if in.Status.Up() {
			v.State = StateOperational
		}
	}
	today := now.Truncate(24 * time.Hour)
	first := today.AddDate(0, 0, -(Days - 1))
	var trs []heartbeat.FileTransition
	if p.files != nil {
		var err error
		if trs, err = p.files.FileHistory(ctx, name, first, now); err != nil {
			return fmt.Errorf("status page: file check %s: %w", name, err)
		}
	}
	if n := len(trs); n > 0 && v.State != StateUnknown {
		since := trs[n-1].At.UTC()
		v.Since = &since
	}
	marks := make([]mark, len(trs))
	for i, tr := range trs {
		marks[i] = mark{At: tr.At, Known: true, Down: !tr.Status.Up()}
	}
	fillHistory(v, marks, first, today, now)
	return nil
}

// fillHistory sets v's window uptimes and its daily bars from first to
// today from a status history.
func fillHistory(v *ComponentView, marks []mark, first, today, now time.Time) {
	for _, w := range Windows {
		up, known, _ := share(marks, now.Add(-w.D), now, now)
		v.Uptime = append(v.Uptime, WindowUptime{Window: w.Name, Ratio: ratio(up, known)})
	}
	for d := first; !d.After(today); d = d.AddDate(0, 0, 1) {
		up, known, outages := share(marks, d, d.Add(24*time.Hour), now)
		v.Days = append(v.Days, Day{Date: d.Format(time.DateOnly), Uptime: ratio(up, known), Outages: outages})
	}
}

func ratio(up, known time.Duration) float64 {
	if known <= 0 {
		return -1
	}
	return float64(up) / float64(known)
}

// mark is a change of status of a heartbeat or a file check: whether the
// new status is known (a heartbeat that never ran is not) and down.
type mark struct {
	At          time.Time
	Known, Down bool
}

// share measures, over [from, to) cut at now, how long the status was
// known and up, and how many times it went down. trs are the changes,
// oldest first, starting with the one in effect at the history's start.
func share(trs []mark, from, to, now time.Time) (up, known time.Duration, outages int) {
	if to.After(now) {
		to = now
	}
	for i, tr := range trs {
		start, end := tr.At, to
		if i+1 < len(trs) {
			end = trs[i+1].At
		}
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if tr.Down && !tr.At.Before(from) && tr.At.Before(to) && (i == 0 || !trs[i-1].Down) {
			outages++
		}
		if !end.After(start) || !tr.Known {
			continue
		}
		known += end.Sub(start)
		if !tr.Down {
			up += end.Sub(start)
		}
	}
	return up, known, outages
}

package dashboards

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/notify"
)

type alertsData struct {
	Active, Silenced, Acknowledged, Resolved []notify.APIAlert
	Pending                                  []RuleRow
}

func (u *UI) alerts(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Alerts", "alerts")
	p.Notice = r.URL.Query().Get("notice")
	var d alertsData
	all := u.o.Alerting.Alerts()
	sort.Slice(all, func(i, j int) bool { return all[i].StartsAt.After(all[j].StartsAt) })
	for _, a := range all {
		switch {
		case !a.EndsAt.After(p.Now):
			d.Resolved = append(d.Resolved, a)
		case a.Acknowledged != nil:
			d.Acknowledged = append(d.Acknowledged, a)
		case len(a.Status.SilencedBy) > 0 || a.Status.State == "suppressed":
			d.Silenced = append(d.Silenced, a)
		default:
			d.Active = append(d.Active, a)
		}
	}
	rows, err := u.ruleRows()
	if err != nil {
		p.Error = err.Error()
	}
	for _, rr := range rows {
		for _, a := range rr.Alerts {
			if a.State == "pending" {
				row := rr
				row.Alerts = nil
				row.Alerts = append(row.Alerts, a)
				d.Pending = append(d.Pending, row)
			}
		}
	}
	p.Data = d
	u.render(w, http.StatusOK, "alerts", p)
}

func (u *UI) ackAlert(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fp")
	d, err := parseDur(r.PostFormValue("duration"), notify.DefaultAckDuration)
	if err == nil {
		by := auth.FromContext(r.Context()).Name
		_, err = u.o.Alerting.Acknowledge(r.Context(), fp, by, r.PostFormValue("comment"), d)
	}
	if err != nil {
		p := u.newPage(r, "Alerts", "alerts")
		p.Error = "Could not acknowledge: " + err.Error()
		p.Data = alertsData{}
		u.render(w, http.StatusBadRequest, "alerts", p)
		return
	}
	http.Redirect(w, r, "/alerts?notice="+url.QueryEscape("Alert acknowledged."), http.StatusSeeOther)
}

type silencesData struct {
	Silences []notify.Silence
	// The create form, prefilled from ?matcher= (the alerts page's links).
	Matchers, Duration, Comment, CreatedBy string
}

func (u *UI) silences(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Silences", "silences")
	p.Notice = r.URL.Query().Get("notice")
	q := r.URL.Query()
	u.renderSilences(w, http.StatusOK, p, silencesData{Matchers: strings.Join(q["matcher"], "\n"), Duration: "2h",
		Comment: q.Get("comment"), CreatedBy: p.User.Name})
}

func (u *UI) renderSilences(w http.ResponseWriter, code int, p page, d silencesData) {
	d.Silences = u.o.Alerting.Silences()
	sort.Slice(d.Silences, func(i, j int) bool {
		a, b := d.Silences[i], d.Silences[j]
		if (a.Status.State == "expired") != (b.Status.State == "expired") {
			return b.Status.State == "expired"
		}
		return a.EndsAt.After(b.EndsAt)
	})
	p.Data = d
	u.render(w, code, "silences", p)
}

func (u *UI) createSilence(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Silences", "silences")
	d := silencesData{Matchers: r.PostFormValue("matchers"), Duration: r.PostFormValue("duration"),
		Comment: r.PostFormValue("comment"), CreatedBy: r.PostFormValue("created_by")}
	ms, err := parseMatchers(d.Matchers)
	var dur time.Duration
	if err == nil {
		dur, err = parseDur(d.Duration, 2*time.Hour)
	}
	if err == nil {
		if d.CreatedBy == "" {
			d.CreatedBy = p.User.Name
		}
		now := u.o.Now()
		_, err = u.o.Alerting.AddSilence(r.Context(), notify.Silence{Matchers: ms, StartsAt: now, EndsAt: now.Add(dur),
			CreatedBy: d.CreatedBy, Comment: d.Comment})
	}
	if err != nil {
		p.Error = "Could not create the silence: " + err.Error()
		u.renderSilences(w, http.StatusBadRequest, p, d)
		return
	}
	http.Redirect(w, r, "/silences?notice="+url.QueryEscape("Silence created."), http.StatusSeeOther)
}

func (u *UI) expireSilence(w http.ResponseWriter, r *http.Request) {
	if err := u.o.Alerting.ExpireSilence(r.Context(), r.PathValue("id")); err != nil {
		p := u.newPage(r, "Silences", "silences")
		p.Error = "Could not expire the silence: " + err.Error()
		u.renderSilences(w, http.StatusBadRequest, p, silencesData{Duration: "2h"})
		return
	}
	http.Redirect(w, r, "/silences?notice="+url.QueryEscape("Silence expired."), http.StatusSeeOther)
}

// parseMatchers reads one matcher a line (or comma-separated):
// name=value, name!=value, name=~regex, name!~regex; values may be quoted.
func parseMatchers(s string) ([]notify.APIMatcher, error) {
	var out []notify.APIMatcher
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == ',' }) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		i := strings.IndexAny(line, "=!")
		if i <= 0 {
			return nil, fmt.Errorf("matcher %q: want name=value, name!=value, name=~regex or name!~regex", line)
		}
		name, rest := strings.TrimSpace(line[:i]), line[i:]
		equal, regex := true, false
		for _, op := range []string{"!~", "=~", "!=", "="} {
			if v, ok := strings.CutPrefix(rest, op); ok {
				equal, regex, rest = op[0] == '=', strings.HasSuffix(op, "~"), v
				break
			}
		}
		value := strings.TrimSpace(rest)
		if len(value) >= 2 && value[0] == '"' && value[len(value)-1] == '"' {
			value = value[1 : len(value)-1]
		}
		eq := equal
		out = append(out, notify.APIMatcher{Name: name, Value: value, IsRegex: regex, IsEqual: &eq})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("at least one matcher is needed")
	}
	return out, nil
}

// parseDur reads 2h, 30m, 1d or 1w; empty is def.
func parseDur(s string, def time.Duration) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return def, nil
	}
	mult := time.Duration(0)
	switch {
	case strings.HasSuffix(s, "d"):
		mult = 24 * time.Hour
	case strings.HasSuffix(s, "w"):
		mult = 7 * 24 * time.Hour
	}
	if mult != 0 {
		var n int
		if _, err := fmt.Sscanf(strings.TrimRight(s, "dw"), "%d", &n); err != nil || n <= 0 {
			return 0, fmt.Errorf("invalid duration %q", s)
		}
		return time.Duration(n) * mult, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("invalid duration %q: use 30m, 2h, 1d or 1w", s)
	}
	return d, nil
}

// silenceLink is the silences page prefilled with an alert's labels.
func silenceLink(a notify.APIAlert) string {
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	q := url.Values{}
	for _, k := range keys {
		q.Add("matcher", k+"="+fmt.Sprintf("%q", a.Labels[k]))
	}
	return "/silences?" + q.Encode()
}

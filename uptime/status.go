package uptime

import (
	"context"
	"sort"
	"time"
)

// Component is a probe as the public status page shows it: only what its
// `status` block exposes (the URL only with show_url).
type Component struct {
	Name  string `json:"name"`
	Group string `json:"group,omitempty"`
	URL   string `json:"url,omitempty"`
	// Known is false until the first check.
	Known bool      `json:"known"`
	Up    bool      `json:"up"`
	Since time.Time `json:"since"`
	// Uptime by window (24h, 7d, 30d, 90d): ratio, -1 without checks.
	Uptime        map[string]float64 `json:"uptime"`
	Daily         []DayBar           `json:"daily"`          // 90 bars, oldest first
	ResponseTimes []Point            `json:"response_times"` // last 24 h, 30-minute averages
}

// StatusPage returns the probes that have a status block, by group then
// name, with what the status page draws. Without history only the state is filled.
func (m *Manager) StatusPage(ctx context.Context) ([]Component, error) {
	var out []Component
	now := m.now()
	for _, p := range m.Probes() {
		s := p.Config.Status
		if s == nil {
			continue
		}
		c := Component{Name: s.Name, Group: s.Group}
		if c.Name == "" {
			c.Name = p.Config.Name
		}
		if s.ShowURL {
			c.URL = p.Instance
		}
		if p.State != nil {
			c.Known, c.Up, c.Since = true, p.State.Up, p.State.Since
		}
		if m.history != nil {
			if err := m.fillHistory(ctx, &c, p.Config.Name, now); err != nil {
				return nil, err
			}
		}
		out = append(out, c)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Group != out[j].Group {
			return out[i].Group < out[j].Group
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

func (m *Manager) fillHistory(ctx context.Context, c *Component, probe string, now time.Time) error {
	c.Uptime = map[string]float64{}
	for _, w := range Windows {
		r, _, err := m.history.Uptime(ctx, probe, now.Add(-w.D))
		if err != nil {
			return err
		}
		c.Uptime[w.Name] = r
	}
	var err error
	if c.Daily, err = m.history.Daily(ctx, probe, 90); err != nil {
		return err
	}
	c.ResponseTimes, err = m.history.ResponseTimes(ctx, probe, now.Add(-24*time.Hour), 30*time.Minute)
	return err
}

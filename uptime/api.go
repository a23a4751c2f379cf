package uptime

import (
	"context"
	"net/http"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
)

// Routes are the uptime API, all Read:
//
//	GET /api/v1/probes          every probe with its state and last check
//	GET /api/v1/probes/{name}   one probe with uptimes (24h, 7d, 30d, 90d), 90 daily bars and recent checks
func (m *Manager) Routes() []web.Route {
	return []web.Route{
		web.R("GET /api/v1/probes", web.Read, m.handleList),
		web.R("GET /api/v1/probes/{name}", web.Read, m.handleProbe),
	}
}

func (m *Manager) handleList(w http.ResponseWriter, r *http.Request) {
	web.WriteJSON(w, http.StatusOK, web.Envelope{Status: "success", Data: m.Probes()})
}

// Windows are the uptime windows the status page shows.
var Windows = []struct {
	Name string
	D    time.Duration
}{{"24h", 24 * time.Hour}, {"7d", 7 * 24 * time.Hour}, {"30d", 30 * 24 * time.Hour}, {"90d", 90 * 24 * time.Hour}}

// ProbeDetail is a probe with its history, as the status page needs it.
type ProbeDetail struct {
	ProbeStatus
	Uptime map[string]float64 `json:"uptime"` // window → ratio, -1 without checks
	Daily  []DayBar           `json:"daily"`
	Recent []Check            `json:"recent"`
}

// Detail returns a probe with its uptimes, 90 daily bars and last 100 checks.
func (m *Manager) Detail(ctx context.Context, name string) (ProbeDetail, error) {
	var d ProbeDetail
	found := false
	for _, p := range m.Probes() {
		if p.Config.Name == name {
			d.ProbeStatus, found = p, true
		}
	}
	if !found {
		return d, ErrUnknownProbe
	}
	if m.history == nil {
		return d, nil
	}
	now := m.now()
	d.Uptime = map[string]float64{}
	for _, win := range Windows {
		ratio, _, err := m.history.Uptime(ctx, name, now.Add(-win.D))
		if err != nil {
			return d, err
		}
		d.Uptime[win.Name] = ratio
	}
	var err error
	if d.Daily, err = m.history.Daily(ctx, name, 90); err != nil {
		return d, err
	}
	d.Recent, err = m.history.Recent(ctx, name, 100)
	return d, err
}

func (m *Manager) handleProbe(w http.ResponseWriter, r *http.Request) {
	d, err := m.Detail(r.Context(), r.PathValue("name"))
	switch {
	case err == ErrUnknownProbe:
		web.WriteJSON(w, http.StatusNotFound, web.Envelope{Status: "error", ErrorType: "not_found", Error: "unknown probe " + r.PathValue("name")})
	case err != nil:
		web.WriteJSON(w, http.StatusInternalServerError, web.Envelope{Status: "error", ErrorType: "internal", Error: err.Error()})
	default:
		web.WriteJSON(w, http.StatusOK, web.Envelope{Status: "success", Data: d})
	}
}

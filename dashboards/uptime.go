package dashboards

import (
	"context"
	"sort"
	"time"

	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// Probes is what the overview needs of the uptime probes (ManagerProbes
// adapts *uptime.Manager).
type Probes interface {
	Probes() []uptime.ProbeStatus
	// Uptime is the ratio of up checks since a time, -1 without checks.
	Uptime(ctx context.Context, probe string, since time.Time) (float64, error)
}

// ManagerProbes reads the probes and their history from an uptime.Manager.
type ManagerProbes struct{ M *uptime.Manager }

// Probes lists the running probes.
func (p ManagerProbes) Probes() []uptime.ProbeStatus { return p.M.Probes() }

// Uptime reads the history; without one (no state database) it is -1.
func (p ManagerProbes) Uptime(ctx context.Context, probe string, since time.Time) (float64, error) {
	h := p.M.History()
	if h == nil {
		return -1, nil
	}
	r, _, err := h.Uptime(ctx, probe, since)
	return r, err
}

// Heartbeats lists the heartbeats (heartbeat.Heartbeats).
type Heartbeats interface {
	List(base string) []heartbeat.Info
}

// Logs gives the last lines of the log streams whose labels equal the
// given ones (logs.Store), oldest first, secrets masked.
type Logs interface {
	Lines(ctx context.Context, labels map[string]string, n int) []string
}

// logLines is how many log lines the container and service pages show.
const logLines = 20

// ProbeRow is a line of the overview's probes table.
type ProbeRow struct {
	Name, Instance, State, Reason, Uptime string
	Since, LastCheck                      time.Time
	// OnStatusPage: the probe is a component of the public status page.
	OnStatusPage bool
}

// HeartbeatRow is a line of the overview's heartbeats table; the ping URL
// is left out, its token is a credential.
type HeartbeatRow struct {
	Name, Status string
	LastPing     time.Time
}

// probeRows lists the probes with their state, last reason and 24 h uptime.
func (u *UI) probeRows(ctx context.Context) ([]ProbeRow, error) {
	if u.o.Probes == nil {
		return nil, nil
	}
	var onPage map[string]bool
	if u.o.StatusProbes != nil {
		onPage = u.o.StatusProbes()
	}
	var rows []ProbeRow
	var firstErr error
	for _, ps := range u.o.Probes.Probes() {
		row := ProbeRow{Name: ps.Config.Name, Instance: ps.Instance, State: "pending", Uptime: "no check",
			OnStatusPage: onPage[ps.Config.Name]}
		if ps.State != nil {
			row.State, row.Since, row.LastCheck, row.Reason = "down", ps.State.Since, ps.State.LastCheck, ps.State.Reason
			if ps.State.Up {
				row.State = "up"
			}
		}
		if ps.LastCheck != nil && ps.LastCheck.Reason != "" {
			row.Reason = ps.LastCheck.Reason
		}
		ratio, err := u.o.Probes.Uptime(ctx, ps.Config.Name, u.o.Now().Add(-24*time.Hour))
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err == nil && ratio >= 0 {
			row.Uptime = formatValue(100*ratio, "percent")
		}
		rows = append(rows, row)
	}
	return rows, firstErr
}

// heartbeatRows lists the heartbeats with their status and last ping.
func (u *UI) heartbeatRows() []HeartbeatRow {
	if u.o.Heartbeats == nil {
		return nil
	}
	var rows []HeartbeatRow
	for _, in := range u.o.Heartbeats.List("") {
		row := HeartbeatRow{Name: in.Name, Status: string(in.Status)}
		for _, t := range in.LastPings {
			if t.After(row.LastPing) {
				row.LastPing = t
			}
		}
		rows = append(rows, row)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

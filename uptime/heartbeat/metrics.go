package heartbeat

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// descs are the descriptors of the series Heartbeats reports.
type descs struct {
	up, lastPing, lastDuration, running, failed, exitCode, due, deadline, maxRuntime *prometheus.Desc

	fileMtime, fileSize, filePrevSize, fileCount, fileMaxAge, fileMinSize *prometheus.Desc
}

func newDescs() descs {
	n := []string{"name"}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return descs{
		up:           d("vigie_heartbeat_up", "1 unless the heartbeat is down (missing), failed or running past max_runtime.", n...),
		lastPing:     d("vigie_heartbeat_last_ping_timestamp_seconds", "Time of the heartbeat's last ping of each kind (start, success, fail).", "name", "kind"),
		lastDuration: d("vigie_heartbeat_last_duration_seconds", "Duration of the job's last finished run, when known.", n...),
		running:      d("vigie_heartbeat_running", "1 while the job runs (a start ping came after the last finish).", n...),
		failed:       d("vigie_heartbeat_failed", "1 when the job's last finished run failed (fail ping or non-zero exit code).", n...),
		exitCode:     d("vigie_heartbeat_last_exit_code", "Exit code of the job's last finished run, when known (a plain success is 0).", n...),
		due:          d("vigie_heartbeat_due_timestamp_seconds", "When the job's next run is due (absent for a schedule that never fires).", n...),
		deadline:     d("vigie_heartbeat_deadline_timestamp_seconds", "Due time plus grace: the heartbeat is missing after it.", n...),
		maxRuntime:   d("vigie_heartbeat_max_runtime_seconds", "The heartbeat's configured max_runtime (absent when not set).", n...),
		fileMtime:    d("vigie_file_newest_mtime_seconds", "Modification time of the newest file matching the check's glob.", n...),
		fileSize:     d("vigie_file_newest_size_bytes", "Size of the newest file matching the check's glob.", n...),
		filePrevSize: d("vigie_file_previous_size_bytes", "Size of the second newest matching file (the previous backup).", n...),
		fileCount:    d("vigie_file_count", "Number of files matching the check's glob.", n...),
		fileMaxAge:   d("vigie_file_max_age_seconds", "The check's configured max_age (absent when not set).", n...),
		fileMinSize:  d("vigie_file_min_size_bytes", "The check's configured min_size (absent when not set).", n...),
	}
}

var _ prometheus.Collector = (*Heartbeats)(nil)

// Describe sends nothing: Heartbeats is an unchecked collector, since its
// series follow the configuration.
func (h *Heartbeats) Describe(chan<- *prometheus.Desc) {}

// Collect reports every heartbeat and file check as of now.
func (h *Heartbeats) Collect(ch chan<- prometheus.Metric) {
	now := h.now()
	h.mu.Lock()
	for name, b := range h.beats {
		h.collectBeat(ch, name, b, now)
	}
	files := h.cfg.Files
	h.mu.Unlock()
	for _, f := range files {
		h.collectFile(ch, f)
	}
}

func (h *Heartbeats) collectBeat(ch chan<- prometheus.Metric, name string, b *beat, now time.Time) {
	d := &h.descs
	e := evaluate(b.timing, &b.st, now)
	ch <- gauge(d.up, boolf(e.Status.up()), name)
	ch <- gauge(d.running, boolf(e.Running), name)
	ch <- gauge(d.failed, boolf(e.Failed), name)
	for _, k := range []struct {
		kind Kind
		t    time.Time
	}{{KindStart, b.st.lastStart}, {KindSuccess, b.st.lastSuccess}, {KindFail, b.st.lastFail}} {
		if !k.t.IsZero() {
			ch <- gauge(d.lastPing, seconds(k.t), name, string(k.kind))
		}
	}
	if p := b.st.last; p != nil {
		if p.Duration != nil {
			ch <- gauge(d.lastDuration, p.Duration.Seconds(), name)
		}
		switch {
		case p.ExitCode != nil:
			ch <- gauge(d.exitCode, float64(*p.ExitCode), name)
		case p.Kind == KindSuccess:
			ch <- gauge(d.exitCode, 0, name)
		}
	}
	if !e.Due.IsZero() {
		ch <- gauge(d.due, seconds(e.Due), name)
		ch <- gauge(d.deadline, seconds(e.Deadline), name)
	}
	if b.cfg.MaxRuntime > 0 {
		ch <- gauge(d.maxRuntime, b.cfg.MaxRuntime.D().Seconds(), name)
	}
}

func gauge(d *prometheus.Desc, v float64, lv ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func seconds(t time.Time) float64 { return float64(t.UnixMilli()) / 1e3 }

package dashboards

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/scaling"
)

// hostCharts are the host's CPU, memory, disk and network.
var hostCharts = []chartSpec{
	one("CPU used", "percent", `100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle"}[$w])))`),
	one("Memory used", "bytes", `node_memory_MemTotal_bytes - node_memory_MemAvailable_bytes`),
	one("Disk used", "percent", `100 * (1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay|squashfs|ramfs"} / node_filesystem_size_bytes{fstype!~"tmpfs|overlay|squashfs|ramfs"})`),
	one("Network received", "bytes/s", `sum by (device) (rate(node_network_receive_bytes_total{device!="lo"}[$w]))`),
}

// ContainerRow is a line of the containers table.
type ContainerRow struct {
	Name, Service  string
	CPU, Mem, Lim  float64
	CPUs, MemS, LS string
}

// ServiceRow is a line of the services table.
type ServiceRow struct {
	Name             string
	Running, Desired float64
	Healthy          bool
}

type overviewData struct {
	Charts     []Chart
	Containers []ContainerRow
	Services   []ServiceRow
	Postgres   map[string]float64
	PGConns    map[string]float64
	Alerts     []notify.APIAlert
	Scaling    *scaling.Result
	Probes     []ProbeRow
	Heartbeats []HeartbeatRow
	Errors     []string
}

func (u *UI) overview(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := u.newPage(r, "Overview", "overview")
	d := overviewData{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	fail := func(err error) {
		if err != nil {
			mu.Lock()
			d.Errors = append(d.Errors, err.Error())
			mu.Unlock()
		}
	}
	wg.Go(func() {
		d.Charts = u.charts(ctx, r, append(hostCharts[:len(hostCharts):len(hostCharts)],
			one("Containers: CPU (top 8)", "", `topk(8, sum by (name) (rate(container_cpu_usage_seconds_total{name!=""}[$w])))`)))
	})
	wg.Go(func() {
		rows, err := u.containerRows(ctx, "")
		fail(err)
		d.Containers = rows
	})
	wg.Go(func() {
		run, err1 := u.instant(ctx, `vigie_service_replicas_running`, "service")
		des, err2 := u.instant(ctx, `vigie_service_replicas_desired`, "service")
		fail(errors.Join(err1, err2))
		for name, want := range des {
			d.Services = append(d.Services, ServiceRow{Name: name, Running: run[name], Desired: want, Healthy: run[name] >= want})
		}
		sort.Slice(d.Services, func(i, j int) bool { return d.Services[i].Name < d.Services[j].Name })
	})
	wg.Go(func() {
		up, err1 := u.instant(ctx, `pg_up`, "instance")
		conns, err2 := u.instant(ctx, `sum by (instance) (pg_stat_activity_count)`, "instance")
		fail(errors.Join(err1, err2))
		d.Postgres, d.PGConns = up, conns
	})
	wg.Go(func() {
		rows, err := u.probeRows(ctx)
		fail(err)
		d.Probes = rows
	})
	wg.Wait()
	d.Heartbeats = u.heartbeatRows()
	for _, a := range u.o.Alerting.Alerts() {
		if a.Status.State == "active" && a.Acknowledged == nil && a.EndsAt.After(p.Now) {
			d.Alerts = append(d.Alerts, a)
		}
	}
	if u.o.Scaling != nil {
		if s := u.o.Scaling(); s != nil {
			res := s.Last()
			d.Scaling = &res
		}
	}
	p.Data = d
	u.render(w, http.StatusOK, "overview", p)
}

// containerRows lists containers matching the selector ("" for all) with
// their CPU, memory and memory limit now.
func (u *UI) containerRows(ctx context.Context, sel string) ([]ContainerRow, error) {
	m := `{name!=""` + sel + `}`
	cpu, err1 := u.instant(ctx, `sum by (name) (rate(container_cpu_usage_seconds_total`+m+`[1m]))`, "name")
	mem, err2 := u.instant(ctx, `sum by (name) (container_memory_working_set_bytes`+m+`)`, "name")
	lim, err3 := u.instant(ctx, `sum by (name) (container_spec_memory_limit_bytes`+m+`)`, "name")
	services := map[string]string{}
	if v, err := u.o.Query.Instant(ctx, `max by (name, swarm_service, compose_service) (container_memory_working_set_bytes`+m+`)`, u.o.Now()); err == nil {
		for _, s := range v {
			services[s.Metric.Get("name")] = s.Metric.Get("swarm_service") + s.Metric.Get("compose_service")
		}
	}
	var rows []ContainerRow
	for name, v := range mem {
		rows = append(rows, ContainerRow{Name: name, Service: services[name], CPU: cpu[name], Mem: v, Lim: lim[name],
			CPUs: formatValue(cpu[name], ""), MemS: formatValue(v, "bytes"), LS: limitString(lim[name])})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows, errors.Join(err1, err2, err3)
}

func limitString(v float64) string {
	if v <= 0 {
		return "none"
	}
	return formatValue(v, "bytes")
}

func (u *UI) host(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Host", "host")
	p.Data = overviewData{Charts: u.charts(r.Context(), r, append(hostCharts[:len(hostCharts):len(hostCharts)],
		one("Load average (1m)", "", `node_load1`),
		one("Network sent", "bytes/s", `sum by (device) (rate(node_network_transmit_bytes_total{device!="lo"}[$w]))`),
		one("Disk I/O", "bytes/s", `sum by (device) (rate(node_disk_read_bytes_total[$w]) + rate(node_disk_written_bytes_total[$w]))`),
	))}
	u.render(w, http.StatusOK, "charts", p)
}

type workloadData struct {
	Kind, Name string
	Charts     []Chart
	Containers []ContainerRow
	Alerts     []notify.APIAlert
	// Logs are the last log lines of its Docker log streams; HasLogs
	// tells an empty result from no log store.
	Logs    []string
	HasLogs bool
	Error   string
}

func (u *UI) container(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	u.workload(w, r, "Container", name, `name=`+quote(name), `, name=`+quote(name), map[string]string{"container": name})
}

func (u *UI) service(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	u.workload(w, r, "Service", name, `swarm_service=`+quote(name), `, swarm_service=`+quote(name), map[string]string{"swarm_service": name})
}

// workload is the container and the service page: CPU against its limit,
// memory against its limit, restarts, its containers, its alerts and its
// last log lines (the streams whose logLabels are these: the labels the
// Docker log source sets).
func (u *UI) workload(w http.ResponseWriter, r *http.Request, kind, name, m, sel string, logLabels map[string]string) {
	ctx := r.Context()
	p := u.newPage(r, kind+" "+name, "overview")
	d := workloadData{Kind: kind, Name: name}
	d.Charts = u.charts(ctx, r, []chartSpec{
		{Title: "CPU (cores) against its limit", Exprs: []namedExpr{
			{"usage", `sum(rate(container_cpu_usage_seconds_total{` + m + `}[$w]))`},
			{"limit", `sum(container_spec_cpu_quota{` + m + `} / container_spec_cpu_period{` + m + `})`}}},
		{Title: "Memory against its limit", Unit: "bytes", Exprs: []namedExpr{
			{"working set", `sum(container_memory_working_set_bytes{` + m + `})`},
			{"limit", `sum(container_spec_memory_limit_bytes{` + m + `} > 0)`}}},
		one("Restarts", "", `sum(changes(container_start_time_seconds{`+m+`}[$w]))`),
		one("Network received", "bytes/s", `sum(rate(container_network_receive_bytes_total{`+m+`}[$w]))`),
	})
	rows, err := u.containerRows(ctx, sel)
	d.Containers = rows
	if err != nil {
		d.Error = err.Error()
	}
	for _, a := range u.o.Alerting.Alerts() {
		for _, k := range []string{"name", "container", "service", "swarm_service"} {
			if a.Labels[k] == name {
				d.Alerts = append(d.Alerts, a)
				break
			}
		}
	}
	if u.o.Logs != nil {
		d.HasLogs = true
		d.Logs = u.o.Logs.Lines(ctx, logLabels, logLines)
	}
	p.Data = d
	u.render(w, http.StatusOK, "workload", p)
}

func (u *UI) postgres(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "PostgreSQL", "postgres")
	p.Data = overviewData{Charts: u.charts(r.Context(), r, []chartSpec{
		one("Connections by state", "", `sum by (state) (pg_stat_activity_count)`),
		{Title: "Connection errors by reason (per second)", Exprs: []namedExpr{
			{"fatal", `sum(rate(pg_stat_database_sessions_fatal[$w]))`},
			{"killed", `sum(rate(pg_stat_database_sessions_killed[$w]))`},
			{"abandoned", `sum(rate(pg_stat_database_sessions_abandoned[$w]))`}}},
		{Title: "Transactions per second", Exprs: []namedExpr{
			{"commit", `sum(rate(pg_stat_database_xact_commit[$w]))`},
			{"rollback", `sum(rate(pg_stat_database_xact_rollback[$w]))`}}},
		one("Cache hit ratio", "percent", `100 * sum(rate(pg_stat_database_blks_hit[$w])) / (sum(rate(pg_stat_database_blks_hit[$w])) + sum(rate(pg_stat_database_blks_read[$w])))`),
		one("Replication lag", "seconds", `max by (instance) (pg_replication_lag_seconds)`),
		one("Database size", "bytes", `sum by (datname) (pg_database_size_bytes)`),
	})}
	u.render(w, http.StatusOK, "charts", p)
}

// RuleRow is a rule of the rules page, decoded from the API's JSON.
type RuleRow struct {
	Group, File, Name, Query, Type, Health, LastError, State string
	Alerts                                                   []struct {
		Labels   map[string]string `json:"labels"`
		State    string            `json:"state"`
		ActiveAt *time.Time        `json:"activeAt"`
	}
}

// ruleRows reads the rules through the API's RulesSource, as JSON.
func (u *UI) ruleRows() ([]RuleRow, error) {
	if u.o.Rules == nil || u.o.Rules() == nil {
		return nil, nil
	}
	data, err := u.o.Rules().RulesData(url.Values{})
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(data)
	if err != nil {
		return nil, err
	}
	var v struct {
		Groups []struct {
			Name  string `json:"name"`
			File  string `json:"file"`
			Rules []struct {
				RuleRow
				Name      string `json:"name"`
				Query     string `json:"query"`
				Type      string `json:"type"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
				State     string `json:"state"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	var out []RuleRow
	for _, g := range v.Groups {
		for _, r := range g.Rules {
			row := r.RuleRow
			row.Group, row.File, row.Name, row.Query, row.Type, row.Health, row.LastError, row.State = g.Name, g.File, r.Name, r.Query, r.Type, r.Health, r.LastError, r.State
			out = append(out, row)
		}
	}
	return out, nil
}

func (u *UI) rules(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Rules", "rules")
	rows, err := u.ruleRows()
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = rows
	u.render(w, http.StatusOK, "rules", p)
}

// TargetRow is a scrape target.
type TargetRow struct {
	Job, URL, Health, LastError string
	LastScrape                  time.Time
	Duration                    time.Duration
}

func (u *UI) targets(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Targets", "targets")
	var rows []TargetRow
	if u.o.Targets != nil && u.o.Targets() != nil {
		for job, ts := range u.o.Targets().TargetsActive() {
			for _, t := range ts {
				row := TargetRow{Job: job, URL: t.URL().String(), Health: string(t.Health()), LastScrape: t.LastScrape(), Duration: t.LastScrapeDuration()}
				if err := t.LastError(); err != nil {
					row.LastError = err.Error()
				}
				rows = append(rows, row)
			}
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Job+rows[i].URL < rows[j].Job+rows[j].URL })
	p.Data = rows
	u.render(w, http.StatusOK, "targets", p)
}

type graphData struct {
	Expr  string
	Chart *Chart
	Table []tableRow
}

type tableRow struct {
	Labels string
	Value  string
}

// graph is Explore: g0.expr in the URL, as Prometheus's /graph reads it.
func (u *UI) graph(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Explore", "graph")
	expr := strings.TrimSpace(r.URL.Query().Get("g0.expr"))
	d := graphData{Expr: expr}
	if expr != "" {
		c := u.charts(r.Context(), r, []chartSpec{one(expr, "", expr)})[0]
		d.Chart = &c
		v, err := u.o.Query.Instant(r.Context(), expand(expr, time.Minute), u.o.Now())
		if err != nil {
			p.Error = err.Error()
		}
		for _, s := range v {
			d.Table = append(d.Table, tableRow{Labels: s.Metric.String(), Value: formatValue(s.F, "")})
		}
		sort.Slice(d.Table, func(i, j int) bool { return d.Table[i].Labels < d.Table[j].Labels })
	}
	p.Data = d
	u.render(w, http.StatusOK, "graph", p)
}

func (u *UI) delivery(w http.ResponseWriter, r *http.Request) {
	p := u.newPage(r, "Delivery", "delivery")
	ns, err := u.o.Alerting.Notifications(r.Context(), 100, r.URL.Query().Get("status"), "")
	if err != nil {
		p.Error = err.Error()
	}
	p.Data = ns
	u.render(w, http.StatusOK, "delivery", p)
}

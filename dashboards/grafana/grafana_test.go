// Package grafana_test checks the Grafana dashboards of this directory:
// every query of every panel runs against a running vigie that collects
// the host, Docker, a real PostgreSQL, its own metrics, an HTTPS probe and a
// heartbeat, and returns data,
// or the panel has a documented reason to be empty here.
package grafana_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/internal/pgtest"
	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/internal/vigietest"
)

type dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// emptyBecause lists the panels that may have no data, each with the
// reason and the query that proves the reason holds here (empty guard).
var emptyBecause = map[string]struct{ guard, reason string }{
	"Replication lag":                      {`pg_replication_is_replica == 1`, "only a standby has replication lag; the test's PostgreSQL is a primary"},
	"HTTP requests by code":                {`http_requests_total`, "no scraped target exposes http_requests_total (vigie does not)"},
	"Connection errors by reason":          {`pg_stat_database_sessions`, "session counters exist from PostgreSQL 14"},
	"Services: running / desired replicas": {`vigie_service_replicas_desired`, "no Swarm or Compose service runs on this host"},
	"Swarm services: running / desired":    {`vigie_service_replicas_desired`, "no Swarm or Compose service runs on this host"},
	"CPU by Swarm service":                 {`container_last_seen{swarm_service!=""}`, "no Swarm task runs on this host"},
	"CPU against limit":                    {`container_spec_cpu_quota > 0`, "no container has a CPU limit"},
	"CPU throttled periods":                {`container_cpu_cfs_periods_total`, "no container has a CPU limit (CFS periods count only under a quota)"},
	"Memory against limit":                 {`container_spec_memory_limit_bytes > 0`, "no container has a memory limit"},
	"OOM kills":                            {`container_oom_events_total`, "no container runs"},
	// The test container is not a Swarm task: the Swarm panels document why they are empty.
	"Containers CPU (top 10)":         {`container_last_seen`, "no container runs"},
	"Containers memory (top 10)":      {`container_last_seen`, "no container runs"},
	"CPU by container":                {`container_last_seen`, "no container runs"},
	"Memory working set by container": {`container_last_seen`, "no container runs"},
	"Restarts":                        {`container_last_seen`, "no container runs"},
	"Network received by container":   {`container_last_seen`, "no container runs"},
}

func load(t *testing.T) []dashboard {
	t.Helper()
	files, _ := filepath.Glob("*.json")
	if len(files) < 5 {
		t.Fatalf("want the overview, containers, postgres, application and uptime dashboards, found %v", files)
	}
	var out []dashboard
	uids := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d dashboard
		if err := json.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || uids[d.UID] || len(d.Panels) == 0 {
			t.Errorf("%s: uid %q (unique, required) and panels", f, d.UID)
		}
		uids[d.UID] = true
		if !strings.Contains(string(b), `"uid": "${datasource}"`) {
			t.Errorf("%s: panels must use the ${datasource} variable", f)
		}
		out = append(out, d)
	}
	return out
}

func TestProvisioningFiles(t *testing.T) {
	for _, f := range []string{"provisioning/datasource.yml", "provisioning/dashboards.yml"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := yaml.Unmarshal(b, &v); err != nil || v["apiVersion"] != 1 {
			t.Errorf("%s: %v %v", f, err, v)
		}
	}
}

func TestEveryPanelQueryHasData(t *testing.T) {
	dashboards := load(t)
	pg := pgtest.Start(t, pgtest.Options{})
	// A container with CPU and memory limits, so the container panels
	// have a subject (Build fails under CI without Docker, skips otherwise).
	img := testimage.Build(t)
	ctr := testimage.Run(t, img, testimage.RunOptions{Name: "grafana", Flags: []string{"--memory", "64m", "--cpus", "0.5"}, Args: []string{"-alloc", "20Mi"}})
	// An HTTPS target for the uptime dashboard (its certificate is
	// self-signed: the probe skips verification, and still reports expiry).
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(site.Close)
	addr := vigietest.FreeAddr(t)
	cfg := fmt.Sprintf(`uptime:
  probes:
    - name: site
      url: %q
      interval: 1s
      tls_config: {insecure_skip_verify: true}
  heartbeats:
    - {name: backup, period: 1h}
collect:
  interval: 1s
  postgres:
    - name: pg
      dsn: %q
  scrape:
    - job_name: self
      targets: [%q]
      interval: 1s
`, site.URL, pg.DSN(pgtest.Superuser, pg.Password, "postgres"), addr)
	p := vigietest.Start(t, vigietest.Options{Addr: addr, Config: cfg})
	vigietest.Eventually(t, 60*time.Second, "PostgreSQL, self-scrape, the probe, the heartbeat and five collections", func() bool {
		g := p.Query(`vigie_collection_gathers_total`)
		return len(p.Query(`probe_ssl_earliest_cert_expiry`)) > 0 && len(p.Query(`vigie_heartbeat_up`)) > 0 && len(p.Query(`pg_up == 1`)) > 0 && len(p.Query(`up{job="self"}`)) > 0 && len(g) > 0 && g[0].Float() >= 5 &&
			len(p.Query(`rate(container_cpu_usage_seconds_total{name="`+ctr.Name+`"}[1m])`)) > 0
	})
	for _, d := range dashboards {
		for _, panel := range d.Panels {
			for _, target := range panel.Targets {
				expr := strings.ReplaceAll(target.Expr, "$__rate_interval", "1m")
				if len(p.Query(expr)) > 0 {
					continue
				}
				why, ok := emptyBecause[panel.Title]
				switch {
				case !ok:
					t.Errorf("%s / %s: no data for %s", d.Title, panel.Title, expr)
				case len(p.Query(why.guard)) > 0:
					t.Errorf("%s / %s: no data for %s, though %s holds", d.Title, panel.Title, expr, why.guard)
				default:
					t.Logf("%s / %s: empty here: %s", d.Title, panel.Title, why.reason)
				}
			}
		}
	}
}

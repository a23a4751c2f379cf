package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/pgtest"
	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/internal/vigietest"
)

type apiAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
	Value       string            `json:"value"`
	ActiveAt    string            `json:"activeAt"`
}

// alerts returns the rules' active alerts named name, with their state.
func alerts(t *testing.T, p vigietest.Client, name string) []apiAlert {
	t.Helper()
	r := p.Get("/api/v1/alerts", nil)
	var d struct {
		Alerts []apiAlert `json:"alerts"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("alerts: %v: %s", err, r.Data)
	}
	var out []apiAlert
	for _, a := range d.Alerts {
		if a.Labels["alertname"] == name {
			out = append(out, a)
		}
	}
	return out
}

func firing(t *testing.T, p *vigietest.Process, name string, match map[string]string) (apiAlert, bool) {
	for _, a := range alerts(t, p.Client, name) {
		ok := a.State == "firing"
		for k, v := range match {
			ok = ok && a.Labels[k] == v
		}
		if ok {
			return a, true
		}
	}
	return apiAlert{}, false
}

func requireDocker(t *testing.T) {
	t.Helper()
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker is not available in CI: %v", err)
		}
		t.Skipf("docker is not available: %v", err)
	}
}

// A container holding ~60 MiB under a 64 MiB limit fires
// ContainerHighMemoryUsage through the real collector → storage → rules
// path, and the alert resolves when the container goes away.
func TestContainerHighMemoryAlertEndToEnd(t *testing.T) {
	requireDocker(t)
	img := testimage.Build(t)
	c := testimage.Run(t, img, testimage.RunOptions{Name: "e2e-mem", Flags: []string{"--memory", "64m"}, Args: []string{"-alloc", "60Mi"}})
	c.WaitLog(t, "ready", 30*time.Second)
	cfg := fmt.Sprintf(`collect:
  interval: 1s
  docker:
    include_names: [%q]
rules:
  evaluation_interval: 1s
  builtin:
    overrides:
      ContainerHighMemoryUsage: {for: 2s}
`, c.Name)
	p := vigietest.Start(t, vigietest.Options{Config: cfg})
	var a apiAlert
	vigietest.Eventually(t, 30*time.Second, "ContainerHighMemoryUsage firing", func() bool {
		var ok bool
		a, ok = firing(t, p, "ContainerHighMemoryUsage", map[string]string{"name": c.Name})
		return ok
	})
	if a.Labels["severity"] == "" || a.Annotations["summary"] == "" || a.Annotations["runbook"] == "" {
		t.Errorf("alert lacks severity/summary/runbook: %+v", a)
	}
	var v float64
	fmt.Sscan(a.Value, &v)
	if v < 90 || v > 100 {
		t.Errorf("fired with value %v, want between 90 and 100 (percent of the limit)", v)
	}
	testimage.Docker(t, "rm", "-f", c.ID)
	vigietest.Eventually(t, 30*time.Second, "ContainerHighMemoryUsage resolved", func() bool {
		_, ok := firing(t, p, "ContainerHighMemoryUsage", map[string]string{"name": c.Name})
		return !ok
	})
	vigietest.Eventually(t, 10*time.Second, "the resolution logged", func() bool {
		return strings.Contains(p.Log(), "alert resolved")
	})
}

// A stopped replica of a Compose service fires ServiceReplicasMissing, and
// it resolves when the replica runs again.
func TestServiceReplicasMissingEndToEnd(t *testing.T) {
	requireDocker(t)
	img := testimage.Build(t)
	project := testimage.Name("proj")
	labels := map[string]string{"com.docker.compose.project": project, "com.docker.compose.service": "web"}
	var cs []*testimage.Container
	for i := 1; i <= 2; i++ {
		l := map[string]string{"com.docker.compose.container-number": fmt.Sprint(i)}
		for k, v := range labels {
			l[k] = v
		}
		cs = append(cs, testimage.Run(t, img, testimage.RunOptions{Name: "e2e-web", Labels: l, Args: []string{"-alloc", "1Mi"}}))
	}
	for _, c := range cs {
		c.WaitLog(t, "ready", 30*time.Second)
	}
	cfg := fmt.Sprintf(`collect:
  interval: 1s
  docker:
    include_labels: ["com.docker.compose.project=%s"]
rules:
  evaluation_interval: 1s
  builtin:
    overrides:
      ServiceReplicasMissing: {for: 2s}
`, project)
	p := vigietest.Start(t, vigietest.Options{Config: cfg})
	vigietest.Eventually(t, 20*time.Second, "2 of 2 replicas reported", func() bool {
		s := p.Query(fmt.Sprintf(`vigie_service_replicas_running{stack=%q} == 2 and vigie_service_replicas_desired == 2`, project))
		return len(s) == 1
	})
	testimage.Docker(t, "stop", "-t", "1", cs[1].ID)
	vigietest.Eventually(t, 30*time.Second, "ServiceReplicasMissing firing", func() bool {
		_, ok := firing(t, p, "ServiceReplicasMissing", map[string]string{"service": "web"})
		return ok
	})
	testimage.Docker(t, "start", cs[1].ID)
	vigietest.Eventually(t, 60*time.Second, "ServiceReplicasMissing resolved", func() bool {
		_, ok := firing(t, p, "ServiceReplicasMissing", map[string]string{"service": "web"})
		return !ok && len(alerts(t, p.Client, "ServiceReplicasMissing")) == 0
	})
}

// vigie's own failed connections to the test PostgreSQL fire
// PostgresConnectionErrors; removing the cause (the instance with the wrong
// password) resolves it.
//
// The rule counts errors over 5 minutes, so after the fix it resolves once
// the last error has left that window, as it would in Prometheus; the rule
// pack's unit test checks that, this test checks the errors stop.
func TestPostgresConnectionErrorsEndToEnd(t *testing.T) {
	t.Parallel()
	cluster := pgtest.Start(t, pgtest.Options{})
	bad := cluster.DSN(pgtest.Superuser, "not-the-password", "postgres")
	cfg := `collect:
  interval: 1s
  docker: {enabled: false}
  postgres:
    - name: main
      dsn: ${VIGIE_E2E_DSN}
rules:
  evaluation_interval: 1s
  builtin:
    overrides:
      PostgresConnectionErrors: {threshold: 2}
`
	p := vigietest.Start(t, vigietest.Options{Config: cfg, Env: []string{"VIGIE_E2E_DSN=" + bad}})
	var a apiAlert
	vigietest.Eventually(t, 60*time.Second, "PostgresConnectionErrors firing", func() bool {
		var ok bool
		a, ok = firing(t, p, "PostgresConnectionErrors", map[string]string{"instance": "main"})
		return ok
	})
	if s := p.Query(`vigie_postgres_connection_errors_total{instance="main",reason="auth_failed"}`); len(s) != 1 {
		t.Errorf("auth_failed not counted: %v", s)
	}
	if strings.Contains(p.Log(), "not-the-password") {
		t.Error("the password appears in vigie's log")
	}
	// Remove the cause: point the instance at the right password.
	good := strings.Replace(cfg, "${VIGIE_E2E_DSN}", "'"+cluster.SuperuserDSN("postgres")+"'", 1)
	if err := os.WriteFile(p.Config, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, body := p.Post("/-/reload"); code != 200 {
		t.Fatalf("reload: %d %s", code, body)
	}
	vigietest.Eventually(t, 30*time.Second, "pg_up 1", func() bool {
		s := p.Query(`pg_up{instance="main"}`)
		return len(s) == 1 && s[0].Float() == 1
	})
	// The errors stop: three more collections count none. The alert then
	// resolves once they leave the rule's 5-minute window; that is the rule
	// pack's unit test (rules/builtin/tests/postgres_test.yml, 16m), not
	// worth five real minutes here.
	errs := func() float64 {
		s := p.Query(`sum(vigie_postgres_connection_errors_total{instance="main"})`)
		if len(s) != 1 {
			t.Fatalf("connection errors: %v", s)
		}
		return s[0].Float()
	}
	gathers := func() float64 {
		s := p.Query(`vigie_collection_gathers_total`)
		if len(s) != 1 {
			return 0
		}
		return s[0].Float()
	}
	before, g := errs(), gathers()
	vigietest.Eventually(t, 30*time.Second, "three more collections", func() bool { return gathers() >= g+3 })
	if after := errs(); after != before {
		t.Errorf("connection errors went on after the fix: %v then %v", before, after)
	}
	_ = a
}

// A restart in the middle of a `for` period keeps the clock (the alert's
// activeAt is restored), and a restart while the alert fires records no
// second firing in the alert history.
func TestAlertStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "slow.yml")
	if err := os.WriteFile(rulesFile, []byte(`groups:
  - name: slow
    rules:
      - alert: SlowToFire
        expr: vector(1)
        for: 8s
        labels: {severity: warning}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("collect:\n  interval: 1s\n  docker: {enabled: false}\nrules:\n  evaluation_interval: 1s\n  files: [%q]\n  builtin: {enabled: false}\n", rulesFile)
	activeAt := func(p *vigietest.Process) (string, string) {
		for _, a := range alerts(t, p.Client, "SlowToFire") {
			return a.State, a.ActiveAt
		}
		return "", ""
	}
	p := vigietest.Start(t, vigietest.Options{Config: cfg})
	var first string
	vigietest.Eventually(t, 10*time.Second, "SlowToFire pending", func() bool {
		st, at := activeAt(p)
		first = at
		return st == "pending"
	})
	p.Stop()
	q := vigietest.Start(t, vigietest.Options{Config: cfg, DataDir: p.DataDir})
	vigietest.Eventually(t, 20*time.Second, "SlowToFire firing after the restart", func() bool {
		st, _ := activeAt(q)
		return st == "firing"
	})
	_, restored := activeAt(q)
	a1, _ := time.Parse(time.RFC3339Nano, first)
	a2, _ := time.Parse(time.RFC3339Nano, restored)
	if d := a2.Sub(a1); d < -time.Second || d > time.Second {
		t.Errorf("activeAt after the restart %s, before %s: the for clock restarted", restored, first)
	}
	// Restart while firing: still one history entry, still open.
	q.Kill()
	r := vigietest.Start(t, vigietest.Options{Config: cfg, DataDir: p.DataDir})
	vigietest.Eventually(t, 20*time.Second, "SlowToFire firing after the second restart", func() bool {
		st, _ := activeAt(r)
		return st == "firing"
	})
	resp := r.Get("/api/v1/alerts/history", url.Values{"alertname": {"SlowToFire"}})
	var entries []map[string]any
	if err := json.Unmarshal(resp.Data, &entries); err != nil {
		t.Fatalf("history: %v %s", err, resp.Data)
	}
	if len(entries) != 1 || entries[0]["endsAt"] != nil {
		t.Errorf("history after two restarts: %d entries, want one open entry: %s", len(entries), resp.Data)
	}
}

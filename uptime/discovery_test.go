package uptime

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/uptime/discovery"
	"github.com/vigie-dev/vigie/uptime/probe"
)

// Domains of a container's Traefik labels become running probes whose
// series name the container; static probes keep their names.
func TestManagerRunsDiscoveredProbes(t *testing.T) {
	cli, err := client.New(client.FromEnv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	if _, err := cli.Ping(t.Context(), client.PingOptions{}); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker engine: %v", err)
		}
		t.Skipf("no docker engine: %v", err)
	}
	img := testimage.Build(t)
	dom := strings.TrimPrefix(testimage.Name("m"), testimage.Prefix) + ".invalid"
	ctr := testimage.Run(t, img, testimage.RunOptions{Name: "traefik", Labels: map[string]string{"traefik.http.routers.r.rule": "Host(`" + dom + "`)"}})

	st := openState(t, t.TempDir()+"/state.db")
	t.Cleanup(func() { st.Close() })
	cfg := Config{
		Probes:    []probe.Config{{Name: "static", Type: probe.TypeTCP, Target: "127.0.0.1:1", Interval: dur(time.Second)}},
		Discovery: discovery.Config{Enabled: true, Interval: dur(200 * time.Millisecond), Group: "sites", Status: true},
	}
	m, err := New(Options{Config: cfg, StateDB: st, Docker: func() (discovery.Client, error) { return cli, nil }})
	if err != nil {
		t.Fatal(err)
	}
	m.maxSpread = 0
	ctx, cancel := testContext(t)
	done := make(chan struct{})
	go func() { _ = m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	testimage.Eventually(t, 30*time.Second, func() (bool, string) {
		p, ok := statusOf(m, dom)
		return ok && p.Last != nil, dom + " not checked yet"
	})
	p, _ := statusOf(m, dom)
	if !p.Discovered || p.Instance != "https://"+dom+"/" || p.Config.Labels["container"] != ctr.Name || p.Config.Group != "sites" || p.Config.Status == nil {
		t.Errorf("discovered probe %+v", p.Config)
	}
	t.Logf("reason: %s", p.Last.Reason)
	if p.Last.Success || !strings.Contains(p.Last.Reason, "resolv") {
		t.Errorf("a .invalid domain cannot resolve: %+v", p.Last)
	}
	found := false
	for _, s := range gather(t, m.Collector())["probe_success"] {
		if label(s, "instance") == "https://"+dom+"/" && label(s, "container") == ctr.Name && label(s, "job") == "sites" {
			found = true
		}
	}
	if !found {
		t.Error("no probe_success naming the container")
	}
	if s, ok := statusOf(m, "static"); !ok || s.Discovered {
		t.Error("static probe missing or marked discovered")
	}
	// Switching discovery off on a reload removes the discovered probes only.
	cfg.Discovery.Enabled = false
	if err := m.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if _, ok := statusOf(m, dom); ok {
		t.Error("discovered probe still runs with discovery off")
	}
	if _, ok := statusOf(m, "static"); !ok {
		t.Error("static probe stopped")
	}
}

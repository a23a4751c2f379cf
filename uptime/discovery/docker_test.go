package discovery

import (
	"context"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/uptime/probe"
)

func dockerClient(t *testing.T) *client.Client {
	t.Helper()
	cli, err := client.New(client.FromEnv)
	if err == nil {
		_, err = cli.Ping(context.Background(), client.PingOptions{})
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker engine: %v", err)
		}
		t.Skipf("no docker engine: %v", err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// seen collects what discovery reports.
type seen struct {
	mu     sync.Mutex
	probes []probe.Config
}

func (s *seen) set(ps []probe.Config) { s.mu.Lock(); s.probes = ps; s.mu.Unlock() }

func (s *seen) get(name string) (probe.Config, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.probes, func(p probe.Config) bool { return p.Name == name })
	if i < 0 {
		return probe.Config{}, false
	}
	return s.probes[i], true
}

// A real container and a real Swarm service carrying Traefik labels are
// discovered, with the labels naming them; the container's probes go when it does.
func TestDiscoverContainerAndService(t *testing.T) {
	cli := dockerClient(t)
	img := testimage.Build(t)
	suffix := strings.TrimPrefix(testimage.Name("d"), testimage.Prefix+"d-")
	web, api, off, svcDom, sni := "web-"+suffix+".test", "api-"+suffix+".test", "off-"+suffix+".test", "svc-"+suffix+".test", "pg-"+suffix+".test"

	s := &seen{}
	d := New(Options{Client: cli, Config: Config{Enabled: true}, OnChange: s.set})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	ctr := testimage.Run(t, img, testimage.RunOptions{Name: "traefik-web", Labels: map[string]string{
		"traefik.http.routers.web.rule": "Host(`" + web + "`) || Host(`" + api + "`)",
		LabelPath:                       "/health",
		LabelExpectStatus:               "200,204",
		"com.docker.compose.service":    "web",
		"com.docker.compose.project":    "shop",
	}})
	testimage.Run(t, img, testimage.RunOptions{Name: "traefik-off", Labels: map[string]string{
		"traefik.http.routers.off.rule": "Host(`" + off + "`)",
		LabelEnabled:                    "false",
	}})
	svc := testimage.Name("traefik-svc")
	t.Cleanup(func() { _, _ = testimage.DockerErr("service", "rm", svc) })
	testimage.Docker(t, "service", "create", "--detach", "--name", svc, "--no-resolve-image",
		"--label", testimage.Label+"=1", "--label", "com.docker.stack.namespace=vigie-test-stack",
		"--label", "traefik.http.routers.svc.rule=Host(`"+svcDom+"`)",
		"--label", "traefik.tcp.routers.pg.rule=HostSNI(`"+sni+"`)",
		"--container-label", testimage.Label+"=1",
		"--replicas", "1", "--restart-condition", "none", "--stop-grace-period", "1s",
		img, "-alloc", "1Mi")

	testimage.Eventually(t, 60*time.Second, func() (bool, string) {
		for _, n := range []string{web, api, svcDom, sni} {
			if _, ok := s.get(n); !ok {
				return false, n + " not discovered"
			}
		}
		return true, ""
	})
	if _, ok := s.get(off); ok {
		t.Error("the opted-out domain is probed")
	}
	p, _ := s.get(web)
	if p.URL != "https://"+web+"/health" || !slices.Equal(p.HTTP.ValidStatusCodes, []int{200, 204}) ||
		p.Labels["container"] != ctr.Name || p.Labels["service"] != "web" || p.Labels["stack"] != "shop" {
		t.Errorf("container probe %+v", p)
	}
	p, _ = s.get(svcDom)
	if p.URL != "https://"+svcDom+"/" || p.Labels["service"] != svc || p.Labels["stack"] != "vigie-test-stack" {
		t.Errorf("service probe %+v", p)
	}
	if p, _ := s.get(sni); p.Type != probe.TypeTLS || p.Target != sni+":443" {
		t.Errorf("HostSNI probe %+v", p)
	}

	// Removing the container removes its probes, on the engine's events.
	testimage.Docker(t, "rm", "-f", ctr.ID)
	testimage.Eventually(t, 30*time.Second, func() (bool, string) {
		_, ok := s.get(web)
		return !ok, web + " still probed"
	})
	testimage.Docker(t, "service", "rm", svc)
	testimage.Eventually(t, 30*time.Second, func() (bool, string) {
		_, ok := s.get(svcDom)
		return !ok, svcDom + " still probed"
	})
}

package main

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/internal/vigietest"
)

// webhookSink is a webhook receiver keeping the alerts of each message.
type webhookSink struct {
	mu   sync.Mutex
	msgs []webhookMsg
}

type webhookMsg struct {
	Status string `json:"status"`
	Alerts []struct {
		Status string            `json:"status"`
		Labels map[string]string `json:"labels"`
	} `json:"alerts"`
}

func (s *webhookSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var m webhookMsg
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
}

// count is how many messages told alertname firing for instance.
func (s *webhookSink) count(alertname, instance string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, m := range s.msgs {
		for _, a := range m.Alerts {
			if a.Labels["alertname"] == alertname && a.Labels["instance"] == instance && a.Status == "firing" {
				n++
			}
		}
	}
	return n
}

// agentContainer is a vigie agent in a container of staticImage.
type agentContainer struct {
	*testimage.Container
	addr string // where it listens: on the host's loopback, as it shares the host's network
}

// startAgentContainer runs an agent named by nothing but the container's
// hostname: its configuration sets no global.hostname. The container
// shares the host's network (to reach the central vigie on 127.0.0.1) but
// has its own UTS, PID and mount namespaces.
func startAgentContainer(t *testing.T, image, hostname, writeURL string) agentContainer {
	t.Helper()
	cfg := filepath.Join(t.TempDir(), "agent.yml")
	if err := os.WriteFile(cfg, []byte(agentConfig("", writeURL)), 0o644); err != nil {
		t.Fatal(err)
	}
	a := agentContainer{addr: vigietest.FreeAddr(t)}
	a.Container = testimage.Run(t, image, testimage.RunOptions{
		Name:  hostname,
		Flags: []string{"--network", "host", "--hostname", hostname, "-v", cfg + ":/agent.yml:ro"},
		Args:  []string{"run", "--config", "/agent.yml", "--listen", a.addr, "--data-dir", "/data"},
	})
	logOnFailure(t, a.Container)
	vigietest.Eventually(t, 60*time.Second, "agent "+hostname+" ready", func() bool {
		resp, err := http.Get("http://" + a.addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return a
}

// gathers is the agent's collection count, -1 if it does not answer.
func (a agentContainer) gathers(t *testing.T) float64 {
	return metricValue(t, "http://"+a.addr+"/metrics", "vigie_collection_gathers_total")
}

// rangeTimes returns the timestamps of expr's raw samples (expr is a range
// selector of one series) at time at, through the query API.
func rangeTimes(t *testing.T, c vigietest.Client, expr string, at time.Time) []time.Time {
	t.Helper()
	r := c.Get("/api/v1/query", url.Values{"query": {expr}, "time": {fmt.Sprintf("%.3f", float64(at.UnixMilli())/1000)}})
	var d struct {
		ResultType string `json:"resultType"`
		Result     []struct {
			Values [][2]any `json:"values"`
		} `json:"result"`
	}
	if r.Status != "success" || json.Unmarshal(r.Data, &d) != nil || d.ResultType != "matrix" || len(d.Result) > 1 {
		t.Fatalf("query %s: %s %s %s", expr, r.Status, r.Error, r.Data)
	}
	if len(d.Result) == 0 {
		return nil
	}
	out := make([]time.Time, 0, len(d.Result[0].Values))
	for _, v := range d.Result[0].Values {
		sec, _ := v[0].(float64)
		out = append(out, time.UnixMilli(int64(math.Round(sec*1000))))
	}
	return out
}

// largestGap is the longest interval between consecutive times of ts,
// from from to to included.
func largestGap(ts []time.Time, from, to time.Time) time.Duration {
	var gap time.Duration
	prev := from
	for _, x := range ts {
		gap = max(gap, x.Sub(prev))
		prev = x
	}
	return max(gap, to.Sub(prev))
}

// TestAgentsInContainers (issue 16): three agents, each in its own
// container with its own hostname, feed one central vigie. One agent is
// stopped and the central vigie is down for two minutes meanwhile; once it
// is back, the running agents' samples of those two minutes are in it with
// no gap, HostDown is notified once for the stopped node and never for the
// others, not even while their backlog is still on its way. About 4
// minutes.
func TestAgentsInContainers(t *testing.T) {
	const (
		outage   = 2 * time.Minute
		interval = time.Second // the agents' collection interval (agentConfig)
	)
	image := staticImage(t)
	sink := &webhookSink{}
	hook := httptest.NewServer(sink)
	t.Cleanup(hook.Close)
	centralConfig := fmt.Sprintf(`collect:
  interval: 1s
  docker: {enabled: false}
rules:
  evaluation_interval: 1s
notify:
  route: {receiver: hook, group_wait: 0s, group_by: [alertname, instance]}
  receivers:
    - name: hook
      webhook_configs: [{url: %q}]
`, hook.URL)
	central := vigietest.Start(t, vigietest.Options{Config: centralConfig})
	hosts := []string{"node-a", "node-b", "node-c"}
	agents := map[string]agentContainer{}
	for _, h := range hosts {
		agents[h] = startAgentContainer(t, image, h, central.URL("/api/v1/write"))
	}
	vigietest.Eventually(t, 60*time.Second, "vigie_agent_info of the three containers, named by their hostnames", func() bool {
		got := map[string]bool{}
		for _, s := range central.Query(`vigie_agent_info{job="vigie",cluster="e2e"}`) {
			got[s.Metric["instance"]] = true
		}
		return len(got) == len(hosts) && got["node-a"] && got["node-b"] && got["node-c"]
	})

	// node-b goes away for good; the central vigie for two minutes, while
	// the others keep collecting into their WALs.
	testimage.Docker(t, "stop", agents["node-b"].Name)
	stopping := time.Now() // the samples checked start here
	central.Stop()
	stopped := time.Now() // the outage timed starts once it has exited
	running := []string{"node-a", "node-c"}
	before := map[string]float64{}
	for _, h := range running {
		before[h] = agents[h].gathers(t)
	}
	vigietest.Eventually(t, outage+time.Minute, "two minutes of collections by the running agents", func() bool {
		for _, h := range running {
			if agents[h].gathers(t) < before[h]+0.8*outage.Seconds() {
				return false
			}
		}
		return time.Since(stopped) >= outage
	})
	back := time.Now()
	t.Logf("central vigie down for %s", back.Sub(stopped).Round(time.Millisecond))
	central = vigietest.Start(t, vigietest.Options{Config: centralConfig, Addr: central.Addr, DataDir: central.DataDir})

	// a) Every collection of the outage reaches the central from the WALs.
	window := back.Sub(stopping) + 10*time.Second
	for _, h := range running {
		expr := fmt.Sprintf(`vigie_agent_info{instance=%q}[%dms]`, h, window.Milliseconds())
		var ts []time.Time
		vigietest.Eventually(t, 60*time.Second, h+"'s samples of the outage in the central vigie", func() bool {
			ts = rangeTimes(t, central.Client, expr, back)
			return len(ts) > 0 && !ts[len(ts)-1].Before(back.Add(-3*interval))
		})
		gap := largestGap(ts, stopping, back)
		t.Logf("%s: outage samples in the central vigie %s after its restart: %d, largest gap %s",
			h, time.Since(back).Round(time.Millisecond), len(ts), gap.Round(time.Millisecond))
		if gap > 3*interval {
			t.Errorf("%s: largest gap %s in its samples of the outage, want at most %s", h, gap, 3*interval)
		}
	}

	// b) HostDown for node-b, once: ten more evaluations do not repeat it.
	vigietest.Eventually(t, 3*time.Minute, "HostDown for node-b notified", func() bool {
		return sink.count("HostDown", "node-b") > 0
	})
	t.Logf("HostDown for node-b notified %s after the central vigie's restart", time.Since(back).Round(time.Second))
	evals := func() float64 {
		s := central.Query(`sum(vigie_rule_evaluations_total{rule_group=~".*vigie-agents.*"})`)
		if len(s) == 0 {
			return 0
		}
		return s[0].Float()
	}
	start := evals()
	vigietest.Eventually(t, 30*time.Second, "ten more evaluations of HostDown", func() bool { return evals() >= start+10 })
	if n := sink.count("HostDown", "node-b"); n != 1 {
		t.Errorf("HostDown for node-b notified %d times, want once", n)
	}
	// c) None for the agents that kept collecting, since the start: the
	// sink saw the whole test, the central's restart included, when
	// HostDown without `for` paged them before their backlog came.
	for _, h := range running {
		if n := sink.count("HostDown", h); n != 0 {
			t.Errorf("HostDown for %s, which kept collecting, notified %d times", h, n)
		}
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

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

// TestHostDownAcrossAgents: three agents, each with its own hostname, feed
// one central vigie; when one stops, the central notifies HostDown for it,
// once. HostDown waits for 2 minutes of silence: this test takes ~2.5 min.
func TestHostDownAcrossAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for HostDown's 2 minutes of silence")
	}
	sink := &webhookSink{}
	hook := httptest.NewServer(sink)
	t.Cleanup(hook.Close)
	central := vigietest.Start(t, vigietest.Options{Config: fmt.Sprintf(`collect:
  interval: 1s
  docker: {enabled: false}
rules:
  evaluation_interval: 1s
notify:
  route: {receiver: hook, group_wait: 0s, group_by: [alertname, instance]}
  receivers:
    - name: hook
      webhook_configs: [{url: %q}]
`, hook.URL)})
	agents := map[string]*vigietest.Process{}
	for _, host := range []string{"node-a", "node-b", "node-c"} {
		agents[host] = vigietest.Start(t, vigietest.Options{Config: agentConfig(host, central.URL("/api/v1/write"))})
	}
	vigietest.Eventually(t, 60*time.Second, "three agents in the central vigie", func() bool {
		return len(central.Query(`vigie_agent_info`)) == 3
	})

	agents["node-b"].Stop()
	vigietest.Eventually(t, 4*time.Minute, "HostDown for node-b notified", func() bool {
		return sink.count("HostDown", "node-b") > 0
	})
	// Ten more evaluations: still one notification, and none for the others.
	gathers := func() float64 {
		s := central.Query(`vigie_collection_gathers_total`)
		if len(s) == 0 {
			return 0
		}
		return s[0].Float()
	}
	start := gathers()
	vigietest.Eventually(t, 30*time.Second, "ten more rule evaluations", func() bool { return gathers() >= start+10 })
	if n := sink.count("HostDown", "node-b"); n != 1 {
		t.Errorf("HostDown for node-b notified %d times, want once", n)
	}
	for _, host := range []string{"node-a", "node-c"} {
		if n := sink.count("HostDown", host); n != 0 {
			t.Errorf("HostDown for %s, which still sends, notified %d times", host, n)
		}
	}
}

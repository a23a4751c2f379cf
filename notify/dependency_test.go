package notify

import (
	"context"
	"testing"
	"time"
)

// A service missing replicas mutes the probes of that service only, by
// default, and not with dependency_inhibition: false.
func TestDependencyInhibitionMutesProbesOfAServiceMissingReplicas(t *testing.T) {
	now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		yaml string
		want map[string]bool // probe alert's service → inhibited
	}{
		{"{}", map[string]bool{"web": true, "api": false}},
		{"dependency_inhibition: false", map[string]bool{"web": false, "api": false}},
	} {
		n, _ := newTestNotifier(t, mustConfig(t, tc.yaml), func() time.Time { return now })
		err := n.Put(context.Background(),
			firingAt(now, alert("ServiceReplicasMissing", "service", "web", "stack", "shop", "instance", "h1")),
			firingAt(now, alert("ProbeFailing", "service", "web", "stack", "shop", "instance", "https://web.example")),
			firingAt(now, alert("ProbeSlow", "service", "api", "stack", "shop", "instance", "https://api.example")),
		)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range n.Alerts() {
			if a.Labels["alertname"] == "ServiceReplicasMissing" {
				continue
			}
			if got := len(a.Status.InhibitedBy) > 0; got != tc.want[a.Labels["service"]] {
				t.Errorf("%s: %s{service=%q} inhibited = %v, want %v", tc.yaml, a.Labels["alertname"], a.Labels["service"], got, !got)
			}
		}
	}
}

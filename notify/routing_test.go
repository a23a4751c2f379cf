package notify

import (
	"context"
	"slices"
	"testing"
	"time"
)

const routingConfig = `
route:
  receiver: ops
  group_by: [alertname]
  group_wait: 10s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: ['severity="critical"']
      receiver: pager
      continue: true
    - matchers: ['team=~"db|storage"']
      receiver: db
      group_by: ['...']
    - matchers: ['env="staging"']
      receiver: staging
      mute_time_intervals: [sunday-maintenance]
    - matchers: ['team="quiet"']
      receiver: quiet
      send_resolved_when_muted: true
    - match: {team: instant}
      receiver: instant
      group_wait: 0s
receivers:
  - name: ops
    webhook_configs: [{url: "http://127.0.0.1:1/ops"}]
  - name: pager
    webhook_configs: [{url: "http://127.0.0.1:1/pager"}]
  - name: db
    webhook_configs: [{url: "http://127.0.0.1:1/db"}]
  - name: staging
    webhook_configs: [{url: "http://127.0.0.1:1/staging"}]
  - name: quiet
    webhook_configs: [{url: "http://127.0.0.1:1/quiet"}]
  - name: instant
    webhook_configs: [{url: "http://127.0.0.1:1/instant"}]
inhibit_rules:
  - source_matchers: ['alertname="HostUnreachable"']
    target_matchers: ['severity="warning"']
    equal: [instance]
time_intervals:
  - name: sunday-maintenance
    time_intervals:
      - weekdays: [sunday]
        times: [{start_time: "02:00", end_time: "03:00"}]
        location: Europe/Paris
`

// step is one moment of a scenario: at is the offset from the start; do
// acts (puts alerts, silences, acks); want is every notification queued by
// the flush at that moment.
type step struct {
	at   time.Duration
	do   func(t *testing.T, n *Notifier, now time.Time)
	want []string
}

func put(alerts ...func(now time.Time) Alert) func(*testing.T, *Notifier, time.Time) {
	return func(t *testing.T, n *Notifier, now time.Time) {
		t.Helper()
		var as []Alert
		for _, f := range alerts {
			as = append(as, f(now))
		}
		if err := n.Put(context.Background(), as...); err != nil {
			t.Fatal(err)
		}
	}
}

func fire(name string, lbls ...string) func(time.Time) Alert {
	return func(now time.Time) Alert { return firingAt(now, alert(name, lbls...)) }
}

func resolve(name string, lbls ...string) func(time.Time) Alert {
	return func(now time.Time) Alert { return resolvedAt(now, alert(name, lbls...)) }
}

func TestRoutingGroupingSuppression(t *testing.T) {
	// A Sunday, 01:59:50 in Paris (00:59:50 UTC): the maintenance window opens 10s in.
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	sunday := time.Date(2026, 1, 4, 1, 59, 50, 0, paris)
	monday := time.Date(2026, 1, 5, 9, 0, 0, 0, paris)
	var silenceID string

	cases := []struct {
		name  string
		start time.Time
		steps []step
	}{
		{
			name: "group_wait, group_interval, repeat_interval, resolved", start: monday,
			steps: []step{
				{at: 0, do: put(fire("HighCPU", "instance", "h1"))},
				{at: 5 * time.Second, do: put(fire("HighCPU", "instance", "h2"))},
				{at: 9 * time.Second, want: nil},
				{at: 10 * time.Second, want: []string{`ops firing {alertname="HighCPU"} HighCPU@h1:firing,HighCPU@h2:firing`}},
				{at: 70 * time.Second, want: nil},
				{at: 80 * time.Second, do: put(fire("HighCPU", "instance", "h3"))},
				{at: 129 * time.Second, want: nil},
				{at: 130 * time.Second, want: []string{`ops firing {alertname="HighCPU"} HighCPU@h1:firing,HighCPU@h2:firing,HighCPU@h3:firing`}},
				{at: 3670 * time.Second, do: put(fire("HighCPU", "instance", "h1"), fire("HighCPU", "instance", "h2"), fire("HighCPU", "instance", "h3")), want: nil},
				{at: 3730 * time.Second, want: []string{`ops firing {alertname="HighCPU"} HighCPU@h1:firing,HighCPU@h2:firing,HighCPU@h3:firing`}},
				{at: 3800 * time.Second, do: put(resolve("HighCPU", "instance", "h1"))},
				{at: 3850 * time.Second, want: []string{`ops firing {alertname="HighCPU"} HighCPU@h1:resolved,HighCPU@h2:firing,HighCPU@h3:firing`}},
				{at: 3860 * time.Second, do: put(resolve("HighCPU", "instance", "h2"), resolve("HighCPU", "instance", "h3"))},
				{at: 3910 * time.Second, want: []string{`ops resolved {alertname="HighCPU"} HighCPU@h2:resolved,HighCPU@h3:resolved`}},
				{at: 3970 * time.Second, want: nil},
			},
		},
		{
			name: "routes, continue, group_by ..., group_wait 0s", start: monday,
			steps: []step{
				{at: 0, do: put(
					fire("DiskFull", "severity", "critical", "team", "db", "instance", "h1"),
					fire("Slow", "team", "db", "instance", "h1"),
					fire("Other", "instance", "h2"),
					fire("Now", "team", "instant"),
				), want: []string{`instant firing {alertname="Now"} Now:firing`}},
				{at: 10 * time.Second, want: []string{
					`db firing {alertname="DiskFull", instance="h1", severity="critical", team="db"} DiskFull@h1:firing`,
					`db firing {alertname="Slow", instance="h1", team="db"} Slow@h1:firing`,
					`ops firing {alertname="Other"} Other@h2:firing`,
					`pager firing {alertname="DiskFull"} DiskFull@h1:firing`,
				}},
			},
		},
		{
			name: "inhibition, dependency inhibition, and the resolution of an alert inhibited after it was told", start: monday,
			steps: []step{
				{at: 0, do: put(fire("ContainerRestarting", "instance", "h1", "container", "web"), fire("Load", "instance", "h1", "severity", "warning"))},
				{at: 10 * time.Second, want: []string{
					`ops firing {alertname="ContainerRestarting"} ContainerRestarting@h1:firing`,
					`ops firing {alertname="Load"} Load@h1:firing`,
				}},
				{at: 20 * time.Second, do: put(
					fire("CollectorFailing", "collector", "docker", "instance", "h1"),
					fire("HostUnreachable", "instance", "h1", "severity", "critical"),
					fire("ContainerRestarting", "instance", "h2", "container", "web"),
					fire("Load", "instance", "h2", "severity", "warning"),
				)},
				// h1's container and warning alerts are now inhibited; h2's are not (equal: instance).
				{at: 30 * time.Second, want: []string{
					`ops firing {alertname="CollectorFailing"} CollectorFailing@h1:firing`,
					`pager firing {alertname="HostUnreachable"} HostUnreachable@h1:firing`,
				}},
				{at: 70 * time.Second, want: []string{
					`ops firing {alertname="ContainerRestarting"} ContainerRestarting@h2:firing`,
					`ops firing {alertname="Load"} Load@h2:firing`,
				}},
				// An inhibited alert is not repeated...
				{at: 80 * time.Second, do: put(resolve("ContainerRestarting", "instance", "h1", "container", "web"))},
				// ...but its resolution goes out: the receiver was told it fired.
				{at: 130 * time.Second, want: []string{`ops firing {alertname="ContainerRestarting"} ContainerRestarting@h1:resolved,ContainerRestarting@h2:firing`}},
			},
		},
		{
			name: "HostDown (an agent stopped sending) mutes every other alert of its host", start: monday,
			steps: []step{
				{at: 0, do: put(
					fire("HostDown", "instance", "h1", "severity", "critical"),
					fire("ContainerRestarting", "instance", "h1", "container", "web"),
					fire("ProbeFailed", "instance", "h1"),
					fire("ProbeFailed", "instance", "h2"),
				)},
				{at: 10 * time.Second, want: []string{
					`ops firing {alertname="ProbeFailed"} ProbeFailed@h2:firing`,
					`pager firing {alertname="HostDown"} HostDown@h1:firing`,
				}},
			},
		},
		{
			name: "silences, expiry, expire on resolve, send_resolved_when_muted", start: monday,
			steps: []step{
				{at: 0, do: func(t *testing.T, n *Notifier, now time.Time) {
					var err error
					silenceID, err = n.AddSilence(context.Background(), Silence{Matchers: APIMatchers(mustMatchers(t, `alertname="Noisy"`)), EndsAt: now.Add(time.Hour), CreatedBy: "t", Comment: "c"})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := n.AddSilence(context.Background(), Silence{Matchers: APIMatchers(mustMatchers(t, `alertname=~"Flappy|Hushed"`)), EndsAt: now.Add(time.Hour), ExpireOnResolve: true}); err != nil {
						t.Fatal(err)
					}
					put(fire("Noisy", "instance", "h1"), fire("Other", "instance", "h1"), fire("Flappy", "instance", "h1"), fire("Hushed", "team", "quiet"))(t, n, now)
				}},
				{at: 10 * time.Second, want: []string{`ops firing {alertname="Other"} Other@h1:firing`}},
				{at: 20 * time.Second, do: func(t *testing.T, n *Notifier, now time.Time) {
					if err := n.ExpireSilence(context.Background(), silenceID); err != nil {
						t.Fatal(err)
					}
					put(resolve("Flappy", "instance", "h1"), resolve("Hushed", "team", "quiet"))(t, n, now)
				}},
				{at: 21 * time.Second, do: func(t *testing.T, n *Notifier, now time.Time) {
					for _, s := range n.Silences() {
						if s.ExpireOnResolve && s.Status.State != "expired" {
							t.Errorf("expire-on-resolve silence is %s after its alerts resolved", s.Status.State)
						}
					}
				}},
				// Flappy's resolution is not sent (it was never told); Hushed's route asks for it.
				{at: 70 * time.Second, want: []string{
					`ops firing {alertname="Noisy"} Noisy@h1:firing`,
					`quiet resolved {alertname="Hushed"} Hushed:resolved`,
				}},
			},
		},
		{
			name: "maintenance window mutes the routes naming it", start: sunday,
			steps: []step{
				{at: 0, do: put(fire("Deploy", "env", "staging"), fire("Other", "instance", "h1"))},
				// 02:00:00 Paris: staging is muted, the root route is not.
				{at: 10 * time.Second, want: []string{`ops firing {alertname="Other"} Other@h1:firing`}},
				{at: 3550 * time.Second, want: nil},
				// 03:00:00: the window is over (and Other's repeat_interval has passed).
				{at: 3610 * time.Second, want: []string{`staging firing {alertname="Deploy"} Deploy:firing`, `ops firing {alertname="Other"} Other@h1:firing`}},
			},
		},
		{
			name: "an acknowledged alert is not repeated, a new one in its group is", start: monday,
			steps: []step{
				{at: 0, do: put(fire("Disk", "instance", "h1"))},
				{at: 10 * time.Second, want: []string{`ops firing {alertname="Disk"} Disk@h1:firing`}},
				{at: 20 * time.Second, do: func(t *testing.T, n *Notifier, now time.Time) {
					if _, err := n.Acknowledge(context.Background(), alert("Disk", "instance", "h1").Fingerprint(), "me", "on it", 2*time.Hour); err != nil {
						t.Fatal(err)
					}
				}},
				{at: 3610 * time.Second, do: put(fire("Disk", "instance", "h1")), want: nil},
				{at: 3650 * time.Second, do: put(fire("Disk", "instance", "h2"))},
				{at: 3670 * time.Second, want: []string{`ops firing {alertname="Disk"} Disk@h1:firing,Disk@h2:firing`}},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: tc.start}
			n, _ := newTestNotifier(t, mustConfig(t, routingConfig), clock.Now)
			for _, s := range tc.steps {
				now := tc.start.Add(s.at)
				// Flush when Run would have: at every group's due time up to now.
				var rows []*outboxRow
				for {
					nf := n.nextFlush()
					if nf.IsZero() || !nf.Before(now) {
						break
					}
					clock.Set(nf)
					r, err := n.flushDue(context.Background(), nf)
					if err != nil {
						t.Fatal(err)
					}
					rows = append(rows, r...)
				}
				clock.Set(now)
				if s.do != nil {
					s.do(t, n, now)
				}
				r, err := n.flushDue(context.Background(), now)
				if err != nil {
					t.Fatal(err)
				}
				rows = append(rows, r...)
				got := describeAll(rows)
				want := append([]string{}, s.want...)
				slices.Sort(want)
				if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Errorf("at %s:\n got %q\nwant %q", s.at, got, want)
				}
			}
		})
	}
}

func mustMatchers(t testing.TB, s string) Matchers {
	t.Helper()
	m, err := ParseMatchers(s)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// An alert that starts firing again after its resolution is a new incident:
// it is notified again at once, not after repeat_interval.
func TestRefiringIsNotified(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	n, _ := newTestNotifier(t, mustConfig(t, routingConfig), clock.Now)
	ctx := context.Background()
	at := func(d time.Duration) time.Time { clock.Set(start.Add(d)); return start.Add(d) }
	_ = n.Put(ctx, firingAt(at(0), alert("A", "instance", "h1")))
	rows, _ := n.flushDue(ctx, at(10*time.Second))
	if len(rows) != 1 {
		t.Fatalf("first notification: %q", describeAll(rows))
	}
	_ = n.Put(ctx, resolvedAt(at(20*time.Second), alert("A", "instance", "h1")))
	rows, _ = n.flushDue(ctx, at(70*time.Second))
	if got := describeAll(rows); len(got) != 1 || got[0] != `ops resolved {alertname="A"} A@h1:resolved` {
		t.Fatalf("resolution: %q", got)
	}
	_ = n.Put(ctx, firingAt(at(80*time.Second), alert("A", "instance", "h1")))
	rows, _ = n.flushDue(ctx, at(90*time.Second))
	if got := describeAll(rows); len(got) != 1 || got[0] != `ops firing {alertname="A"} A@h1:firing` {
		t.Fatalf("re-firing: %q", got)
	}
}

func TestApplyConfigKeepsGroupsAndLog(t *testing.T) {
	start := time.Date(2026, 1, 5, 9, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start}
	cfg := mustConfig(t, routingConfig)
	n, _ := newTestNotifier(t, cfg, clock.Now)
	ctx := context.Background()
	_ = n.Put(ctx, firingAt(start, alert("A", "instance", "h1")))
	clock.Set(start.Add(10 * time.Second))
	if rows, _ := n.flushDue(ctx, clock.Now()); len(rows) != 1 {
		t.Fatalf("got %d notifications", len(rows))
	}
	// Same tree, a changed receiver list: the group and its log entry stay, so no repeat.
	cfg2 := mustConfig(t, routingConfig)
	cfg2.Receivers = append(cfg2.Receivers, Receiver{Name: "extra", WebhookConfigs: []WebhookConfig{{URL: "http://127.0.0.1:1/extra"}}})
	if err := n.ApplyConfig(cfg2); err != nil {
		t.Fatal(err)
	}
	clock.Set(start.Add(70 * time.Second))
	if rows, _ := n.flushDue(ctx, clock.Now()); len(rows) != 0 {
		t.Fatalf("reload re-notified: %q", describeAll(rows))
	}
	bad := cfg2
	bad.Route = &Route{Receiver: "nobody"}
	if err := n.ApplyConfig(bad); err == nil {
		t.Fatal("a config with an undefined receiver was applied")
	}
	if n.config().cfg.Route.Receiver != "ops" {
		t.Fatal("a failed reload replaced the running configuration")
	}
}

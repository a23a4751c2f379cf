package container

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus"
)

// Compose labels set by `docker compose` (and by Coolify, which runs it).
const (
	composeProject = "com.docker.compose.project"
	composeService = "com.docker.compose.service"
	composeOneoff  = "com.docker.compose.oneoff"
)

// emitCompose reports replicas of Compose services: desired is what
// expected_replicas declares, or else the containers the project created;
// running is those running, healthy (when they have a health check) and
// not restarted by their policy in the last restartGrace.
func (c *Collector) emitCompose(ch chan<- prometheus.Metric, infos []*info, now time.Time) {
	type key struct{ project, service string }
	desired := map[key]float64{}
	running := map[key]float64{}
	for _, in := range infos {
		if in == nil {
			continue
		}
		l := in.summary.Labels
		k := key{l[composeProject], l[composeService]}
		if k.project == "" || k.service == "" || strings.EqualFold(l[composeOneoff], "true") {
			continue
		}
		desired[k]++
		if replicaUp(in, now) {
			running[k]++
		} else {
			running[k] += 0
		}
	}
	for name, n := range c.cfg.ExpectedReplicas {
		p, s, _ := strings.Cut(name, "/")
		k := key{p, s}
		desired[k] = float64(n)
		running[k] += 0
	}
	keys := make([]key, 0, len(desired))
	for k := range desired {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].project != keys[j].project {
			return keys[i].project < keys[j].project
		}
		return keys[i].service < keys[j].service
	})
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(replicasDesired, prometheus.GaugeValue, desired[k], k.service, k.project, "compose")
		ch <- prometheus.MustNewConstMetric(replicasRunning, prometheus.GaugeValue, running[k], k.service, k.project, "compose")
	}
}

// replicaUp tells whether a container counts as a running replica.
func replicaUp(in *info, now time.Time) bool {
	st := in.inspect.State
	if st == nil || !st.Running || st.Restarting || st.Paused {
		return false
	}
	if h := st.Health; h != nil && h.Status != container.NoHealthcheck && h.Status != "" && h.Status != container.Healthy {
		return false
	}
	if in.inspect.RestartCount > 0 {
		if t, err := time.Parse(time.RFC3339Nano, st.StartedAt); err == nil && now.Sub(t) < restartGrace {
			return false // restarted by its policy moments ago: maybe a restart loop
		}
	}
	return true
}

// emitSwarm reports every Swarm service's desired and running tasks, as the
// engine counts them (global services: eligible nodes), and its update
// state. A node that is not a Swarm manager has nothing to report.
func (c *Collector) emitSwarm(ctx context.Context, ch chan<- prometheus.Metric) error {
	res, err := c.cli.ServiceList(ctx, client.ServiceListOptions{Status: true})
	if err != nil {
		if cerrdefs.IsUnavailable(err) || cerrdefs.IsFailedPrecondition(err) {
			return nil // not in a swarm, or a worker node
		}
		return fmt.Errorf("list swarm services: %w", err)
	}
	for _, svc := range res.Items {
		name := svc.Spec.Name
		stack := svc.Spec.Labels["com.docker.stack.namespace"]
		mode := "replicated"
		var specReplicas float64
		switch m := svc.Spec.Mode; {
		case m.Global != nil:
			mode = "global"
		case m.ReplicatedJob != nil:
			mode = "replicated-job"
		case m.GlobalJob != nil:
			mode = "global-job"
		case m.Replicated != nil && m.Replicated.Replicas != nil:
			specReplicas = float64(*m.Replicated.Replicas)
		}
		desired, running := specReplicas, 0.0
		if s := svc.ServiceStatus; s != nil {
			desired, running = float64(s.DesiredTasks), float64(s.RunningTasks)
		}
		ch <- prometheus.MustNewConstMetric(replicasDesired, prometheus.GaugeValue, desired, name, stack, mode)
		ch <- prometheus.MustNewConstMetric(replicasRunning, prometheus.GaugeValue, running, name, stack, mode)
		if u := svc.UpdateStatus; u != nil && u.State != "" {
			for _, s := range updateStates {
				v := 0.0
				if s == string(u.State) {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(serviceUpdate, prometheus.GaugeValue, v, name, stack, s)
			}
		}
	}
	return nil
}

package scaling

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
)

// Actuator changes a Swarm service's replica count: the equivalent of
// `docker service scale SERVICE=N`.
type Actuator interface {
	Scale(ctx context.Context, service string, replicas int) error
}

// SwarmActuator scales Swarm services through the Engine API.
type SwarmActuator struct {
	cli *client.Client
}

var _ Actuator = (*SwarmActuator)(nil)

// NewSwarmActuator returns an actuator on the engine at host
// (unix:///var/run/docker.sock); it does not contact the engine.
func NewSwarmActuator(host string) (*SwarmActuator, error) {
	cli, err := client.New(client.WithHost(host))
	if err != nil {
		return nil, fmt.Errorf("docker client for %s: %w", host, err)
	}
	return &SwarmActuator{cli: cli}, nil
}

// Close releases the client.
func (a *SwarmActuator) Close() error { return a.cli.Close() }

// Scale sets the replicas of a replicated service, as `docker service
// scale` does: inspect, change Spec.Mode.Replicated.Replicas, update at the
// inspected version (a concurrent change makes the update fail, not race).
func (a *SwarmActuator) Scale(ctx context.Context, service string, replicas int) error {
	res, err := a.cli.ServiceInspect(ctx, service, client.ServiceInspectOptions{})
	if err != nil {
		return fmt.Errorf("inspect service %s: %w", service, err)
	}
	svc := res.Service
	if svc.Spec.Mode.Replicated == nil {
		return fmt.Errorf("service %s is not in replicated mode", service)
	}
	n := uint64(replicas)
	svc.Spec.Mode.Replicated.Replicas = &n
	if _, err := a.cli.ServiceUpdate(ctx, svc.ID, client.ServiceUpdateOptions{Version: svc.Version, Spec: svc.Spec}); err != nil {
		return fmt.Errorf("update service %s to %d replicas: %w", service, replicas, err)
	}
	return nil
}

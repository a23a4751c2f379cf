package scaling

import (
	"context"
	"fmt"

	"github.com/moby/moby/api/types/swarm"
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

// Inventory reports what the Swarm's nodes offer and what its services
// reserve: the scheduler places a task only where its reservation fits.
type Inventory interface {
	Resources(ctx context.Context) (Resources, error)
}

// Resources are the schedulable resources of the active, ready nodes and
// the reservations of the services' tasks.
type Resources struct {
	Nodes               int     `json:"nodes"`
	CPUCores            float64 `json:"cpu_cores"`
	MemoryBytes         float64 `json:"memory_bytes"`
	ReservedCPUCores    float64 `json:"reserved_cpu_cores"`
	ReservedMemoryBytes float64 `json:"reserved_memory_bytes"`
	// Services holds each Swarm service's reservation per replica, by name.
	Services map[string]Reservation `json:"-"`
}

// Reservation is one replica's reservation.
type Reservation struct {
	CPUCores    float64
	MemoryBytes float64
}

var _ Inventory = (*SwarmActuator)(nil)

// Resources lists the nodes and the services (`docker node ls`, `docker
// service ls`) and adds up their resources and reservations.
func (a *SwarmActuator) Resources(ctx context.Context) (Resources, error) {
	nodes, err := a.cli.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return Resources{}, fmt.Errorf("list swarm nodes: %w", err)
	}
	r := Resources{Services: map[string]Reservation{}}
	for _, n := range nodes.Items {
		if n.Status.State != swarm.NodeStateReady || n.Spec.Availability != swarm.NodeAvailabilityActive {
			continue
		}
		r.Nodes++
		r.CPUCores += float64(n.Description.Resources.NanoCPUs) / 1e9
		r.MemoryBytes += float64(n.Description.Resources.MemoryBytes)
	}
	svcs, err := a.cli.ServiceList(ctx, client.ServiceListOptions{Status: true})
	if err != nil {
		return Resources{}, fmt.Errorf("list swarm services: %w", err)
	}
	for _, s := range svcs.Items {
		res := s.Spec.TaskTemplate.Resources
		if res == nil || res.Reservations == nil {
			continue
		}
		per := Reservation{CPUCores: float64(res.Reservations.NanoCPUs) / 1e9, MemoryBytes: float64(res.Reservations.MemoryBytes)}
		r.Services[s.Spec.Name] = per
		tasks := 0.0
		if s.ServiceStatus != nil {
			tasks = float64(s.ServiceStatus.DesiredTasks)
		}
		r.ReservedCPUCores += per.CPUCores * tasks
		r.ReservedMemoryBytes += per.MemoryBytes * tasks
	}
	return r, nil
}

// Package discovery finds the domains served behind Traefik on the Docker
// engine, from the router rules in container and Swarm service labels (what
// Dokploy and Coolify write), and turns each into an uptime probe. It
// follows the engine's events, so probes appear and disappear with the
// containers and services.
package discovery

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/vigie-dev/vigie/uptime/probe"
)

// Labels read on containers and services.
const (
	LabelEnabled      = "vigie.probe.enabled"
	LabelPath         = "vigie.probe.path"
	LabelExpectStatus = "vigie.probe.expect_status"
)

// Client is the part of the moby client discovery uses.
type Client interface {
	ContainerList(ctx context.Context, o client.ContainerListOptions) (client.ContainerListResult, error)
	ServiceList(ctx context.Context, o client.ServiceListOptions) (client.ServiceListResult, error)
	Events(ctx context.Context, o client.EventsListOptions) client.EventsResult
}

var _ Client = (*client.Client)(nil)

// Options builds a Discoverer.
type Options struct {
	Client Client
	Config Config
	Logger *slog.Logger
	// OnChange receives the whole set of discovered probes whenever it changes.
	OnChange func([]probe.Config)
}

// Discoverer lists and follows the engine.
type Discoverer struct {
	o    Options
	last []probe.Config
	sent bool
}

// New returns a Discoverer.
func New(o Options) *Discoverer {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Discoverer{o: o}
}

// Run lists at start, again on each relevant event (debounced) and every
// five minutes, and reconnects to the event stream with backoff, until ctx ends.
func (d *Discoverer) Run(ctx context.Context) {
	backoff := time.Second
	for ctx.Err() == nil {
		err := d.follow(ctx)
		if ctx.Err() != nil {
			return
		}
		d.o.Logger.Warn("docker events lost; discovering again", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
	}
}

func (d *Discoverer) follow(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res := d.o.Client.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", string(events.ContainerEventType), string(events.ServiceEventType)).
		Add("event", "start", "die", "destroy", "create", "update", "remove")})
	if err := d.Refresh(ctx); err != nil {
		return err
	}
	var debounce <-chan time.Time
	periodic := time.NewTicker(5 * time.Minute)
	defer periodic.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-res.Err:
			if err == nil {
				err = errors.New("event stream closed")
			}
			return err
		case <-res.Messages:
			if debounce == nil {
				debounce = time.After(300 * time.Millisecond)
			}
		case <-debounce:
			debounce = nil
			if err := d.Refresh(ctx); err != nil {
				return err
			}
		case <-periodic.C:
			if err := d.Refresh(ctx); err != nil {
				return err
			}
		}
	}
}

// Refresh lists running containers and services and reports the probes when they changed.
func (d *Discoverer) Refresh(ctx context.Context) error {
	probes, err := d.Discover(ctx)
	if err != nil {
		return err
	}
	if d.sent && reflect.DeepEqual(probes, d.last) {
		return nil
	}
	d.last, d.sent = probes, true
	d.o.Logger.Info("discovered domains", "probes", len(probes))
	if d.o.OnChange != nil {
		d.o.OnChange(probes)
	}
	return nil
}

// Discover returns the probes of the engine's current containers and services, by name.
func (d *Discoverer) Discover(ctx context.Context) ([]probe.Config, error) {
	cs, err := d.o.Client.ContainerList(ctx, client.ContainerListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	byName := map[string]probe.Config{}
	add := func(ps []probe.Config) {
		for _, p := range ps {
			if _, dup := byName[p.Name]; !dup {
				byName[p.Name] = p
			}
		}
	}
	// Services first: a Swarm task's container names the same domains.
	svcs, err := d.o.Client.ServiceList(ctx, client.ServiceListOptions{})
	if err != nil && !isNotSwarm(err) {
		return nil, fmt.Errorf("list services: %w", err)
	}
	sort.Slice(svcs.Items, func(i, j int) bool { return svcs.Items[i].Spec.Name < svcs.Items[j].Spec.Name })
	for _, s := range svcs.Items {
		add(d.Probes(s.Spec.Labels, map[string]string{"service": s.Spec.Name, "stack": s.Spec.Labels["com.docker.stack.namespace"]}))
	}
	sort.Slice(cs.Items, func(i, j int) bool { return firstName(cs.Items[i].Names) < firstName(cs.Items[j].Names) })
	for _, c := range cs.Items {
		add(d.Probes(c.Labels, containerLabels(c.Labels, firstName(c.Names))))
	}
	out := make([]probe.Config, 0, len(byName))
	for _, p := range byName {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func isNotSwarm(err error) bool {
	s := err.Error()
	return strings.Contains(s, "not a swarm manager") || strings.Contains(s, "This node is not a swarm manager")
}

func firstName(names []string) string {
	if len(names) == 0 {
		return ""
	}
	return strings.TrimPrefix(names[0], "/")
}

// containerLabels names what runs behind a container's domains, with the
// label names the container and service alerts use, so that inhibition can
// match a probe to its cause.
func containerLabels(l map[string]string, name string) map[string]string {
	out := map[string]string{"container": name}
	switch {
	case l["com.docker.swarm.service.name"] != "":
		out["service"], out["stack"] = l["com.docker.swarm.service.name"], l["com.docker.stack.namespace"]
	case l["com.docker.compose.service"] != "":
		out["service"], out["stack"] = l["com.docker.compose.service"], l["com.docker.compose.project"]
	}
	return out
}

// Probes turns one label set into probes: an http probe per domain of the
// HTTP routers, a tls probe (port 443) per domain only in TCP routers.
func (d *Discoverer) Probes(labels, owner map[string]string) []probe.Config {
	if strings.EqualFold(labels[LabelEnabled], "false") || strings.EqualFold(labels["traefik.enable"], "false") {
		return nil
	}
	httpRules, tcpRules := routerRules(labels)
	path := labels[LabelPath]
	if path == "" || !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	codes := parseCodes(labels[LabelExpectStatus])
	for k, v := range owner {
		if v == "" {
			delete(owner, k)
		}
	}
	var out []probe.Config
	seen := map[string]bool{}
	for _, r := range httpRules {
		for _, dom := range Domains(r) {
			if seen[dom] {
				continue
			}
			seen[dom] = true
			p := d.base(dom, owner)
			p.Type, p.URL = probe.TypeHTTP, d.scheme()+"://"+dom+path
			p.HTTP.ValidStatusCodes = codes
			out = append(out, p)
		}
	}
	for _, r := range tcpRules {
		for _, dom := range Domains(r) {
			if seen[dom] {
				continue
			}
			seen[dom] = true
			p := d.base(dom, owner)
			p.Type, p.Target = probe.TypeTLS, dom+":443"
			out = append(out, p)
		}
	}
	return out
}

func (d *Discoverer) scheme() string {
	if d.o.Config.Scheme == "" {
		return "https"
	}
	return d.o.Config.Scheme
}

func (d *Discoverer) base(domain string, owner map[string]string) probe.Config {
	c := d.o.Config
	p := probe.Config{Name: domain, Group: c.Group, Interval: c.Interval, Timeout: c.Timeout, Retries: c.Retries,
		FailuresBeforeDown: c.FailuresBeforeDown, Labels: map[string]string{}}
	for k, v := range owner {
		p.Labels[k] = v
	}
	if c.Status {
		p.Status = &probe.StatusInfo{Name: domain}
	}
	return p
}

// parseCodes reads "200" or "200,301"; bad entries are ignored.
func parseCodes(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if n, err := strconv.Atoi(strings.TrimSpace(f)); err == nil && n >= 100 && n <= 599 {
			out = append(out, n)
		}
	}
	return out
}

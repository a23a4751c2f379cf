package scaling

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/storage"
)

// Options are what New needs.
type Options struct {
	Config     Config
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	// Query reads the TSDB (rules.EngineQueryFunc(engine, db)).
	Query QueryFunc
	// StateDB keeps the audit trail of applied actions; nil keeps none.
	StateDB *storage.State
	// Actuator scales Swarm services in apply mode; nil disables apply mode.
	Actuator Actuator
	// Inventory, when set, adds the Swarm's reservations to the capacity
	// check (a *SwarmActuator is one).
	Inventory Inventory
	// Now is the clock (time.Now by default).
	Now func() time.Time
}

// Scaler evaluates every configured service after each collection.
type Scaler struct {
	logger   *slog.Logger
	query    QueryFunc
	actuator Actuator
	inv      Inventory
	audit    *audit
	now      func() time.Time
	metrics  *metrics

	signal  chan struct{}
	sigMu   sync.Mutex
	pending time.Time // the newest collection not evaluated yet

	evalMu sync.Mutex // one evaluation at a time
	mu     sync.RWMutex
	cfg    Config
	state  map[string]*serviceState
	last   Result
	sizing map[string]RightSizing
	sized  time.Time
}

// serviceState is what the Scaler remembers about a service between evaluations.
type serviceState struct {
	hist       History
	current    int
	seen       bool
	lastAction time.Time
}

// Result is one evaluation: every service's status and the capacity.
type Result struct {
	Time     time.Time       `json:"time"`
	Services []ServiceStatus `json:"services"`
	Capacity Capacity        `json:"capacity"`
	Error    string          `json:"error,omitempty"`
}

// ServiceStatus is one service's recommendation with everything said about it.
type ServiceStatus struct {
	// Service is as configured: a Swarm name or project/service.
	Service string `json:"service"`
	// Name and Stack are the labels of the service's series.
	Name  string `json:"name"`
	Stack string `json:"stack"`
	Kind  string `json:"kind"` // swarm or compose
	Known bool   `json:"known"`
	Recommendation
	// Command is the docker compose command that applies the recommendation.
	Command     string       `json:"command,omitempty"`
	Apply       ApplyStatus  `json:"apply"`
	RightSizing *RightSizing `json:"right_sizing,omitempty"`
	// CPULimitCores and MemoryLimitBytes are the replicas' current limits (0: none).
	CPULimitCores    float64 `json:"cpu_limit_cores"`
	MemoryLimitBytes float64 `json:"memory_limit_bytes"`
	// NeedCPUCores and NeedMemoryBytes are what the added replicas need.
	NeedCPUCores    float64 `json:"need_cpu_cores"`
	NeedMemoryBytes float64 `json:"need_memory_bytes"`
}

// ApplyStatus says what apply mode did with the recommendation.
type ApplyStatus struct {
	Enabled bool    `json:"enabled"`
	DryRun  bool    `json:"dry_run"`
	Note    string  `json:"note,omitempty"`
	Action  *Action `json:"action,omitempty"`
}

// New builds a Scaler and, with a state database, its audit table.
func New(o Options) (*Scaler, error) {
	if err := o.Config.Validate(); err != nil {
		return nil, err
	}
	if o.Query == nil {
		return nil, fmt.Errorf("scaling: a query function is needed")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := openAudit(ctx, o.StateDB)
	if err != nil {
		return nil, err
	}
	s := &Scaler{
		logger: o.Logger.With("component", "scaling"), query: o.Query, actuator: o.Actuator, inv: o.Inventory, audit: a, now: o.Now,
		cfg: o.Config, state: map[string]*serviceState{}, sizing: map[string]RightSizing{},
		signal: make(chan struct{}, 1),
	}
	s.metrics = newMetrics(s)
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.metrics); err != nil {
			return nil, fmt.Errorf("scaling: register metrics: %w", err)
		}
	}
	return s, nil
}

// ApplyConfig takes a new configuration; services still configured keep
// their history (stabilisation windows, policies' periods, cooldowns).
func (s *Scaler) ApplyConfig(cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	keep := map[string]*serviceState{}
	for _, sc := range cfg.Services {
		if st := s.state[sc.Service]; st != nil {
			keep[sc.Service] = st
		}
	}
	if cfg.RightSizing != s.cfg.RightSizing {
		s.sized = time.Time{}
	}
	s.cfg, s.state = cfg, keep
	return nil
}

// Collected tells the Scaler that a collection was committed at ts; Run
// evaluates it. It never blocks: hook it to the collection loop's commits.
func (s *Scaler) Collected(ts time.Time) {
	s.sigMu.Lock()
	if ts.After(s.pending) {
		s.pending = ts
	}
	s.sigMu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
	}
}

// Run evaluates after each Collected until ctx ends; collections that
// arrive during an evaluation are folded into the next one.
func (s *Scaler) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.signal:
		}
		s.sigMu.Lock()
		ts := s.pending
		s.pending = time.Time{}
		s.sigMu.Unlock()
		if !ts.IsZero() {
			_ = s.Evaluate(ctx, ts) // logged and counted by Evaluate
		}
	}
}

// Last returns the last evaluation.
func (s *Scaler) Last() Result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last
}

// Evaluate reads the TSDB at now, recommends replicas for every service,
// applies them where asked and publishes the result. Call it after each
// committed collection, as the rules are.
func (s *Scaler) Evaluate(ctx context.Context, now time.Time) error {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	start := time.Now()
	s.mu.RLock()
	cfg := s.cfg
	s.mu.RUnlock()
	res := Result{Time: now, Services: []ServiceStatus{}}
	snap, err := read(ctx, s.query, cfg, now)
	if err != nil {
		s.logger.Warn("scaling evaluation failed", "err", err)
		res.Error = err.Error()
		s.publish(res, time.Since(start), false)
		return err
	}
	for _, sc := range cfg.Services {
		res.Services = append(res.Services, s.evaluateService(ctx, sc, snap, now))
	}
	res.Capacity = capacity(ctx, s.query, cfg, res.Services, s.inv, now)
	if res.Capacity.MissingCPUCores > 0 || res.Capacity.MissingMemoryBytes > 0 {
		for i := range res.Services {
			if st := &res.Services[i]; st.Desired > st.Current {
				st.limit(LimitCapacity, "%s", res.Capacity.Reason)
			}
		}
	}
	s.rightSize(ctx, cfg, &res, now)
	for i, sc := range cfg.Services {
		s.apply(ctx, sc, &res.Services[i], now)
	}
	s.publish(res, time.Since(start), true)
	return nil
}

func (s *Scaler) publish(res Result, took time.Duration, ok bool) {
	s.mu.Lock()
	if !ok && len(res.Services) == 0 {
		// keep the last recommendations; only the error is new
		last := s.last
		last.Error = res.Error
		res = last
	}
	s.last = res
	s.mu.Unlock()
	s.metrics.observe(took, ok)
}

// stateOf returns the remembered state of a service.
func (s *Scaler) stateOf(name string) *serviceState {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.state[name]
	if st == nil {
		st = &serviceState{}
		s.state[name] = st
	}
	return st
}

func (s *Scaler) evaluateService(ctx context.Context, sc ServiceConfig, snap *snapshot, now time.Time) ServiceStatus {
	k := keyOf(sc)
	out := ServiceStatus{Service: sc.Service, Name: k.name, Stack: k.project, Kind: "swarm",
		Apply: ApplyStatus{Enabled: sc.Apply.Enabled, DryRun: sc.Apply.DryRun}}
	if k.compose {
		out.Kind = "compose"
	}
	svc := snap.services[k]
	if svc == nil || !svc.known {
		out.Recommendation = Recommendation{Service: sc.Service, Time: now, Metrics: []MetricResult{}}
		what := "no Swarm service named %q in the collected metrics (vigie_service_replicas_desired)"
		if k.compose {
			what = "no Compose service %q (project/service) in the collected metrics (vigie_service_replicas_desired)"
		}
		out.limit(LimitUnknownSvc, "unknown service: "+what, sc.Service)
		return out
	}
	out.Known, out.Stack = true, svc.stack
	if svc.mode != "replicated" && svc.mode != "compose" {
		out.Recommendation = Recommendation{Service: sc.Service, Current: int(svc.desired), Desired: int(svc.desired), Time: now, Metrics: []MetricResult{}}
		out.limit(LimitNotReplicated, "service %q runs in %s mode: only replicated services have a replica count to scale", sc.Service, svc.mode)
		return out
	}
	st := s.stateOf(sc.Service)
	current := int(svc.desired)
	if st.seen && st.current != current {
		// A change made by someone else (or by us) counts in the policies' periods.
		st.hist.RecordScale(st.current, current, now)
	}
	st.seen, st.current = true, current
	in := Input{Service: sc.Service, Current: current, Min: sc.MinReplicas, Max: sc.MaxReplicas,
		Tolerance: s.tolerance(), Metrics: inputs(ctx, s.query, sc, svc, now), Behavior: sc.behavior()}
	out.Recommendation = Recommend(in, &st.hist, now)
	out.NeedCPUCores, out.NeedMemoryBytes = need(svc, out.Desired-out.Current)
	out.CPULimitCores, out.MemoryLimitBytes = limits(svc)
	if k.compose && out.Desired != out.Current {
		out.Command = fmt.Sprintf("docker compose -p %s up -d --scale %s=%d", k.project, k.name, out.Desired)
	}
	return out
}

func (s *Scaler) tolerance() float64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg.Tolerance
}

// apply carries out a Swarm service's recommendation in apply mode,
// within its cooldown and maximum step, and records it in the audit trail.
func (s *Scaler) apply(ctx context.Context, sc ServiceConfig, out *ServiceStatus, now time.Time) {
	if !sc.Apply.Enabled || !out.Known || out.Kind != "swarm" || out.Desired == out.Current {
		return
	}
	if s.actuator == nil && !sc.Apply.DryRun {
		out.Apply.Note = "apply mode needs the Docker engine: no actuator"
		return
	}
	st := s.stateOf(sc.Service)
	if !st.lastAction.IsZero() && now.Sub(st.lastAction) < sc.Apply.cooldown() {
		out.Apply.Note = fmt.Sprintf("cooldown: last action at %s, next after %s", st.lastAction.UTC().Format(time.RFC3339), st.lastAction.Add(sc.Apply.cooldown()).UTC().Format(time.RFC3339))
		return
	}
	to := out.Desired
	if step := sc.Apply.MaxStep; step > 0 {
		to = max(min(to, out.Current+step), out.Current-step)
		if to != out.Desired {
			out.Apply.Note = fmt.Sprintf("limited by max_step %d", step)
		}
	}
	act := &Action{Time: now, Service: sc.Service, Stack: out.Stack, From: out.Current, To: to, DryRun: sc.Apply.DryRun, Reasons: out.Reasons}
	log := s.logger.With("service", sc.Service, "from", out.Current, "to", to, "reasons", out.Reasons)
	switch {
	case sc.Apply.DryRun:
		act.Result = ResultDryRun
		log.Info("dry run: would scale service")
	default:
		if err := s.actuator.Scale(ctx, out.Name, to); err != nil {
			act.Result, act.Error = ResultFailed, err.Error()
			log.Warn("scaling service failed", "err", err)
		} else {
			act.Result = ResultApplied
			log.Info("scaled service")
			st.hist.RecordScale(out.Current, to, now)
			st.current = to
		}
	}
	st.lastAction = now
	if err := s.audit.record(ctx, act); err != nil {
		log.Warn("audit trail", "err", err)
	}
	out.Apply.Action = act
	s.metrics.action(sc.Service, out.Stack, act.Result)
}

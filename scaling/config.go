package scaling

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/promql/parser"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Config is the scaling section.
type Config struct {
	// RateWindow is the range of rate() over CPU counters: at least two
	// collection intervals.
	RateWindow config.Duration `yaml:"rate_window"`
	// Tolerance is the dead band around the target (the HPA's 0.1).
	Tolerance float64 `yaml:"tolerance"`
	// RightSizing recommends limits from usage history.
	RightSizing RightSizingConfig `yaml:"right_sizing"`
	// Services are the services to recommend replicas for.
	Services []ServiceConfig `yaml:"services"`
}

// RightSizingConfig is scaling.right_sizing.
type RightSizingConfig struct {
	// Window is the history looked at (7d).
	Window config.Duration `yaml:"window"`
	// Quantile of usage over the window (0.95).
	Quantile float64 `yaml:"quantile"`
	// Step is the resolution of CPU history: the quantile is taken over
	// rate() averages of this length (5m).
	Step config.Duration `yaml:"step"`
	// HeadroomPercent is added on top of the quantile (20).
	HeadroomPercent float64 `yaml:"headroom_percent"`
	// Interval is how often the (costly) history queries run again (1h).
	Interval config.Duration `yaml:"interval"`
}

// ServiceConfig is one entry of scaling.services.
type ServiceConfig struct {
	// Service is a Swarm service name, or project/service for Compose.
	Service     string         `yaml:"service"`
	MinReplicas int            `yaml:"min_replicas"`
	MaxReplicas int            `yaml:"max_replicas"`
	Metrics     []MetricConfig `yaml:"metrics"`
	// Behavior is the HPA's behavior; absent parts take the HPA's defaults.
	Behavior *BehaviorConfig `yaml:"behavior"`
	Apply    ApplyConfig     `yaml:"apply"`
}

// MetricConfig is one of {cpu: 70}, {memory: 80} or {expr: "...", target: N}.
type MetricConfig struct {
	// CPU is the target CPU usage in percent of the limit.
	CPU *float64 `yaml:"cpu,omitempty"`
	// Memory is the target memory working set in percent of the limit.
	Memory *float64 `yaml:"memory,omitempty"`
	// Expr is a PromQL expression giving one sample per replica; Target is
	// the desired average value per replica.
	Expr   string   `yaml:"expr,omitempty"`
	Target *float64 `yaml:"target,omitempty"`
	// Name names an expression in reasons (default: the expression).
	Name string `yaml:"name,omitempty"`
}

// ApplyConfig is a service's apply mode (Swarm only).
type ApplyConfig struct {
	// Enabled lets vigie scale the service itself. Off by default.
	Enabled bool `yaml:"enabled"`
	// DryRun logs and audits what would be done without doing it.
	DryRun bool `yaml:"dry_run"`
	// Cooldown is the least time between two scalings of the service (3m when unset).
	Cooldown *config.Duration `yaml:"cooldown,omitempty"`
	// MaxStep bounds one scaling's change in replicas (0: no bound).
	MaxStep int `yaml:"max_step"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		RateWindow: config.Duration(time.Minute),
		Tolerance:  DefaultTolerance,
		RightSizing: RightSizingConfig{
			Window:          config.Duration(7 * 24 * time.Hour),
			Quantile:        0.95,
			Step:            config.Duration(5 * time.Minute),
			HeadroomPercent: 20,
			Interval:        config.Duration(time.Hour),
		},
	}
}

// DefaultCooldown is apply.cooldown when unset.
const DefaultCooldown = 3 * time.Minute

func (a ApplyConfig) cooldown() time.Duration {
	if a.Cooldown == nil {
		return DefaultCooldown
	}
	return a.Cooldown.D()
}

// IsCompose tells whether the service is named project/service.
func (s ServiceConfig) IsCompose() bool { return strings.Contains(s.Service, "/") }

// Validate checks the section without touching the engine or the TSDB.
func (c *Config) Validate() error {
	var errs []error
	if c.RateWindow <= 0 {
		errs = append(errs, config.Errorf("rate_window", "must be positive"))
	}
	if c.Tolerance < 0 || c.Tolerance >= 1 {
		errs = append(errs, config.Errorf("tolerance", "must be in [0, 1)"))
	}
	rs := c.RightSizing
	if rs.Window <= 0 {
		errs = append(errs, config.Errorf("right_sizing.window", "must be positive"))
	}
	if rs.Quantile <= 0 || rs.Quantile > 1 {
		errs = append(errs, config.Errorf("right_sizing.quantile", "must be in (0, 1]"))
	}
	if rs.Step <= 0 || rs.Step > rs.Window {
		errs = append(errs, config.Errorf("right_sizing.step", "must be positive and at most the window"))
	}
	if rs.HeadroomPercent < 0 {
		errs = append(errs, config.Errorf("right_sizing.headroom_percent", "must not be negative"))
	}
	if rs.Interval <= 0 {
		errs = append(errs, config.Errorf("right_sizing.interval", "must be positive"))
	}
	seen := map[string]int{}
	for i, s := range c.Services {
		p := fmt.Sprintf("services[%d]", i)
		if j, dup := seen[s.Service]; dup && s.Service != "" {
			errs = append(errs, config.Errorf(p+".service", "%q is already listed at services[%d]", s.Service, j))
		}
		seen[s.Service] = i
		if err := s.Validate(); err != nil {
			errs = append(errs, config.Prefix(p, err))
		}
	}
	return errors.Join(errs...)
}

// Validate checks one service.
func (s *ServiceConfig) Validate() error {
	var errs []error
	if s.Service == "" {
		errs = append(errs, config.Errorf("service", "must not be empty"))
	} else if p, svc, ok := strings.Cut(s.Service, "/"); ok && (p == "" || svc == "" || strings.Contains(svc, "/")) {
		errs = append(errs, config.Errorf("service", "invalid Compose service %q: expected project/service", s.Service))
	}
	if s.MinReplicas < 1 {
		errs = append(errs, config.Errorf("min_replicas", "must be at least 1"))
	}
	if s.MaxReplicas < s.MinReplicas {
		errs = append(errs, config.Errorf("max_replicas", "%d is below min_replicas %d", s.MaxReplicas, s.MinReplicas))
	}
	if len(s.Metrics) == 0 {
		errs = append(errs, config.Errorf("metrics", "at least one metric is needed: {cpu: 70}, {memory: 80} or {expr: ..., target: N}"))
	}
	for i, m := range s.Metrics {
		if err := m.Validate(); err != nil {
			errs = append(errs, config.Prefix(fmt.Sprintf("metrics[%d]", i), err))
		}
	}
	if s.Behavior != nil {
		if err := s.Behavior.Validate(); err != nil {
			errs = append(errs, config.Prefix("behavior", err))
		}
	}
	if s.Apply.Cooldown != nil && *s.Apply.Cooldown < 0 {
		errs = append(errs, config.Errorf("apply.cooldown", "must not be negative"))
	}
	if s.Apply.MaxStep < 0 {
		errs = append(errs, config.Errorf("apply.max_step", "must not be negative"))
	}
	if s.Apply.Enabled && s.IsCompose() {
		errs = append(errs, config.Errorf("apply.enabled", "apply works for Swarm services only: scaling a Compose service through the Engine API would bypass Compose (its recommendation prints the docker compose command)"))
	}
	return errors.Join(errs...)
}

// Validate checks one metric.
func (m MetricConfig) Validate() error {
	set := 0
	for _, b := range []bool{m.CPU != nil, m.Memory != nil, m.Expr != ""} {
		if b {
			set++
		}
	}
	if set != 1 {
		return config.Errorf("", "set exactly one of cpu, memory or expr")
	}
	var errs []error
	for _, u := range []struct {
		name string
		v    *float64
	}{{"cpu", m.CPU}, {"memory", m.Memory}} {
		if u.v != nil && (*u.v <= 0 || *u.v > 100) {
			errs = append(errs, config.Errorf(u.name, "target %g%% of the limit must be above 0 and at most 100", *u.v))
		}
	}
	if (m.CPU != nil || m.Memory != nil) && m.Target != nil {
		errs = append(errs, config.Errorf("target", "only for expr: cpu and memory carry their target"))
	}
	if m.Expr != "" {
		if _, err := parser.NewParser(parser.Options{}).ParseExpr(m.Expr); err != nil {
			errs = append(errs, config.Errorf("expr", "invalid PromQL: %v", err))
		}
		if m.Target == nil || *m.Target <= 0 {
			errs = append(errs, config.Errorf("target", "expr needs a positive target (the desired value per replica)"))
		}
	}
	return errors.Join(errs...)
}

// BehaviorConfig is the HPA's behavior, in its own camelCase keys
// (scaleUp, stabilizationWindowSeconds, selectPolicy, periodSeconds) or in
// snake_case (scale_up, stabilization_window_seconds, select_policy,
// period_seconds).
type BehaviorConfig struct {
	ScaleUp   *RulesConfig `yaml:"scale_up,omitempty"`
	ScaleDown *RulesConfig `yaml:"scale_down,omitempty"`
}

// RulesConfig is HPAScalingRules.
type RulesConfig struct {
	StabilizationWindowSeconds *int           `yaml:"stabilization_window_seconds,omitempty"`
	SelectPolicy               string         `yaml:"select_policy,omitempty"`
	Policies                   []PolicyConfig `yaml:"policies,omitempty"`
}

// PolicyConfig is HPAScalingPolicy.
type PolicyConfig struct {
	Type          string `yaml:"type"`
	Value         int    `yaml:"value"`
	PeriodSeconds int    `yaml:"period_seconds"`
}

// UnmarshalYAML accepts either spelling of each key, strictly.
func (b *BehaviorConfig) UnmarshalYAML(n *yaml.Node) error {
	return decodeFields(n, map[string]func(*yaml.Node) error{
		"scale_up":   func(v *yaml.Node) error { b.ScaleUp = &RulesConfig{}; return v.Decode(b.ScaleUp) },
		"scale_down": func(v *yaml.Node) error { b.ScaleDown = &RulesConfig{}; return v.Decode(b.ScaleDown) },
	})
}

// UnmarshalYAML accepts either spelling of each key, strictly.
func (r *RulesConfig) UnmarshalYAML(n *yaml.Node) error {
	return decodeFields(n, map[string]func(*yaml.Node) error{
		"stabilization_window_seconds": func(v *yaml.Node) error {
			r.StabilizationWindowSeconds = new(int)
			return v.Decode(r.StabilizationWindowSeconds)
		},
		"select_policy": func(v *yaml.Node) error { return v.Decode(&r.SelectPolicy) },
		"policies":      func(v *yaml.Node) error { return v.Decode(&r.Policies) },
	})
}

// UnmarshalYAML accepts either spelling of each key, strictly.
func (p *PolicyConfig) UnmarshalYAML(n *yaml.Node) error {
	return decodeFields(n, map[string]func(*yaml.Node) error{
		"type":           func(v *yaml.Node) error { return v.Decode(&p.Type) },
		"value":          func(v *yaml.Node) error { return v.Decode(&p.Value) },
		"period_seconds": func(v *yaml.Node) error { return v.Decode(&p.PeriodSeconds) },
	})
}

// decodeFields decodes a mapping whose keys may be snake_case or
// camelCase; an unknown key is an error at its line (yaml.v3's Node.Decode
// does not check known fields, so this does).
func decodeFields(n *yaml.Node, fields map[string]func(*yaml.Node) error) error {
	if n.Kind != yaml.MappingNode {
		return config.NodeError(n, "expected a mapping")
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		f, ok := fields[snake(k.Value)]
		if !ok {
			errs = append(errs, config.NodeError(k, fmt.Sprintf("unknown field %q", k.Value)))
			continue
		}
		if err := f(v); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// snake turns scaleUp into scale_up.
func snake(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Validate checks the behavior against the HPA's own bounds.
func (b *BehaviorConfig) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		r    *RulesConfig
	}{{"scale_up", b.ScaleUp}, {"scale_down", b.ScaleDown}} {
		if d.r == nil {
			continue
		}
		if w := d.r.StabilizationWindowSeconds; w != nil && (*w < 0 || *w > 3600) {
			errs = append(errs, config.Errorf(d.name+".stabilization_window_seconds", "%d must be between 0 and 3600", *w))
		}
		switch SelectPolicy(d.r.SelectPolicy) {
		case "", SelectMax, SelectMin, SelectDisabled:
		default:
			errs = append(errs, config.Errorf(d.name+".select_policy", "invalid value %q: expected Max, Min or Disabled", d.r.SelectPolicy))
		}
		for i, p := range d.r.Policies {
			path := fmt.Sprintf("%s.policies[%d]", d.name, i)
			if PolicyType(p.Type) != PolicyPods && PolicyType(p.Type) != PolicyPercent {
				errs = append(errs, config.Errorf(path+".type", "invalid value %q: expected Pods or Percent", p.Type))
			}
			if p.Value <= 0 {
				errs = append(errs, config.Errorf(path+".value", "must be positive"))
			}
			if p.PeriodSeconds <= 0 || p.PeriodSeconds > 1800 {
				errs = append(errs, config.Errorf(path+".period_seconds", "%d must be between 1 and 1800", p.PeriodSeconds))
			}
		}
	}
	return errors.Join(errs...)
}

// behavior turns the configuration into the algorithm's Behavior, taking
// the HPA's defaults for what is not set.
func (s ServiceConfig) behavior() Behavior {
	b := DefaultBehavior()
	if s.Behavior == nil {
		return b
	}
	merge := func(dst *Rules, r *RulesConfig) {
		if r == nil {
			return
		}
		if r.StabilizationWindowSeconds != nil {
			dst.StabilizationWindow = time.Duration(*r.StabilizationWindowSeconds) * time.Second
		}
		if r.SelectPolicy != "" {
			dst.SelectPolicy = SelectPolicy(r.SelectPolicy)
		}
		if len(r.Policies) > 0 {
			dst.Policies = nil
			for _, p := range r.Policies {
				dst.Policies = append(dst.Policies, Policy{Type: PolicyType(p.Type), Value: p.Value, Period: time.Duration(p.PeriodSeconds) * time.Second})
			}
		}
	}
	merge(&b.ScaleUp, s.Behavior.ScaleUp)
	merge(&b.ScaleDown, s.Behavior.ScaleDown)
	return b
}

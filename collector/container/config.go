package container

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/config"
	"go.yaml.in/yaml/v3"
)

// Enabled is collect.docker.enabled: auto, true or false.
type Enabled string

const (
	// EnabledAuto collects when a Docker engine answers on Host; until one
	// has answered the collector reports nothing, and is not failing.
	EnabledAuto Enabled = "auto"
	// EnabledTrue collects, and reports failure when the engine does not answer.
	EnabledTrue Enabled = "true"
	// EnabledFalse switches the collector off.
	EnabledFalse Enabled = "false"
)

// UnmarshalYAML accepts a boolean or the word auto.
func (e *Enabled) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return config.NodeError(n, "expected auto, true or false")
	}
	switch strings.ToLower(n.Value) {
	case "auto":
		*e = EnabledAuto
	case "true", "yes", "on":
		*e = EnabledTrue
	case "false", "no", "off":
		*e = EnabledFalse
	default:
		return config.NodeError(n, fmt.Sprintf("invalid value %q: expected auto, true or false", n.Value))
	}
	return nil
}

// Config is the collect.docker section.
type Config struct {
	// Enabled is auto (the default: on when the engine answers), true or false.
	Enabled Enabled `yaml:"enabled"`
	// Host is the engine's address: unix:///var/run/docker.sock, tcp://host:2375.
	Host string `yaml:"host"`
	// Timeout bounds one gather (every API call in it).
	Timeout config.Duration `yaml:"timeout"`
	// Concurrency is how many containers are inspected at once.
	Concurrency int `yaml:"concurrency"`

	// IncludeNames and ExcludeNames are regular expressions (RE2, anchored at
	// both ends as in Prometheus) matched against the container's name
	// without its leading slash.
	IncludeNames []string `yaml:"include_names"`
	ExcludeNames []string `yaml:"exclude_names"`
	// IncludeLabels and ExcludeLabels are label selectors as `docker ps
	// --filter label=` takes them: "key" (the label is set) or "key=value".
	IncludeLabels []string `yaml:"include_labels"`
	ExcludeLabels []string `yaml:"exclude_labels"`

	// ExpectedReplicas declares how many containers each Compose service
	// should run, keyed "project/service". A service not listed expects as
	// many containers as its project created.
	ExpectedReplicas map[string]int `yaml:"expected_replicas"`

	// ContainerLabels are the Docker label keys reported as
	// container_label_<key> on every per-container series, as cAdvisor's
	// --whitelisted_container_labels; ["*"] reports every label, as
	// cAdvisor's --store_container_labels. Empty (the default): none.
	ContainerLabels []string `yaml:"container_labels"`
	// FilesystemUsage reports container_fs_usage_bytes, the size of each
	// container's writable layer; the engine walks the layer to tell it,
	// so it is off by default.
	FilesystemUsage bool `yaml:"filesystem_usage"`
}

// DefaultConfig returns the defaults: auto-detect the engine on the local socket.
func DefaultConfig() Config {
	return Config{
		Enabled:     EnabledAuto,
		Host:        "unix:///var/run/docker.sock",
		Timeout:     config.Duration(10 * time.Second),
		Concurrency: 8,
	}
}

// Validate checks the section without touching the engine.
func (c *Config) Validate() error {
	var errs []error
	switch c.Enabled {
	case EnabledAuto, EnabledTrue, EnabledFalse:
	default:
		errs = append(errs, config.Errorf("enabled", "invalid value %q: expected auto, true or false", c.Enabled))
	}
	if c.Host == "" {
		errs = append(errs, config.Errorf("host", "must not be empty"))
	} else if !strings.HasPrefix(c.Host, "unix://") && !strings.HasPrefix(c.Host, "tcp://") &&
		!strings.HasPrefix(c.Host, "http://") && !strings.HasPrefix(c.Host, "https://") {
		errs = append(errs, config.Errorf("host", "invalid address %q: expected unix:///path or tcp://host:port", c.Host))
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Errorf("timeout", "must be positive"))
	}
	if c.Concurrency < 1 {
		errs = append(errs, config.Errorf("concurrency", "must be at least 1"))
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"include_names", c.IncludeNames}, {"exclude_names", c.ExcludeNames}} {
		for i, re := range f.list {
			if _, err := compileAnchored(re); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s[%d]", f.name, i), "invalid regular expression %q: %v", re, err))
			}
		}
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"include_labels", c.IncludeLabels}, {"exclude_labels", c.ExcludeLabels}} {
		for i, sel := range f.list {
			if k, _, _ := strings.Cut(sel, "="); strings.TrimSpace(k) == "" {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s[%d]", f.name, i), "invalid label selector %q: expected key or key=value", sel))
			}
		}
	}
	for i, k := range c.ContainerLabels {
		if strings.TrimSpace(k) == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("container_labels[%d]", i), "empty label key"))
		}
	}
	keys := make([]string, 0, len(c.ExpectedReplicas))
	for k := range c.ExpectedReplicas {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, s, ok := strings.Cut(k, "/")
		if !ok || p == "" || s == "" || strings.Contains(s, "/") {
			errs = append(errs, config.Errorf("expected_replicas."+k, "invalid key %q: expected project/service", k))
		}
		if c.ExpectedReplicas[k] < 0 {
			errs = append(errs, config.Errorf("expected_replicas."+k, "must not be negative"))
		}
	}
	return errors.Join(errs...)
}

func compileAnchored(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

// filter decides which containers are collected.
type filter struct {
	includeNames, excludeNames   []*regexp.Regexp
	includeLabels, excludeLabels []labelSelector
}

type labelSelector struct {
	key, value string
	anyValue   bool
}

func (s labelSelector) match(labels map[string]string) bool {
	v, ok := labels[s.key]
	return ok && (s.anyValue || v == s.value)
}

func newFilter(c Config) (*filter, error) {
	f := &filter{}
	for _, re := range c.IncludeNames {
		r, err := compileAnchored(re)
		if err != nil {
			return nil, err
		}
		f.includeNames = append(f.includeNames, r)
	}
	for _, re := range c.ExcludeNames {
		r, err := compileAnchored(re)
		if err != nil {
			return nil, err
		}
		f.excludeNames = append(f.excludeNames, r)
	}
	parse := func(sels []string) []labelSelector {
		var out []labelSelector
		for _, s := range sels {
			k, v, hasValue := strings.Cut(s, "=")
			out = append(out, labelSelector{key: k, value: v, anyValue: !hasValue})
		}
		return out
	}
	f.includeLabels = parse(c.IncludeLabels)
	f.excludeLabels = parse(c.ExcludeLabels)
	return f, nil
}

// keep reports whether a container is collected: it matches an include rule
// (or there is none) and no exclude rule.
func (f *filter) keep(name string, labels map[string]string) bool {
	for _, r := range f.excludeNames {
		if r.MatchString(name) {
			return false
		}
	}
	for _, s := range f.excludeLabels {
		if s.match(labels) {
			return false
		}
	}
	if len(f.includeNames) == 0 && len(f.includeLabels) == 0 {
		return true
	}
	for _, r := range f.includeNames {
		if r.MatchString(name) {
			return true
		}
	}
	for _, s := range f.includeLabels {
		if s.match(labels) {
			return true
		}
	}
	return false
}

package uptime

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/uptime/discovery"
	"github.com/vigie-dev/vigie/uptime/heartbeat"
	"github.com/vigie-dev/vigie/uptime/probe"
)

// Config is the uptime section: the probes, their history and the
// discovery of domains; and, inline, the heartbeats and file checks
// (uptime.heartbeats, uptime.files) that package heartbeat runs.
type Config struct {
	Probes    []probe.Config   `yaml:"probes,omitempty"`
	Retention RetentionConfig  `yaml:"retention,omitempty"`
	Discovery discovery.Config `yaml:"discovery,omitempty"`
	Heartbeat heartbeat.Config `yaml:",inline"`
}

// RetentionConfig bounds the history kept in the state database. A zero
// value takes the default.
type RetentionConfig struct {
	// Checks is how long every check result is kept (default 30d).
	Checks config.Duration `yaml:"checks,omitempty"`
	// Daily is how long the per-day aggregates are kept (default 400d);
	// the 90-day bars and the 30d/90d uptimes come from them.
	Daily config.Duration `yaml:"daily,omitempty"`
}

// Defaults of the retention.
const (
	DefaultChecksRetention = 30 * 24 * time.Hour
	DefaultDailyRetention  = 400 * 24 * time.Hour
)

// DefaultConfig is no probe, the default retention, and discovery off.
func DefaultConfig() Config {
	return Config{Retention: RetentionConfig{Checks: config.Duration(DefaultChecksRetention), Daily: config.Duration(DefaultDailyRetention)}}
}

// withDefaults fills zero values (probes included).
func (c Config) withDefaults() Config {
	if c.Retention.Checks == 0 {
		c.Retention.Checks = config.Duration(DefaultChecksRetention)
	}
	if c.Retention.Daily == 0 {
		c.Retention.Daily = config.Duration(DefaultDailyRetention)
	}
	probes := make([]probe.Config, len(c.Probes))
	for i, p := range c.Probes {
		probes[i] = p.WithDefaults()
	}
	c.Probes = probes
	return c
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// reservedLabels are set by the probe itself.
var reservedLabels = map[string]bool{"instance": true, "job": true, "phase": true, "version": true, "cipher": true,
	"fingerprint_sha256": true, "subject": true, "issuer": true, "subjectalternative": true, "serialnumber": true}

// Validate checks the section without touching the network or files.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	seen := map[string]int{}
	for i, p := range c.Probes {
		path := fmt.Sprintf("probes[%d]", i)
		errs = append(errs, config.Prefix(path, p.Validate()))
		if j, dup := seen[p.Name]; dup && p.Name != "" {
			errs = append(errs, config.Errorf(path+".name", "duplicate probe name %q (also probes[%d])", p.Name, j))
		}
		seen[p.Name] = i
		for k := range p.Labels {
			if !labelNameRE.MatchString(k) || reservedLabels[k] {
				errs = append(errs, config.Errorf(path+".labels."+k, "%q is not a label name a probe may set", k))
			}
		}
	}
	if c.Retention.Checks < config.Duration(24*time.Hour) {
		errs = append(errs, config.Errorf("retention.checks", "must be at least 1d (the 24h uptime is computed from checks)"))
	}
	if c.Retention.Daily < config.Duration(90*24*time.Hour) || c.Retention.Daily < c.Retention.Checks {
		errs = append(errs, config.Errorf("retention.daily", "must be at least 90d and at least retention.checks"))
	}
	errs = append(errs, config.Prefix("discovery", c.Discovery.Validate()))
	errs = append(errs, c.Heartbeat.Validate())
	return errors.Join(errs...)
}

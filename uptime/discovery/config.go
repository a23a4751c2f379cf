package discovery

import (
	"errors"

	"github.com/vigie-dev/vigie/config"
)

// Config is uptime.discovery: probe every domain of the Traefik routers of
// the engine's containers and Swarm services. The probe settings apply to
// every discovered probe (container labels override path and status).
type Config struct {
	Enabled bool `yaml:"enabled,omitempty"`
	// Scheme of the discovered URLs (default https).
	Scheme             string          `yaml:"scheme,omitempty"`
	Interval           config.Duration `yaml:"interval,omitempty"`
	Timeout            config.Duration `yaml:"timeout,omitempty"`
	Retries            int             `yaml:"retries,omitempty"`
	FailuresBeforeDown int             `yaml:"failures_before_down,omitempty"`
	// Group is the job label of discovered probes (default "uptime").
	Group string `yaml:"group,omitempty"`
	// Status puts every discovered probe on the status page (under the domain's name).
	Status bool `yaml:"status,omitempty"`
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	if c.Scheme != "" && c.Scheme != "http" && c.Scheme != "https" {
		errs = append(errs, config.Errorf("scheme", "must be http or https"))
	}
	if c.Interval < 0 || c.Timeout < 0 || (c.Interval > 0 && c.Timeout > c.Interval) {
		errs = append(errs, config.Errorf("timeout", "interval and timeout must be positive, the timeout at most the interval"))
	}
	if c.Retries < 0 || c.Retries > 10 {
		errs = append(errs, config.Errorf("retries", "must be between 0 and 10"))
	}
	if c.FailuresBeforeDown < 0 {
		errs = append(errs, config.Errorf("failures_before_down", "must not be negative"))
	}
	return errors.Join(errs...)
}

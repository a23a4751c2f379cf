package rules

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// Config is the rules section of the configuration.
type Config struct {
	// EvaluationInterval is how often rule groups without their own
	// interval are evaluated (default 15s, at least 1s).
	EvaluationInterval config.Duration `yaml:"evaluation_interval"`
	// Files are globs of Prometheus rule files, loaded after the built-in pack.
	Files []string `yaml:"files"`
	// Builtin switches the embedded rule pack and tunes its rules.
	Builtin BuiltinConfig `yaml:"builtin"`
	// HistoryRetention is how long resolved alerts are kept in the alert
	// history (default 30d).
	HistoryRetention config.Duration `yaml:"history_retention"`
	// ResendDelay is how often a still-firing alert is handed to the
	// notification layer again (default 1m, Prometheus's --rules.alert.resend-delay).
	ResendDelay config.Duration `yaml:"resend_delay"`
	// OutageTolerance is how long vigie may have been down for the `for`
	// clock of pending alerts to be restored from ALERTS_FOR_STATE (default 1h).
	OutageTolerance config.Duration `yaml:"outage_tolerance"`
	// ForGracePeriod is the least time an alert restored after a restart
	// waits before firing (default 0s: a restored clock simply continues).
	ForGracePeriod config.Duration `yaml:"for_grace_period"`
}

// BuiltinConfig tunes the embedded rule pack.
type BuiltinConfig struct {
	// Enabled loads the pack (default true).
	Enabled bool `yaml:"enabled"`
	// Disabled names built-in alerts that are not loaded.
	Disabled []string `yaml:"disabled"`
	// Overrides change a built-in alert's threshold or `for` duration, by alert name.
	Overrides map[string]Override `yaml:"overrides"`
}

// Override changes one built-in alert.
type Override struct {
	// Threshold replaces the number the alert's expression compares against.
	Threshold *float64 `yaml:"threshold"`
	// For replaces the alert's `for` duration.
	For *config.Duration `yaml:"for"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		EvaluationInterval: config.Duration(15 * time.Second),
		Builtin:            BuiltinConfig{Enabled: true},
		HistoryRetention:   config.Duration(30 * 24 * time.Hour),
		ResendDelay:        config.Duration(time.Minute),
		OutageTolerance:    config.Duration(time.Hour),
	}
}

// Validate checks the section; it reads only the configuration and the
// embedded pack.
func (c Config) Validate() error {
	var errs []error
	if c.EvaluationInterval.D() < time.Second {
		errs = append(errs, config.Errorf("evaluation_interval", "must be at least 1s, got %s", c.EvaluationInterval))
	}
	for i, f := range c.Files {
		if f == "" {
			errs = append(errs, config.Errorf(fmt.Sprintf("files[%d]", i), "must not be empty"))
			continue
		}
		if _, err := filepath.Match(f, ""); err != nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("files[%d]", i), "invalid glob %q: %v", f, err))
		}
	}
	if c.HistoryRetention.D() < time.Hour {
		errs = append(errs, config.Errorf("history_retention", "must be at least 1h, got %s", c.HistoryRetention))
	}
	if c.ResendDelay.D() < 0 {
		errs = append(errs, config.Errorf("resend_delay", "must not be negative"))
	}
	if c.OutageTolerance.D() < 0 {
		errs = append(errs, config.Errorf("outage_tolerance", "must not be negative"))
	}
	if c.ForGracePeriod.D() < 0 {
		errs = append(errs, config.Errorf("for_grace_period", "must not be negative"))
	}
	errs = append(errs, c.Builtin.validate()...)
	return errors.Join(errs...)
}

func (b BuiltinConfig) validate() []error {
	pack := builtinRules()
	var errs []error
	for i, name := range b.Disabled {
		if _, ok := pack[name]; !ok {
			errs = append(errs, config.Errorf(fmt.Sprintf("builtin.disabled[%d]", i), "unknown built-in rule %q (known: %s)", name, knownNames(pack)))
		}
	}
	names := make([]string, 0, len(b.Overrides))
	for name := range b.Overrides {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		o := b.Overrides[name]
		path := "builtin.overrides." + name
		info, ok := pack[name]
		if !ok {
			errs = append(errs, config.Errorf(path, "unknown built-in rule %q (known: %s)", name, knownNames(pack)))
			continue
		}
		if o.Threshold != nil && !info.hasThreshold {
			errs = append(errs, config.Errorf(path+".threshold", "rule %s has no threshold to override (its expression compares no number)", name))
		}
		if o.For != nil && o.For.D() < 0 {
			errs = append(errs, config.Errorf(path+".for", "must not be negative"))
		}
	}
	return errs
}

package systemd

import (
	"errors"
	"regexp"

	"github.com/vigie-dev/vigie/config"
)

// node_exporter's defaults (--collector.systemd.unit-include, unit-exclude).
const (
	DefaultUnitInclude = `.+`
	DefaultUnitExclude = `.+\.(automount|device|mount|scope|slice)`
)

// Config is the collect.systemd section. The collector is opt-in.
type Config struct {
	// Enabled switches the collector on.
	Enabled bool `yaml:"enabled"`
	// UnitInclude and UnitExclude are regular expressions (RE2, anchored at
	// both ends) over unit names: a unit is reported when it matches the
	// include and not the exclude, and is loaded.
	UnitInclude string `yaml:"unit_include"`
	UnitExclude string `yaml:"unit_exclude"`
	// Private talks to systemd on its private socket
	// (/run/systemd/private, root only) instead of the system bus.
	Private bool `yaml:"private"`
	// StartTimeMetrics reports node_systemd_unit_start_time_seconds (one
	// D-Bus call per unit).
	StartTimeMetrics bool `yaml:"start_time_metrics"`
	// RestartsMetrics reports node_systemd_service_restart_total (one
	// D-Bus call per service).
	RestartsMetrics bool `yaml:"restarts_metrics"`
	// TaskMetrics reports node_systemd_unit_tasks_current and _max (two calls per service).
	TaskMetrics bool `yaml:"task_metrics"`
	// Timeout bounds one gather's D-Bus calls.
	Timeout config.Duration `yaml:"timeout"`
}

// DefaultConfig is off, with node_exporter's unit filters; start times and
// restarts on (they are what a "unit down / flapping" alert reads).
func DefaultConfig() Config {
	return Config{
		UnitInclude:      DefaultUnitInclude,
		UnitExclude:      DefaultUnitExclude,
		StartTimeMetrics: true,
		RestartsMetrics:  true,
		Timeout:          config.Duration(defaultTimeout),
	}
}

// Validate checks the section without touching D-Bus.
func (c Config) Validate() error {
	var errs []error
	if _, err := compileAnchored(c.UnitInclude); err != nil {
		errs = append(errs, config.Errorf("unit_include", "invalid regular expression %q: %v", c.UnitInclude, err))
	}
	if _, err := compileAnchored(c.UnitExclude); err != nil {
		errs = append(errs, config.Errorf("unit_exclude", "invalid regular expression %q: %v", c.UnitExclude, err))
	}
	if c.Timeout <= 0 {
		errs = append(errs, config.Errorf("timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

// compileAnchored compiles re anchored at both ends; an empty include
// matches nothing useful, so it is read as the default.
func compileAnchored(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

// Package status serves vigie's public status page: GET /status (HTML,
// no JavaScript), /status.json, SVG badges, an Atom feed of incidents,
// and the incidents API. Components are uptime probes, heartbeats and file
// checks that the configuration (or a probe's own `status:` block) puts on
// the page; their figures come from uptime.History and the heartbeats' and
// file checks' status history, never from the TSDB.
package status

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// Config is the root's `status_page:` section.
type Config struct {
	// Enabled defaults to true when any component is shown (listed here
	// or by a probe's `status:` block).
	Enabled     *bool               `yaml:"enabled,omitempty"`
	Title       string              `yaml:"title,omitempty"`
	Description string              `yaml:"description,omitempty"`
	Groups      []GroupConfig       `yaml:"groups,omitempty"`
	Maintenance []MaintenanceConfig `yaml:"maintenance,omitempty"`
	// AlertIncidents says which alerts on shown components open incidents.
	AlertIncidents AlertIncidentsConfig `yaml:"alert_incidents,omitempty"`
}

// AlertIncidentsConfig selects the alerts that open incidents by their
// severity label: a public page shows outages, not every warning (a
// certificate expiring in 14 days is not an incident).
type AlertIncidentsConfig struct {
	// Enabled defaults to true.
	Enabled *bool `yaml:"enabled,omitempty"`
	// Severities default to [critical]; "" matches alerts without a severity.
	// A critical alert opens a major incident, any other a minor one.
	Severities []string `yaml:"severities,omitempty"`
}

// DefaultAlertSeverities are the severities that open incidents by default.
var DefaultAlertSeverities = []string{"critical"}

// opens reports whether an alert with this severity opens an incident.
func (a AlertIncidentsConfig) opens(severity string) bool {
	if a.Enabled != nil && !*a.Enabled {
		return false
	}
	sev := a.Severities
	if len(sev) == 0 {
		sev = DefaultAlertSeverities
	}
	for _, s := range sev {
		if s == severity {
			return true
		}
	}
	return false
}

// GroupConfig is a titled list of components.
type GroupConfig struct {
	Name       string            `yaml:"name"`
	Components []ComponentConfig `yaml:"components"`
}

// ComponentConfig is one line of the page: a probe, a heartbeat or a
// file check (uptime.files).
type ComponentConfig struct {
	// Name is what the page shows; unique across groups.
	Name        string `yaml:"name"`
	Probe       string `yaml:"probe,omitempty"`
	Heartbeat   string `yaml:"heartbeat,omitempty"`
	File        string `yaml:"file,omitempty"`
	Description string `yaml:"description,omitempty"`
	// ShowURL shows the probe's URL or target (hidden by default: it is
	// often an internal name).
	ShowURL bool `yaml:"show_url,omitempty"`
}

// MaintenanceConfig is a scheduled maintenance window. It is shown on the
// page from 7 days before its start, and mutes the alerts of its
// components while it lasts.
type MaintenanceConfig struct {
	Name string `yaml:"name"`
	// Components are component names (or probe, heartbeat or file check names);
	// empty means every component.
	Components []string  `yaml:"components,omitempty"`
	Start      time.Time `yaml:"start"`
	End        time.Time `yaml:"end"`
	Message    string    `yaml:"message,omitempty"`
}

// DefaultTitle is the page's title when none is configured.
const DefaultTitle = "Status"

// DefaultConfig is an empty page, enabled once a component is shown.
func DefaultConfig() Config { return Config{} }

var refRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]+$`)

// Validate checks the section on its own; references to probes,
// heartbeats and file checks are checked by ValidateRefs, which the root calls with what
// the uptime section defines.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]string{}
	for i, g := range c.Groups {
		gp := fmt.Sprintf("groups[%d]", i)
		if strings.TrimSpace(g.Name) == "" {
			errs = append(errs, config.Errorf(gp+".name", "a group needs a name"))
		}
		if len(g.Components) == 0 {
			errs = append(errs, config.Errorf(gp+".components", "a group needs at least one component"))
		}
		for j, comp := range g.Components {
			p := fmt.Sprintf("%s.components[%d]", gp, j)
			errs = append(errs, config.Prefix(p, comp.validate()))
			if prev, dup := seen[comp.Name]; dup && comp.Name != "" {
				errs = append(errs, config.Errorf(p+".name", "duplicate component name %q (also %s)", comp.Name, prev))
			}
			seen[comp.Name] = p
		}
	}
	for i, m := range c.Maintenance {
		p := fmt.Sprintf("maintenance[%d]", i)
		if strings.TrimSpace(m.Name) == "" {
			errs = append(errs, config.Errorf(p+".name", "a maintenance needs a name"))
		}
		switch {
		case m.Start.IsZero():
			errs = append(errs, config.Errorf(p+".start", "a start time is required (RFC 3339, e.g. 2026-12-24T22:00:00Z)"))
		case m.End.IsZero():
			errs = append(errs, config.Errorf(p+".end", "an end time is required (RFC 3339)"))
		case !m.End.After(m.Start):
			errs = append(errs, config.Errorf(p+".end", "must be after start"))
		}
	}
	return errors.Join(errs...)
}

func (c ComponentConfig) validate() error {
	var errs []error
	if strings.TrimSpace(c.Name) == "" {
		errs = append(errs, config.Errorf("name", "a component needs a name"))
	}
	set := 0
	for _, ref := range []string{c.Probe, c.Heartbeat, c.File} {
		if ref != "" {
			set++
		}
	}
	switch {
	case set == 0:
		errs = append(errs, config.Errorf("probe", "set probe, heartbeat or file"))
	case set > 1 && c.File != "":
		errs = append(errs, config.Errorf("file", "set one of probe, heartbeat or file"))
	case set > 1:
		errs = append(errs, config.Errorf("heartbeat", "set one of probe, heartbeat or file"))
	case c.Probe != "" && !refRE.MatchString(c.Probe):
		errs = append(errs, config.Errorf("probe", "%q is not a probe name", c.Probe))
	case c.Heartbeat != "" && !refRE.MatchString(c.Heartbeat):
		errs = append(errs, config.Errorf("heartbeat", "%q is not a heartbeat name", c.Heartbeat))
	case c.File != "" && !refRE.MatchString(c.File):
		errs = append(errs, config.Errorf("file", "%q is not a file check name", c.File))
	}
	if c.ShowURL && c.Heartbeat != "" {
		errs = append(errs, config.Errorf("show_url", "a heartbeat has no URL to show"))
	}
	if c.ShowURL && c.File != "" {
		errs = append(errs, config.Errorf("show_url", "a file check has no URL to show"))
	}
	return errors.Join(errs...)
}

// ValidateRefs checks that every component names a probe, heartbeat or
// file check that exists, and that every maintenance names a component,
// probe, heartbeat or file check. The root passes lookups over the uptime
// section (static probes: discovered ones come and go, so they cannot be
// referenced).
func (c Config) ValidateRefs(knownProbe, knownHeartbeat, knownFile func(string) bool) error {
	var errs []error
	names := map[string]bool{}
	for i, g := range c.Groups {
		for j, comp := range g.Components {
			p := fmt.Sprintf("groups[%d].components[%d]", i, j)
			names[comp.Name] = true
			if comp.Probe != "" && !knownProbe(comp.Probe) {
				errs = append(errs, config.Errorf(p+".probe", "unknown probe %q (uptime.probes)", comp.Probe))
			}
			if comp.Heartbeat != "" && !knownHeartbeat(comp.Heartbeat) {
				errs = append(errs, config.Errorf(p+".heartbeat", "unknown heartbeat %q (uptime.heartbeats)", comp.Heartbeat))
			}
			if comp.File != "" && !knownFile(comp.File) {
				errs = append(errs, config.Errorf(p+".file", "unknown file check %q (uptime.files)", comp.File))
			}
		}
	}
	for i, m := range c.Maintenance {
		for j, n := range m.Components {
			if !names[n] && !knownProbe(n) && !knownHeartbeat(n) && !knownFile(n) {
				errs = append(errs, config.Errorf(fmt.Sprintf("maintenance[%d].components[%d]", i, j),
					"%q is neither a component of the page nor a probe, heartbeat or file check", n))
			}
		}
	}
	return errors.Join(errs...)
}

// Known returns a lookup over names, for ValidateRefs.
func Known(names ...string) func(string) bool {
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return func(s string) bool { return set[s] }
}

// enabled reports whether the page is served, given how many components it has.
func (c Config) enabled(components int) bool {
	if c.Enabled != nil {
		return *c.Enabled
	}
	return components > 0
}

func (c Config) title() string {
	if c.Title == "" {
		return DefaultTitle
	}
	return c.Title
}

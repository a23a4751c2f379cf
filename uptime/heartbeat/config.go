package heartbeat

import (
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/go-units"
	"github.com/robfig/cron/v3"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Config is what the uptime section holds for push monitors and file
// checks: the lead embeds its fields under `uptime:` (keys `heartbeats:`
// and `files:`).
type Config struct {
	Heartbeats []HeartbeatConfig `yaml:"heartbeats,omitempty"`
	Files      []FileConfig      `yaml:"files,omitempty"`
}

// HeartbeatConfig is one push monitor: a job that pings vigie when it runs.
type HeartbeatConfig struct {
	// Name identifies the heartbeat in metrics (name label), the API and
	// `vigie job run NAME`; unique, [A-Za-z0-9_.-]+.
	Name string `yaml:"name"`
	// Period is how often the job runs (exclusive with Schedule).
	Period config.Duration `yaml:"period,omitempty"`
	// Schedule is a cron expression (5 fields or @daily, @hourly…).
	Schedule string `yaml:"schedule,omitempty"`
	// Timezone is the IANA zone the schedule is read in (default UTC).
	Timezone string `yaml:"timezone,omitempty"`
	// Grace is how long after the due time a missing ping is tolerated.
	Grace config.Duration `yaml:"grace"`
	// MaxRuntime, when set, is how long a started job may run before it
	// is reported as running too long.
	MaxRuntime config.Duration `yaml:"max_runtime,omitempty"`
}

// FileConfig is one file freshness check (a backup directory).
type FileConfig struct {
	// Name is the name label of the vigie_file_* series; unique.
	Name string `yaml:"name"`
	// Path is a glob (filepath.Match syntax) read under the root path.
	Path string `yaml:"path"`
	// MaxAge is how old the newest matching file may be (0: not checked).
	MaxAge config.Duration `yaml:"max_age,omitempty"`
	// MinSize is the smallest acceptable size of the newest file (0: not checked).
	MinSize Size `yaml:"min_size,omitempty"`
}

// DefaultGrace is a heartbeat's grace when none is given.
const DefaultGrace = 5 * time.Minute

// DefaultConfig is no heartbeat and no file check.
func DefaultConfig() Config { return Config{} }

// UnmarshalYAML fills the defaults of omitted keys. Unknown keys are
// refused by the root decoder (KnownFields) through the plain type.
func (h *HeartbeatConfig) UnmarshalYAML(n *yaml.Node) error {
	type plain HeartbeatConfig
	p := plain{Grace: config.Duration(DefaultGrace)}
	if err := decodeStrict(n, &p, "heartbeat.HeartbeatConfig"); err != nil {
		return err
	}
	*h = HeartbeatConfig(p)
	return nil
}

// decodeStrict decodes a mapping, refusing unknown keys (a custom
// unmarshaler loses the decoder's KnownFields strictness).
func decodeStrict[T any](n *yaml.Node, v *T, typeName string) error {
	if n.Kind != yaml.MappingNode {
		return config.NodeError(n, "expected a mapping")
	}
	known := map[string]bool{}
	t := reflect.TypeFor[T]()
	for i := range t.NumField() {
		known[strings.Split(t.Field(i).Tag.Get("yaml"), ",")[0]] = true
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; !known[k.Value] {
			return config.NodeError(k, fmt.Sprintf("field %s not found in type %s", k.Value, typeName))
		}
	}
	return n.Decode(v)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// Validate checks both lists without touching files; paths in errors are
// relative to the uptime section ("heartbeats[0].schedule").
func (c Config) Validate() error {
	var errs []error
	seen := map[string]int{}
	for i, h := range c.Heartbeats {
		p := fmt.Sprintf("heartbeats[%d]", i)
		errs = append(errs, checkName(p, h.Name, seen)...)
		errs = append(errs, h.validate(p)...)
	}
	seen = map[string]int{}
	for i, f := range c.Files {
		p := fmt.Sprintf("files[%d]", i)
		errs = append(errs, checkName(p, f.Name, seen)...)
		if f.Path == "" {
			errs = append(errs, config.Errorf(p+".path", "required"))
		} else if _, err := filepath.Match(f.Path, ""); err != nil {
			errs = append(errs, config.Errorf(p+".path", "invalid glob %q: %v", f.Path, err))
		}
		if f.MaxAge < 0 {
			errs = append(errs, config.Errorf(p+".max_age", "must not be negative"))
		}
		if f.MinSize < 0 {
			errs = append(errs, config.Errorf(p+".min_size", "must not be negative"))
		}
	}
	return errors.Join(errs...)
}

func checkName(p, name string, seen map[string]int) []error {
	switch {
	case name == "":
		return []error{config.Errorf(p+".name", "required")}
	case !nameRE.MatchString(name):
		return []error{config.Errorf(p+".name", "%q: only letters, digits, '_', '.' and '-'", name)}
	case seen[name] > 0:
		return []error{config.Errorf(p+".name", "duplicate name %q (also [%d])", name, seen[name]-1)}
	}
	seen[name] = len(seen) + 1
	return nil
}

func (h HeartbeatConfig) validate(p string) []error {
	var errs []error
	switch {
	case h.Period == 0 && h.Schedule == "":
		errs = append(errs, config.Errorf(p, "period or schedule is required"))
	case h.Period != 0 && h.Schedule != "":
		errs = append(errs, config.Errorf(p+".schedule", "period and schedule are mutually exclusive"))
	case h.Period < 0:
		errs = append(errs, config.Errorf(p+".period", "must be positive"))
	case h.Schedule != "":
		if _, err := parseSchedule(h.Schedule); err != nil {
			errs = append(errs, config.Errorf(p+".schedule", "%v", err))
		}
	}
	if h.Timezone != "" {
		if h.Schedule == "" {
			errs = append(errs, config.Errorf(p+".timezone", "only applies to a schedule"))
		} else if _, err := time.LoadLocation(h.Timezone); err != nil {
			errs = append(errs, config.Errorf(p+".timezone", "unknown time zone %q", h.Timezone))
		}
	}
	if h.Grace < 0 {
		errs = append(errs, config.Errorf(p+".grace", "must not be negative"))
	}
	if h.MaxRuntime < 0 {
		errs = append(errs, config.Errorf(p+".max_runtime", "must not be negative"))
	}
	return errs
}

// parseSchedule reads a standard 5-field cron line or a descriptor
// (@daily). The time zone comes from the timezone key, not CRON_TZ=.
func parseSchedule(spec string) (cron.Schedule, error) {
	if strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=") {
		return nil, fmt.Errorf("set the time zone with the timezone key, not in the schedule")
	}
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("invalid cron schedule %q: %w", spec, err)
	}
	return s, nil
}

// Size is a byte count written as a number or with a unit: 1048576, 10MB
// (decimal), 10MiB (binary).
type Size int64

// UnmarshalYAML reads a size with go-units (decimal unless the unit has an i).
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return config.NodeError(n, "expected a size such as 1048576, 10MB or 10MiB")
	}
	if v, err := strconv.ParseInt(n.Value, 10, 64); err == nil {
		*s = Size(v)
		return nil
	}
	parse := units.FromHumanSize
	if strings.ContainsAny(n.Value, "iI") {
		parse = units.RAMInBytes
	}
	v, err := parse(n.Value)
	if err != nil {
		return config.NodeError(n, fmt.Sprintf("invalid size %q", n.Value))
	}
	*s = Size(v)
	return nil
}

// MarshalYAML writes the size as a number of bytes.
func (s Size) MarshalYAML() (any, error) { return int64(s), nil }

package notify

import (
	"bytes"
	"errors"
	"strings"
	"time"

	"github.com/prometheus/alertmanager/timeinterval"
	"go.yaml.in/yaml/v3"
)

// TimeInterval is a named set of recurring periods, as in Alertmanager's
// time_intervals: routes name it in mute_time_intervals (quiet during it) or
// active_time_intervals (quiet outside it).
type TimeInterval struct {
	Name          string     `yaml:"name"`
	TimeIntervals []TimeSpec `yaml:"time_intervals"`
}

// TimeSpec is one recurring period. Every field that is set must match;
// an empty field matches everything.
type TimeSpec struct {
	// Times are start/end times of day, "HH:MM", end exclusive.
	Times []TimeRange `yaml:"times,omitempty"`
	// Weekdays: "monday", "saturday:sunday".
	Weekdays []string `yaml:"weekdays,omitempty"`
	// DaysOfMonth: "1", "1:5", "-3:-1" (negative counts from the month's end).
	DaysOfMonth []string `yaml:"days_of_month,omitempty"`
	// Months: "1:3", "may", "october:december".
	Months []string `yaml:"months,omitempty"`
	// Years: "2026", "2026:2027".
	Years []string `yaml:"years,omitempty"`
	// Location is an IANA time zone name such as Europe/Paris (default UTC, "Local" for the host's).
	Location string `yaml:"location,omitempty"`
}

// TimeRange is a start and end time of day.
type TimeRange struct {
	StartTime string `yaml:"start_time"`
	EndTime   string `yaml:"end_time"`
}

// compiledInterval is a named time interval, compiled by Alertmanager's
// own timeinterval package (same YAML, same semantics: negative days of
// month, "monday:friday", end times exclusive, time zones).
type compiledInterval []timeinterval.TimeInterval

// compileTimeSpec compiles a spec with Alertmanager's timeinterval
// package, through the YAML it reads: its parsing lives in its
// UnmarshalYAML methods, whose errors carry no position. So vigie's config
// keeps the spec as strings (Validate locates errors at
// time_intervals[i].time_intervals[j]) and compiles it here.
func compileTimeSpec(s TimeSpec) (timeinterval.TimeInterval, error) {
	var ti timeinterval.TimeInterval
	b, err := yaml.Marshal(s)
	if err != nil {
		return ti, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&ti); err != nil {
		return ti, errors.New(strings.TrimPrefix(err.Error(), "yaml: unmarshal errors:\n  "))
	}
	return ti, nil
}

func (ci compiledInterval) contains(t time.Time) bool {
	for _, s := range ci {
		if s.ContainsTime(t) {
			return true
		}
	}
	return false
}

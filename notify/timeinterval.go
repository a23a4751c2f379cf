package notify

import (
	"fmt"
	"strconv"
	"strings"
	"time"
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

type intRange struct{ lo, hi int }

type compiledSpec struct {
	times    []intRange // minutes of day, [lo, hi)
	weekdays []intRange // 0 = Sunday
	days     []intRange
	months   []intRange
	years    []intRange
	loc      *time.Location
}

type compiledInterval []compiledSpec

var weekdayNames = map[string]int{"sunday": 0, "monday": 1, "tuesday": 2, "wednesday": 3, "thursday": 4, "friday": 5, "saturday": 6}

var monthNames = map[string]int{"january": 1, "february": 2, "march": 3, "april": 4, "may": 5, "june": 6, "july": 7,
	"august": 8, "september": 9, "october": 10, "november": 11, "december": 12}

func compileTimeSpec(s TimeSpec) (compiledSpec, error) {
	var c compiledSpec
	var err error
	for _, t := range s.Times {
		lo, err1 := parseClock(t.StartTime)
		hi, err2 := parseClock(t.EndTime)
		if err1 != nil {
			return c, fmt.Errorf("times: start_time: %w", err1)
		}
		if err2 != nil {
			return c, fmt.Errorf("times: end_time: %w", err2)
		}
		if hi <= lo {
			return c, fmt.Errorf("times: end_time %s must be after start_time %s", t.EndTime, t.StartTime)
		}
		c.times = append(c.times, intRange{lo, hi})
	}
	if c.weekdays, err = parseRanges(s.Weekdays, weekdayNames, 0, 6, false); err != nil {
		return c, fmt.Errorf("weekdays: %w", err)
	}
	if c.days, err = parseRanges(s.DaysOfMonth, nil, 1, 31, true); err != nil {
		return c, fmt.Errorf("days_of_month: %w", err)
	}
	if c.months, err = parseRanges(s.Months, monthNames, 1, 12, false); err != nil {
		return c, fmt.Errorf("months: %w", err)
	}
	if c.years, err = parseRanges(s.Years, nil, 1, 9999, false); err != nil {
		return c, fmt.Errorf("years: %w", err)
	}
	c.loc = time.UTC
	if s.Location != "" {
		if c.loc, err = time.LoadLocation(s.Location); err != nil {
			return c, fmt.Errorf("location: unknown time zone %q", s.Location)
		}
	}
	return c, nil
}

func parseClock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("invalid time of day %q, want HH:MM", s)
	}
	return hh*60 + mm, nil
}

func parseRanges(items []string, names map[string]int, min, max int, allowNeg bool) ([]intRange, error) {
	var out []intRange
	one := func(s string) (int, error) {
		s = strings.ToLower(strings.TrimSpace(s))
		if v, ok := names[s]; ok {
			return v, nil
		}
		v, err := strconv.Atoi(s)
		if err != nil {
			return 0, fmt.Errorf("invalid value %q", s)
		}
		if allowNeg && v < 0 && v >= -max {
			return v, nil
		}
		if v < min || v > max {
			return 0, fmt.Errorf("value %d out of range %d..%d", v, min, max)
		}
		return v, nil
	}
	for _, it := range items {
		a, b, isRange := strings.Cut(it, ":")
		lo, err := one(a)
		if err != nil {
			return nil, err
		}
		hi := lo
		if isRange {
			if hi, err = one(b); err != nil {
				return nil, err
			}
		}
		if (lo >= 0) == (hi >= 0) && hi < lo {
			return nil, fmt.Errorf("range %q ends before it starts", it)
		}
		out = append(out, intRange{lo, hi})
	}
	return out, nil
}

func inRanges(rs []intRange, v int) bool {
	if len(rs) == 0 {
		return true
	}
	for _, r := range rs {
		if v >= r.lo && v <= r.hi {
			return true
		}
	}
	return false
}

func (c compiledSpec) contains(t time.Time) bool {
	t = t.In(c.loc)
	if len(c.times) > 0 {
		m := t.Hour()*60 + t.Minute()
		ok := false
		for _, r := range c.times {
			if m >= r.lo && m < r.hi {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	if !inRanges(c.weekdays, int(t.Weekday())) || !inRanges(c.months, int(t.Month())) || !inRanges(c.years, t.Year()) {
		return false
	}
	if len(c.days) > 0 {
		last := time.Date(t.Year(), t.Month()+1, 0, 0, 0, 0, 0, c.loc).Day()
		ok := false
		for _, r := range c.days {
			lo, hi := r.lo, r.hi
			if lo < 0 {
				lo = last + lo + 1
			}
			if hi < 0 {
				hi = last + hi + 1
			}
			if t.Day() >= lo && t.Day() <= hi {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func (ci compiledInterval) contains(t time.Time) bool {
	for _, s := range ci {
		if s.contains(t) {
			return true
		}
	}
	return false
}

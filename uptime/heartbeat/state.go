package heartbeat

import (
	"time"

	"github.com/robfig/cron/v3"
)

// Kind is what a ping reports.
type Kind string

// Ping kinds. An exit-code ping is a success (0) or a failure (non-zero).
const (
	KindStart   Kind = "start"
	KindSuccess Kind = "success"
	KindFail    Kind = "fail"
)

// Status is a heartbeat's state at one instant.
type Status string

// Statuses, from evaluate.
const (
	StatusNew     Status = "new"     // never finished a run, not overdue yet
	StatusUp      Status = "up"      // last run succeeded, next not due yet
	StatusLate    Status = "late"    // past due, within grace
	StatusDown    Status = "down"    // past due plus grace: the job is missing
	StatusFailed  Status = "failed"  // last run failed (fail ping or non-zero exit)
	StatusRunning Status = "running" // started, not finished
	StatusOverrun Status = "overrun" // started, running longer than max_runtime
)

// ping is one recorded ping.
type ping struct {
	Kind     Kind
	At       time.Time
	ExitCode *int           // nil: not given
	Duration *time.Duration // nil: unknown
	Body     string         // tail of the job's output
}

// failed reports whether a finishing ping means the run failed.
func (p *ping) failed() bool {
	return p.Kind == KindFail || (p.ExitCode != nil && *p.ExitCode != 0)
}

// state is what a heartbeat remembers of its pings.
type state struct {
	created                          time.Time // first seen: the reference before any ping
	lastStart, lastSuccess, lastFail time.Time
	last                             *ping // last finishing ping (success or fail)
	started                          bool  // the last ping to arrive was a start
}

func (s *state) apply(p ping) {
	switch p.Kind {
	case KindStart:
		s.lastStart, s.started = p.At, true
		return
	case KindSuccess:
		s.lastSuccess = p.At
	case KindFail:
		s.lastFail = p.At
	}
	s.last, s.started = &p, false
}

func (s *state) lastFinish() time.Time {
	if s.lastFail.After(s.lastSuccess) {
		return s.lastFail
	}
	return s.lastSuccess
}

// running reports whether a start came after the last finish, by order
// of arrival (a start and a finish can share a millisecond).
func (s *state) running() bool { return s.started }

// timing is when a heartbeat's job is expected.
type timing struct {
	period     time.Duration
	sched      cron.Schedule // nil: period-based
	loc        *time.Location
	grace      time.Duration
	maxRuntime time.Duration
}

func newTiming(c HeartbeatConfig) (timing, error) {
	t := timing{period: c.Period.D(), grace: c.Grace.D(), maxRuntime: c.MaxRuntime.D(), loc: time.UTC}
	if c.Schedule == "" {
		return t, nil
	}
	s, err := parseSchedule(c.Schedule)
	if err != nil {
		return t, err
	}
	t.sched = s
	if c.Timezone != "" {
		if t.loc, err = time.LoadLocation(c.Timezone); err != nil {
			return t, err
		}
	}
	return t, nil
}

// next is the first time the job is due after ref; zero when never.
func (t timing) next(ref time.Time) time.Time {
	if t.sched == nil {
		return ref.Add(t.period)
	}
	return nextWall(t.sched, t.loc, ref)
}

// nextWall runs the schedule on the wall clock of loc, as cron does: the
// schedule is matched against local times written as UTC (a clock without
// DST), then the local time found is placed in loc. A time in the hour a
// spring change skips (02:30 in Europe/Paris) is due one hour later on the
// new clock (03:30); a time the autumn change repeats is due at its second
// occurrence. Either way the due time is never before cron ran the job.
// robfig/cron's own Next works in absolute time and skips the whole day
// when the time falls in the gap, hence this wrapper.
func nextWall(s cron.Schedule, loc *time.Location, ref time.Time) time.Time {
	r := ref.In(loc)
	wall := time.Date(r.Year(), r.Month(), r.Day(), r.Hour(), r.Minute(), r.Second(), r.Nanosecond(), time.UTC)
	for range 4 { // a repeated hour can map a wall time before ref: take the next
		w := s.Next(wall)
		if w.IsZero() {
			return time.Time{}
		}
		due := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), 0, loc)
		if due.After(ref) {
			return due
		}
		wall = w
	}
	return time.Time{}
}

// evaluation is a heartbeat's state at one instant.
type evaluation struct {
	Status   Status
	Due      time.Time // zero: never due (a schedule that never fires)
	Deadline time.Time // Due + grace
	Running  bool
	Failed   bool
}

// evaluate is the state machine: a pure function of the timing, the
// pings and now. A job is missing (down) when no ping showed it ran (a
// success, a failure, or a start while it runs) by its due time plus
// grace; a failed run is "failed", not "down", so that one problem raises
// one alert.
func evaluate(t timing, s *state, now time.Time) evaluation {
	running := s.running()
	ref := s.lastFinish()
	if running {
		ref = s.lastStart
	}
	if ref.IsZero() {
		ref = s.created
	}
	e := evaluation{Running: running, Failed: s.last != nil && s.last.failed()}
	if e.Due = t.next(ref); !e.Due.IsZero() {
		e.Deadline = e.Due.Add(t.grace)
	}
	overdue := !e.Due.IsZero() && now.After(e.Deadline)
	switch {
	case overdue:
		e.Status = StatusDown
	case running && t.maxRuntime > 0 && now.Sub(s.lastStart) > t.maxRuntime:
		e.Status = StatusOverrun
	case running:
		e.Status = StatusRunning
	case e.Failed:
		e.Status = StatusFailed
	case s.last == nil:
		e.Status = StatusNew
	case !e.Due.IsZero() && now.After(e.Due):
		e.Status = StatusLate
	default:
		e.Status = StatusUp
	}
	return e
}

// up is vigie_heartbeat_up: 0 when down, failed or overrun.
func (s Status) up() bool {
	return s != StatusDown && s != StatusFailed && s != StatusOverrun
}

package container

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Run follows the engine's event stream until ctx ends, counting exits and
// OOM kills per container so that those between two gathers are not lost.
// It reconnects with backoff (1 s doubling to 1 min), resuming from the last
// event it saw. It returns when ctx ends.
func (c *Collector) Run(ctx context.Context) {
	if c.cfg.Enabled == EnabledFalse {
		return
	}
	backoff := time.Second
	var since time.Time
	var lastLogged string
	for ctx.Err() == nil {
		start := c.now()
		last, err := c.follow(ctx, since)
		c.streamUp.Store(false)
		if ctx.Err() != nil {
			return
		}
		if !last.IsZero() {
			since = last
		} else if since.IsZero() {
			since = start
		}
		if c.now().Sub(start) > time.Minute {
			backoff = time.Second
		}
		if msg := err.Error(); msg != lastLogged {
			c.mu.Lock()
			quiet := c.idle()
			c.mu.Unlock()
			if !quiet {
				c.logger.Warn("docker event stream lost; reconnecting", "err", err, "retry_in", backoff)
			}
			lastLogged = msg
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Minute)
		if c.streamUp.Load() {
			lastLogged = ""
		}
	}
}

// follow reads events from since (or from now) until the stream breaks,
// returning the time of the last event handled.
func (c *Collector) follow(ctx context.Context, since time.Time) (time.Time, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	opts := client.EventsListOptions{
		Filters: make(client.Filters).Add("type", string(events.ContainerEventType)).
			Add("event", "die", "oom", "destroy", "start"),
	}
	if !since.IsZero() {
		opts.Since = fmt.Sprintf("%d.%09d", since.Unix(), since.Nanosecond())
	}
	res := c.cli.Events(ctx, opts)
	var last time.Time
	// The engine answers the request before sending any event: one that
	// failed has its error waiting already.
	select {
	case err := <-res.Err:
		return last, errOrEOF(err)
	default:
	}
	c.streamUp.Store(true)
	c.logger.Debug("following docker events", "since", opts.Since)
	seen := map[string]bool{} // events at exactly `since`, sent again on resume
	for {
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case err := <-res.Err:
			return last, errOrEOF(err)
		case m := <-res.Messages:
			t := time.Unix(0, m.TimeNano)
			if m.TimeNano == 0 {
				t = time.Unix(m.Time, 0)
			}
			key := m.Actor.ID + string(m.Action) + strconv.FormatInt(m.TimeNano, 10)
			if !since.IsZero() && !t.After(since) {
				if seen[key] || t.Before(since) {
					continue
				}
			}
			seen[key] = true
			if len(seen) > 1000 {
				seen = map[string]bool{}
			}
			c.handleEvent(m, t)
			last = t
		}
	}
}

func errOrEOF(err error) error {
	if err == nil {
		return errors.New("event stream closed")
	}
	return err
}

func (c *Collector) handleEvent(m events.Message, t time.Time) {
	id := m.Actor.ID
	if id == "" {
		return
	}
	attrs := m.Actor.Attributes
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.records[id]
	if r == nil {
		r = &record{}
		c.records[id] = r
	}
	if attrs["name"] != "" {
		r.labels = labelValues(id, attrs["name"], attrs["image"], attrs)
		r.excluded = !c.filter.keep(attrs["name"], attrs)
	}
	switch m.Action {
	case events.ActionDie:
		r.dies++
		r.lastDie = t
		if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
			r.exitCode, r.hasExit = code, true
		}
	case events.ActionOOM:
		r.ooms++
	case events.ActionDestroy:
		r.removedAt = c.now()
	case events.ActionStart:
		r.removedAt = time.Time{}
	}
}

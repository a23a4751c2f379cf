package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/rules"
)

// notifyComponent routes and delivers the alerts the rules send.
type notifyComponent struct {
	n   *notify.Notifier
	log *slog.Logger

	mu      sync.Mutex
	applied notify.Config // as last committed
}

// annotator adds context to a firing alert's annotations before notify
// gets it (a job's last output, a service's last log lines): the
// notification carries what explains the alert. It must be quick.
type annotator func(ctx context.Context, labels, annotations map[string]string)

// notifySink hands the rules' alerts to the notifier, each firing alert
// annotated by every annotator.
func notifySink(n *notify.Notifier, log *slog.Logger, annotators ...annotator) rules.Sink {
	return rules.SinkFunc(func(ctx context.Context, as []rules.Alert) {
		alerts := toNotifyAlerts(as)
		for _, a := range alerts {
			if !a.EndsAt.IsZero() && !a.EndsAt.After(time.Now()) {
				continue // resolved: the context was sent while it fired
			}
			for _, annotate := range annotators {
				annotate(ctx, a.Labels, a.Annotations)
			}
		}
		// Past notify's active alert limit, notify logs and counts the
		// refused alerts itself: a warning each evaluation adds nothing.
		if err := n.Put(ctx, alerts...); err != nil && !errors.Is(err, notify.ErrActiveLimit) {
			log.Warn("handing alerts to notify", "err", err)
		}
	})
}

// toNotifyAlerts adapts the rules' alerts to what notify takes, as
// Prometheus's notifier adapts its alerts for Alertmanager.
func toNotifyAlerts(as []rules.Alert) []notify.Alert {
	out := make([]notify.Alert, 0, len(as))
	for _, a := range as {
		ann := a.Annotations.Map()
		if _, ok := ann["value"]; !ok {
			ann["value"] = strconv.FormatFloat(a.Value, 'g', 6, 64)
		}
		out = append(out, notify.Alert{
			Labels:       a.Labels.Map(),
			Annotations:  ann,
			StartsAt:     a.StartsAt,
			EndsAt:       a.EndsAt,
			GeneratorURL: a.GeneratorURL,
		})
	}
	return out
}

func (*notifyComponent) Name() string { return "notify" }

func (c *notifyComponent) Prepare(cfg *Config) (func(), error) {
	commit, err := c.n.Prepare(cfg.Notify)
	if err != nil {
		return nil, err
	}
	return func() {
		commit()
		c.mu.Lock()
		c.applied = cfg.Notify
		c.mu.Unlock()
	}, nil
}

func (c *notifyComponent) Run(ctx context.Context) {
	if err := c.n.Run(ctx); err != nil && ctx.Err() == nil {
		c.log.Error("notifier stopped", "err", err)
	}
}

func (c *notifyComponent) Routes() []web.Route { return c.n.Routes() }

func (*notifyComponent) Close() error { return nil }

func (c *notifyComponent) effective() notify.Config {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.applied
}

func setupNotifyTest(fs *flag.FlagSet) runFunc {
	configFile := fs.String("config", "", "configuration file that defines the receiver")
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		cfg, err := await(ctx, func() (*Config, error) { return loadConfig(*configFile) })
		if err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := notify.SendTest(ctx, cfg.Notify, args[0], stdout); err != nil {
			return errors.Join(fmt.Errorf("notify test %s", args[0]), err)
		}
		return nil
	}
}

// notifyCLICommands are the commands that talk to a running vigie's
// notifier (silence add|list|expire, ack), from the notify package.
func notifyCLICommands() []command {
	var out []command
	for _, c := range notify.CLICommands() {
		out = append(out, command{
			name: c.Name, args: c.Args, about: c.About, nargs: atLeast(c.MinArgs),
			setup: func(fs *flag.FlagSet) runFunc {
				run := c.Setup(fs)
				return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
					return run(ctx, args, stdout)
				}
			},
		})
	}
	return out
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/rules"
)

// notifyPart routes and delivers the alerts the rules send.
type notifyPart struct {
	a *app
	n *notify.Notifier
}

func init() {
	var np *notifyPart
	// The notifier must exist before the rules part, which takes its sink.
	partFactories = append([]func(a *app) (part, error){func(a *app) (part, error) {
		n, err := notify.New(a.cfg.Notify, notify.Options{
			State:       a.store.State,
			Logger:      a.logger.With("component", "notify"),
			Registerer:  a.reg,
			ExternalURL: a.cfg.externalURL(),
		})
		if err != nil {
			return nil, err
		}
		np = &notifyPart{a: a, n: n}
		return np, nil
	}}, partFactories...)
	alertSinks = append(alertSinks, func(a *app) rules.Sink {
		n := np.n
		return rules.SinkFunc(func(ctx context.Context, as []rules.Alert) {
			if err := n.Put(ctx, toNotifyAlerts(as)...); err != nil {
				a.logger.Warn("handing alerts to notify", "err", err)
			}
		})
	})
	handlers = append(handlers, func(a *app, mux *http.ServeMux) {
		np.n.Register(mux)
	})
	commands["silence"] = func(_ context.Context, args []string, stdout, _ io.Writer) error {
		return notify.SilenceCommand(args, stdout)
	}
	commands["ack"] = func(_ context.Context, args []string, stdout, _ io.Writer) error {
		return notify.AckCommand(args, stdout)
	}
	commands["notify"] = cmdNotify
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

func (p *notifyPart) name() string { return "notify" }

func (p *notifyPart) prepare(cfg *Config) (func(), error) { return p.n.Prepare(cfg.Notify) }

func (p *notifyPart) run(ctx context.Context) { p.n.Run(ctx) }

func (p *notifyPart) close() error { return nil }

func cmdNotify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if done, err := expectVerb(args, "test", "Usage: vigie notify test [--config FILE] RECEIVER\n  sends a test notification through RECEIVER and prints the provider's answer\n", stderr); done {
		return err
	}
	fs := newFlagSet("notify test", "vigie notify test [--config FILE] RECEIVER", stderr)
	configFile := fs.String("config", "", "configuration file that defines the receiver")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(*configFile)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := notify.SendTest(ctx, cfg.Notify, fs.Arg(0), stdout); err != nil {
		return errors.Join(fmt.Errorf("notify test %s", fs.Arg(0)), err)
	}
	return nil
}

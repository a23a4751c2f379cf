package container

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/internal/testimage"
)

const testSocket = "unix:///var/run/docker.sock"

// needDocker skips when this machine has no Docker engine.
func needDocker(t testing.TB) {
	t.Helper()
	if _, err := os.Stat("/var/run/docker.sock"); err != nil {
		t.Skipf("no docker engine: %v", err)
	}
}

// runLabel returns a label selector unique to the test, to collect only its containers.
func runLabel(t testing.TB) (key, value string) {
	return "vigie-test-run", strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())) + "-" + fmt.Sprint(time.Now().UnixNano()%1e6)
}

// startCollector makes a collector, starts its event follower, waits for the
// stream and stops everything in cleanup.
func startCollector(t testing.TB, cfg Config) *Collector {
	t.Helper()
	c, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		_ = c.Close()
	})
	testimage.Eventually(t, 10*time.Second, func() (bool, string) {
		return c.streamUp.Load(), "event stream not up"
	})
	return c
}

func testLogger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// gather runs the collector through a collector.Set in a registry, as vigie does.
func gather(t testing.TB, cs ...collector.Collector) families {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector.NewSet(15*time.Second, slog.New(slog.DiscardHandler), cs...))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := families{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

type families map[string]*dto.MetricFamily

// get returns the value of the one series of name matching labels (name=value pairs).
func (f families) get(name string, labels ...string) (float64, bool) {
	ms := f.find(name, labels...)
	if len(ms) != 1 {
		return math.NaN(), false
	}
	return value(ms[0]), true
}

func (f families) find(name string, labels ...string) []*dto.Metric {
	mf := f[name]
	if mf == nil {
		return nil
	}
	var out []*dto.Metric
	for _, m := range mf.GetMetric() {
		if matches(m, labels) {
			out = append(out, m)
		}
	}
	return out
}

func matches(m *dto.Metric, labels []string) bool {
	have := map[string]string{}
	for _, lp := range m.GetLabel() {
		have[lp.GetName()] = lp.GetValue()
	}
	for i := 0; i+1 < len(labels); i += 2 {
		if have[labels[i]] != labels[i+1] {
			return false
		}
	}
	return true
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return math.NaN()
}

// dump lists the series of name, for failure messages.
func (f families) dump(name string) string {
	mf := f[name]
	if mf == nil {
		return name + ": absent"
	}
	var lines []string
	for _, m := range mf.GetMetric() {
		var ls []string
		for _, lp := range m.GetLabel() {
			if lp.GetValue() != "" {
				ls = append(ls, lp.GetName()+"="+lp.GetValue())
			}
		}
		lines = append(lines, fmt.Sprintf("%s{%s} %g", name, strings.Join(ls, ","), value(m)))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// waitMetric gathers until cond holds for name's series matching labels.
func waitMetric(t testing.TB, c *Collector, timeout time.Duration, name string, cond func(v float64) bool, labels ...string) families {
	t.Helper()
	var f families
	testimage.Eventually(t, timeout, func() (bool, string) {
		f = gather(t, c)
		v, ok := f.get(name, labels...)
		return ok && cond(v), fmt.Sprintf("%s%v not satisfied; have:\n%s\nsuccess: %s", name, labels, f.dump(name), f.dump("vigie_collector_success"))
	})
	return f
}

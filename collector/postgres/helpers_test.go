package postgres

import (
	"bytes"
	"context"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/pgtest"
)

// syncBuffer is a log sink safe for the collector's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness is a Collector inside a collector.Set inside a registry, as cmd/vigie runs it.
type harness struct {
	t   testing.TB
	c   *Collector
	reg *prometheus.Registry
	log *syncBuffer
}

func newHarness(t testing.TB, cfg ...InstanceConfig) *harness {
	t.Helper()
	for i := range cfg {
		d := DefaultInstanceConfig()
		if cfg[i].StatementTimeout == 0 {
			cfg[i].StatementTimeout = d.StatementTimeout
		}
		if cfg[i].ConnectTimeout == 0 {
			cfg[i].ConnectTimeout = config.Duration(2 * time.Second)
		}
		if cfg[i].TopStatements == 0 {
			cfg[i].TopStatements = d.TopStatements
		}
	}
	log := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(Config(cfg), logger)
	if err != nil {
		t.Fatal(err)
	}
	// Tests wait for reconnections: keep the backoff short.
	c.minBackoff, c.maxBackoff = 10*time.Millisecond, 100*time.Millisecond
	t.Cleanup(func() { c.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(collector.NewSet(10*time.Second, logger, c))
	return &harness{t: t, c: c, reg: reg, log: log}
}

// samples is one gather: "name{k="v",…}" (labels sorted, instance included) → value.
type samples map[string]float64

func (h *harness) gather() samples {
	h.t.Helper()
	mfs, err := h.reg.Gather()
	if err != nil {
		h.t.Fatalf("gather: %v", err)
	}
	out := samples{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			out[key(mf.GetName(), m.GetLabel())] = value(mf.GetType(), m)
		}
	}
	return out
}

func key(name string, lps []*dto.LabelPair) string {
	var parts []string
	for _, lp := range lps {
		parts = append(parts, lp.GetName()+"="+`"`+lp.GetValue()+`"`)
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

func value(t dto.MetricType, m *dto.Metric) float64 {
	switch t {
	case dto.MetricType_COUNTER:
		return m.GetCounter().GetValue()
	case dto.MetricType_GAUGE:
		return m.GetGauge().GetValue()
	}
	return m.GetUntyped().GetValue()
}

// get returns the value of name with exactly these labels ("k", "v", …).
func (s samples) get(name string, kv ...string) (float64, bool) {
	var parts []string
	for i := 0; i+1 < len(kv); i += 2 {
		parts = append(parts, kv[i]+"="+`"`+kv[i+1]+`"`)
	}
	sort.Strings(parts)
	v, ok := s[name+"{"+strings.Join(parts, ",")+"}"]
	return v, ok
}

func (s samples) must(t testing.TB, name string, kv ...string) float64 {
	t.Helper()
	v, ok := s.get(name, kv...)
	if !ok {
		t.Fatalf("no sample %s%v; have %d samples:\n%s", name, kv, len(s), s.names(name))
	}
	return v
}

// names lists the samples whose name starts like prefix, for failure messages.
func (s samples) names(prefix string) string {
	p := prefix
	if i := strings.LastIndexByte(p, '_'); i > 0 {
		p = p[:i]
	}
	var out []string
	for k := range s {
		if strings.HasPrefix(k, p) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	if len(out) > 40 {
		out = append(out[:40], "…")
	}
	return strings.Join(out, "\n")
}

// families returns the metric names present.
func (s samples) families() map[string]bool {
	out := map[string]bool{}
	for k := range s {
		out[k[:strings.IndexByte(k, '{')]] = true
	}
	return out
}

// waitFor gathers until cond holds, failing after timeout.
func (h *harness) waitFor(timeout time.Duration, what string, cond func(samples) bool) samples {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s := h.gather()
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out after %s waiting for %s; log:\n%s", timeout, what, h.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// monitorRole creates the least-privilege role of docs/configuration/postgres.md.
func monitorRole(t testing.TB, c *pgtest.Cluster, name, password string) {
	t.Helper()
	c.MustExec(`CREATE ROLE ` + name + ` WITH LOGIN PASSWORD '` + password + `'`)
	c.MustExec(`GRANT pg_monitor TO ` + name)
}

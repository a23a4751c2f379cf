package scaling

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"

	"github.com/vigie-dev/vigie/config"
)

// benchHost is n Swarm services of 2 replicas each, with CPU limits and
// usage, and memory, every step for steps+1 samples (10 minutes at 15s).
func benchHost(n int) (string, Config) { return benchHistory(n, "15s", 40) }

func benchHistory(n int, step string, steps int) (string, Config) {
	var b strings.Builder
	b.WriteString("load " + step + "\n")
	cfg := DefaultConfig()
	for i := range n {
		svc := fmt.Sprintf("app_svc%03d", i)
		fmt.Fprintf(&b, "\tvigie_service_replicas_desired{instance=\"h\",job=\"vigie\",service=%q,stack=\"app\",mode=\"replicated\"} 2x40\n", svc)
		for r := range 2 {
			l := fmt.Sprintf(`instance="h",job="vigie",id="/%s/%d",name="%s.%d",swarm_service=%q,swarm_stack="app"`, svc, r, svc, r, svc)
			fmt.Fprintf(&b, "\tvigie_container_state{%s,state=\"running\"} 1x40\n", l)
			fmt.Fprintf(&b, "\tcontainer_cpu_usage_seconds_total{%s} 0+%dx40\n", l, 1+i%10)
			fmt.Fprintf(&b, "\tcontainer_spec_cpu_quota{%s} 100000x40\n", l)
			fmt.Fprintf(&b, "\tcontainer_spec_cpu_period{%s} 100000x40\n", l)
			fmt.Fprintf(&b, "\tcontainer_memory_working_set_bytes{%s} %dx40\n", l, 1000+i)
			fmt.Fprintf(&b, "\tcontainer_spec_memory_limit_bytes{%s} 4000x40\n", l)
		}
		cfg.Services = append(cfg.Services, ServiceConfig{Service: svc, MinReplicas: 1, MaxReplicas: 10,
			Metrics: []MetricConfig{{CPU: f(70)}, {Memory: f(80)}}})
	}
	return strings.ReplaceAll(b.String(), "x40\n", fmt.Sprintf("x%d\n", steps)), cfg
}

func benchScaler(b *testing.B, n int, rightSizeEvery time.Duration) *Scaler {
	series, cfg := benchHost(n)
	cfg.RightSizing.Interval = config.Duration(rightSizeEvery)
	st := promqltest.LoadedStorage(b, series)
	b.Cleanup(func() { _ = st.Close() })
	eng := promqltest.NewTestEngine(b, false, 5*time.Minute, promqltest.DefaultMaxSamplesPerQuery)
	s, err := New(Options{Config: cfg, Query: QueryFunc(rules.EngineQueryFunc(eng, st))})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkEvaluate200 is one evaluation of 200 services (cpu and memory
// targets), right-sizing done at most hourly as by default.
func BenchmarkEvaluate200(b *testing.B) {
	s := benchScaler(b, 200, time.Hour)
	now := time.Unix(0, 0).Add(10 * time.Minute)
	ctx := context.Background()
	if err := s.Evaluate(ctx, now); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if err := s.Evaluate(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
	if got := s.Last().Services[199]; !got.Known || len(got.Metrics) != 2 {
		b.Fatalf("service 199: %+v", got)
	}
}

// BenchmarkEvaluate200RightSizing is the hourly evaluation that also runs
// the right-sizing queries (here over 10 minutes of history).
func BenchmarkEvaluate200RightSizing(b *testing.B) {
	s := benchScaler(b, 200, time.Nanosecond)
	now := time.Unix(0, 0).Add(10 * time.Minute)
	ctx := context.Background()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if err := s.Evaluate(ctx, now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRightSizing200Over1d is the right-sizing queries alone over a
// day of history at 1m resolution for 200 services (400 containers).
func BenchmarkRightSizing200Over1d(b *testing.B) {
	series, cfg := benchHistory(200, "1m", 1440)
	cfg.RightSizing.Window = config.Duration(24 * time.Hour)
	st := promqltest.LoadedStorage(b, series)
	b.Cleanup(func() { _ = st.Close() })
	eng := promqltest.NewTestEngine(b, false, 5*time.Minute, 50_000_000 /* as cmd/vigie */)
	q := QueryFunc(rules.EngineQueryFunc(eng, st))
	now := time.Unix(0, 0).Add(24 * time.Hour)
	cpuQ, memQ := rightSizingQueries(cfg)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		for _, expr := range []string{cpuQ, memQ} {
			v, err := q(ctx, expr, now)
			if err != nil || len(v) != 200 {
				b.Fatalf("%s: %d samples, %v", expr, len(v), err)
			}
		}
	}
}

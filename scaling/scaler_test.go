package scaling

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/rules"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/internal/web"
	"github.com/vigie-dev/vigie/storage"
)

// The container and node collectors' series for a small host, every 15s
// for 10 minutes:
//   - Swarm service shop_web: 2 replicas at 0.45 of a 0.5-core limit (90%);
//   - Swarm service shop_nolimit: 1 replica without a CPU limit;
//   - Compose service proj/api: 1 replica at 900 of 1000 bytes of memory (90%);
//   - the host: 1 core, 0.1 of it idle, 100 bytes of memory available.
const hostSeries = `
load 15s
	vigie_service_replicas_desired{instance="h",job="vigie",service="shop_web",stack="shop",mode="replicated"} 2x40
	vigie_service_replicas_desired{instance="h",job="vigie",service="shop_nolimit",stack="shop",mode="replicated"} 1x40
	vigie_service_replicas_desired{instance="h",job="vigie",service="api",stack="proj",mode="compose"} 1x40
	vigie_service_replicas_desired{instance="h",job="vigie",service="agent",stack="",mode="global"} 1x40
	vigie_container_state{instance="h",job="vigie",id="/a",name="shop_web.1.x",swarm_service="shop_web",swarm_stack="shop",state="running"} 1x40
	vigie_container_state{instance="h",job="vigie",id="/b",name="shop_web.2.y",swarm_service="shop_web",swarm_stack="shop",state="running"} 1x40
	vigie_container_state{instance="h",job="vigie",id="/c",name="shop_nolimit.1.z",swarm_service="shop_nolimit",swarm_stack="shop",state="running"} 1x40
	vigie_container_state{instance="h",job="vigie",id="/d",name="proj-api-1",compose_project="proj",compose_service="api",state="running"} 1x40
	container_cpu_usage_seconds_total{instance="h",job="vigie",id="/a",name="shop_web.1.x",swarm_service="shop_web",swarm_stack="shop"} 0+6.75x40
	container_cpu_usage_seconds_total{instance="h",job="vigie",id="/b",name="shop_web.2.y",swarm_service="shop_web",swarm_stack="shop"} 0+6.75x40
	container_cpu_usage_seconds_total{instance="h",job="vigie",id="/c",name="shop_nolimit.1.z",swarm_service="shop_nolimit",swarm_stack="shop"} 0+1x40
	container_spec_cpu_quota{instance="h",job="vigie",id="/a",name="shop_web.1.x",swarm_service="shop_web",swarm_stack="shop"} 50000x40
	container_spec_cpu_period{instance="h",job="vigie",id="/a",name="shop_web.1.x",swarm_service="shop_web",swarm_stack="shop"} 100000x40
	container_spec_cpu_quota{instance="h",job="vigie",id="/b",name="shop_web.2.y",swarm_service="shop_web",swarm_stack="shop"} 50000x40
	container_spec_cpu_period{instance="h",job="vigie",id="/b",name="shop_web.2.y",swarm_service="shop_web",swarm_stack="shop"} 100000x40
	container_memory_working_set_bytes{instance="h",job="vigie",id="/d",name="proj-api-1",compose_project="proj",compose_service="api"} 900x40
	container_spec_memory_limit_bytes{instance="h",job="vigie",id="/d",name="proj-api-1",compose_project="proj",compose_service="api"} 1000x40
	node_cpu_seconds_total{instance="h",job="vigie",cpu="0",mode="idle"} 0+1.5x40
	node_cpu_seconds_total{instance="h",job="vigie",cpu="0",mode="user"} 0+13.5x40
	node_memory_MemTotal_bytes{instance="h",job="vigie"} 4000x40
	node_memory_MemAvailable_bytes{instance="h",job="vigie"} 100x40
`

func testQuery(t *testing.T, series string) QueryFunc {
	t.Helper()
	st := promqltest.LoadedStorage(t, series)
	t.Cleanup(func() { _ = st.Close() })
	eng := promqltest.NewTestEngine(t, false, 5*time.Minute, promqltest.DefaultMaxSamplesPerQuery)
	return QueryFunc(rules.EngineQueryFunc(eng, st))
}

func f(v float64) *float64 { return &v }

func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Services = []ServiceConfig{
		{Service: "shop_web", MinReplicas: 2, MaxReplicas: 15, Metrics: []MetricConfig{{CPU: f(70)}}, Apply: ApplyConfig{Enabled: true, DryRun: true}},
		{Service: "shop_nolimit", MinReplicas: 1, MaxReplicas: 4, Metrics: []MetricConfig{{CPU: f(70)}}, Apply: ApplyConfig{Enabled: true, DryRun: true}},
		{Service: "proj/api", MinReplicas: 1, MaxReplicas: 8, Metrics: []MetricConfig{{Memory: f(80)}}},
		{Service: "ghost", MinReplicas: 1, MaxReplicas: 3, Metrics: []MetricConfig{{CPU: f(70)}}, Apply: ApplyConfig{Enabled: true}},
		{Service: "agent", MinReplicas: 1, MaxReplicas: 3, Metrics: []MetricConfig{{CPU: f(70)}}, Apply: ApplyConfig{Enabled: true}},
	}
	return cfg
}

func openState(t *testing.T) *storage.State {
	t.Helper()
	st, err := storage.OpenState(context.Background(), filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestScalerOverTSDB(t *testing.T) {
	reg := prometheus.NewRegistry()
	now := time.Unix(0, 0).Add(10 * time.Minute)
	s, err := New(Options{Config: testConfig(), Registerer: reg, Query: testQuery(t, hostSeries), StateDB: openState(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Evaluate(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	res := s.Last()
	by := map[string]ServiceStatus{}
	for _, st := range res.Services {
		by[st.Service] = st
	}
	webSt := by["shop_web"]
	if webSt.Desired != 3 || webSt.Current != 2 || webSt.Stack != "shop" || !hasReason(webSt.Reasons, "cpu 90% of 70% target") {
		t.Errorf("shop_web: %+v", webSt.Recommendation)
	}
	if a := webSt.Apply.Action; a == nil || a.Result != ResultDryRun || a.To != 3 {
		t.Errorf("shop_web dry run: %+v", webSt.Apply)
	}
	nl := by["shop_nolimit"]
	if nl.Desired != 1 || !hasReason(nl.Reasons, "has no CPU limit") || !slices.Contains(nl.Limits, LimitInvalidMetric) || nl.Apply.Action != nil {
		t.Errorf("shop_nolimit: %+v %+v", nl.Recommendation, nl.Apply)
	}
	api := by["proj/api"]
	if api.Desired != 2 || api.Command != "docker compose -p proj up -d --scale api=2" || !hasReason(api.Reasons, "memory 90% of 80% target") {
		t.Errorf("proj/api: %+v %q", api.Recommendation, api.Command)
	}
	ghost := by["ghost"]
	if ghost.Known || !hasReason(ghost.Reasons, `unknown service: no Swarm service named "ghost"`) || ghost.Apply.Action != nil {
		t.Errorf("ghost: %+v", ghost)
	}
	if agent := by["agent"]; !hasReason(agent.Reasons, "runs in global mode") || agent.Apply.Action != nil || agent.Desired != agent.Current {
		t.Errorf("agent: %+v", agent)
	}
	// One more shop_web replica takes 0.5 core and api's 1000 bytes: the host has 0.1 idle and 100 free.
	c := res.Capacity
	if !c.Known || !near(c.NeededCPUCores, 0.5) || !near(c.MissingCPUCores, 0.4) || !near(c.MissingMemoryBytes, 900) {
		t.Errorf("capacity: %+v", c)
	}
	if !slices.Contains(webSt.Limits, LimitCapacity) {
		t.Errorf("shop_web limits %q lack capacity", webSt.Limits)
	}
	if rs := webSt.RightSizing; rs == nil || !near(rs.CPULimitCores, 0.45*1.2) || rs.CurrentCPUCores != 0.5 {
		t.Errorf("shop_web right-sizing: %+v", rs)
	}
	if rs := api.RightSizing; rs == nil || !near(rs.MemoryLimitBytes, 900*1.2) {
		t.Errorf("proj/api right-sizing: %+v", rs)
	}

	want := `
# HELP vigie_scaling_desired_replicas Replicas the HPA algorithm recommends for the service.
# TYPE vigie_scaling_desired_replicas gauge
vigie_scaling_desired_replicas{service="agent",stack=""} 1
vigie_scaling_desired_replicas{service="api",stack="proj"} 2
vigie_scaling_desired_replicas{service="shop_nolimit",stack="shop"} 1
vigie_scaling_desired_replicas{service="shop_web",stack="shop"} 3
# HELP vigie_scaling_limited 1 when the recommendation was limited or withheld for the reason (max_replicas, min_replicas, scale_up_policy, scale_down_policy, stabilisation, invalid_metric, unknown_service, not_replicated, scaled_to_zero, capacity).
# TYPE vigie_scaling_limited gauge
vigie_scaling_limited{reason="capacity",service="api",stack="proj"} 1
vigie_scaling_limited{reason="not_replicated",service="agent",stack=""} 1
vigie_scaling_limited{reason="capacity",service="shop_web",stack="shop"} 1
vigie_scaling_limited{reason="invalid_metric",service="shop_nolimit",stack="shop"} 1
vigie_scaling_limited{reason="unknown_service",service="ghost",stack=""} 1
# HELP vigie_scaling_capacity_missing_cpu_cores CPU cores the recommended extra replicas need beyond what the hosts have idle.
# TYPE vigie_scaling_capacity_missing_cpu_cores gauge
vigie_scaling_capacity_missing_cpu_cores 0.4
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "vigie_scaling_desired_replicas", "vigie_scaling_limited", "vigie_scaling_capacity_missing_cpu_cores"); err != nil {
		t.Error(err)
	}

	mux := web.NewMux()
	mux.Handle(s.Routes()...)
	var body struct {
		Status string
		Data   Result
	}
	get(t, mux, "/api/v1/scaling?service=shop_web", &body)
	if body.Status != "success" || len(body.Data.Services) != 1 || body.Data.Services[0].Desired != 3 {
		t.Errorf("GET /api/v1/scaling: %+v", body)
	}
	var acts struct {
		Status string
		Data   []Action
	}
	get(t, mux, "/api/v1/scaling/actions", &acts)
	if len(acts.Data) != 1 || acts.Data[0].Service != "shop_web" || acts.Data[0].Result != ResultDryRun || acts.Data[0].To != 3 {
		t.Errorf("GET /api/v1/scaling/actions: %+v", acts)
	}
	if a := mux.Routes(); a["GET /api/v1/scaling"] != web.Read || a["GET /api/v1/scaling/actions"] != web.Read {
		t.Errorf("routes %v", a)
	}

	// The cooldown (3m by default) holds the next dry run back.
	if err := s.Evaluate(context.Background(), now.Add(15*time.Second)); err != nil {
		t.Fatal(err)
	}
	if st := s.Last().Services[0]; st.Apply.Action != nil || !strings.Contains(st.Apply.Note, "cooldown") {
		t.Errorf("during cooldown: %+v", st.Apply)
	}
}

func TestScalerMaxStepAndReload(t *testing.T) {
	cfg := testConfig()
	cfg.Services = cfg.Services[:1]
	cfg.Services[0].MaxReplicas = 15
	cd := config.Duration(0)
	cfg.Services[0].Apply = ApplyConfig{Enabled: true, DryRun: true, MaxStep: 1, Cooldown: &cd}
	// 4.5 cores used of 2×0.5: 900% of limit → ratio 12.9 → capped by the policies at 6, by max_step at 3.
	series := strings.ReplaceAll(hostSeries, "0+6.75x40", "0+67.5x40")
	s, err := New(Options{Config: cfg, Query: testQuery(t, series)})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(0, 0).Add(10 * time.Minute)
	if err := s.Evaluate(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	st := s.Last().Services[0]
	if st.Desired != 6 || !slices.Contains(st.Limits, LimitScaleUpPolicy) || st.Apply.Action == nil || st.Apply.Action.To != 3 || !strings.Contains(st.Apply.Note, "max_step 1") {
		t.Fatalf("got %+v / %+v", st.Recommendation, st.Apply)
	}
	bad := cfg
	bad.Services = []ServiceConfig{{Service: "x", MinReplicas: 3, MaxReplicas: 1, Metrics: cfg.Services[0].Metrics}}
	if err := s.ApplyConfig(bad); err == nil {
		t.Fatal("a bad configuration was applied")
	}
	if err := s.ApplyConfig(cfg); err != nil {
		t.Fatal(err)
	}
	if s.stateOf("shop_web").hist.recs == nil {
		t.Error("reload lost the history of an unchanged service")
	}
}

func hasReason(rs []string, s string) bool {
	return slices.ContainsFunc(rs, func(r string) bool { return strings.Contains(r, s) })
}

func near(a, b float64) bool { return a-b < 1e-6 && b-a < 1e-6 }

func get(t *testing.T, h http.Handler, url string, out any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, url, nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, rec.Code, rec.Body)
	}
	if err := json.Unmarshal(rec.Body.Bytes(), out); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func TestRunEvaluatesAfterCollected(t *testing.T) {
	s, err := New(Options{Config: testConfig(), Query: testQuery(t, hostSeries)})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	ts := time.Unix(0, 0).Add(10 * time.Minute)
	s.Collected(ts.Add(-15 * time.Second))
	s.Collected(ts)
	deadline := time.Now().Add(10 * time.Second)
	for !s.Last().Time.Equal(ts) {
		if time.Now().After(deadline) {
			t.Fatalf("no evaluation at %v; last at %v", ts, s.Last().Time)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := s.Last().Services[0]; got.Desired != 3 {
		t.Errorf("after Run: %+v", got.Recommendation)
	}
}

// fixedInventory is a Swarm whose resources are given.
type fixedInventory Resources

func (f fixedInventory) Resources(context.Context) (Resources, error) { return Resources(f), nil }

func TestCapacityWithSwarmReservations(t *testing.T) {
	inv := fixedInventory{Nodes: 1, CPUCores: 1, MemoryBytes: 4000, ReservedCPUCores: 0.9, ReservedMemoryBytes: 3000,
		Services: map[string]Reservation{"shop_web": {CPUCores: 0.6, MemoryBytes: 600}}}
	s, err := New(Options{Config: testConfig(), Query: testQuery(t, hostSeries), Inventory: inv})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Evaluate(context.Background(), time.Unix(0, 0).Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	c := s.Last().Capacity
	// shop_web's extra replica reserves 0.6 core where 0.1 is unreserved: 0.5 missing, more than the 0.4 by idle CPU.
	if r := c.Reservations; r == nil || !near(r.NeededCPUCores, 0.6) || !near(r.MissingCPUCores, 0.5) || r.MissingMemoryBytes != 0 {
		t.Fatalf("reservations: %+v", c.Reservations)
	}
	if !near(c.MissingCPUCores, 0.5) || !strings.Contains(c.Reason, "the Swarm cannot place them") || !strings.Contains(c.Reason, "missing 0.5 CPU") {
		t.Errorf("capacity: %+v", c)
	}
}

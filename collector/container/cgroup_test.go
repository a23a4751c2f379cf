package container

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/vigie-dev/vigie/internal/testimage"
)

// TestCgroupMatchesEngineStats checks that reading the cgroup files gives
// the numbers the engine's stats endpoint gives for the same container.
func TestCgroupMatchesEngineStats(t *testing.T) {
	needDocker(t)
	r, err := newCgroupReader("/proc")
	if err != nil {
		t.Skipf("cgroup filesystem not readable here: %v", err)
	}
	img := testimage.Build(t)
	ctr := testimage.Run(t, img, testimage.RunOptions{Name: "cgroup", Flags: []string{"--memory", "64m", "--cpus", "0.5"}, Args: []string{"-alloc", "20Mi"}})
	ctr.WaitLog(t, "ready", 30*time.Second)
	pid, _ := strconv.Atoi(ctr.Inspect(t, "{{.State.Pid}}"))

	before, err := r.stats(pid)
	if err != nil {
		t.Fatalf("cgroup stats: %v", err)
	}
	cli, err := client.New(client.WithHost(testSocket))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	res, err := cli.ContainerStats(context.Background(), ctr.ID, client.ContainerStatsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var api container.StatsResponse
	err = json.NewDecoder(res.Body).Decode(&api)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	after, err := r.stats(pid)
	if err != nil {
		t.Fatal(err)
	}

	between := func(what string, lo, v, hi uint64) {
		t.Helper()
		if lo > hi {
			lo, hi = hi, lo
		}
		if v < lo || v > hi {
			t.Errorf("%s: engine %d, cgroup files %d..%d", what, v, lo, hi)
		}
	}
	near := func(what string, a, b, v uint64) { // gauges: within 2% of the cgroup reads
		t.Helper()
		lo, hi := min(a, b), max(a, b)
		between(what, lo-lo/50, v, hi+hi/50)
	}
	between("cpu total", before.CPUStats.CPUUsage.TotalUsage, api.CPUStats.CPUUsage.TotalUsage, after.CPUStats.CPUUsage.TotalUsage)
	between("cpu user", before.CPUStats.CPUUsage.UsageInUsermode, api.CPUStats.CPUUsage.UsageInUsermode, after.CPUStats.CPUUsage.UsageInUsermode)
	between("cfs periods", before.CPUStats.ThrottlingData.Periods, api.CPUStats.ThrottlingData.Periods, after.CPUStats.ThrottlingData.Periods)
	near("memory usage", before.MemoryStats.Usage, after.MemoryStats.Usage, api.MemoryStats.Usage)
	near("working set", workingSet(before.MemoryStats), workingSet(after.MemoryStats), workingSet(api.MemoryStats))
	for _, k := range []string{"total_rss", "rss", "anon", "total_cache", "file"} {
		if _, ok := api.MemoryStats.Stats[k]; ok {
			near("memory.stat "+k, before.MemoryStats.Stats[k], after.MemoryStats.Stats[k], api.MemoryStats.Stats[k])
		}
	}
	if api.MemoryStats.Limit != before.MemoryStats.Limit {
		t.Errorf("memory limit: engine %d, cgroup %d", api.MemoryStats.Limit, before.MemoryStats.Limit)
	}
	for iface, n := range api.Networks {
		b, a := before.Networks[iface], after.Networks[iface]
		between(iface+" rx bytes", b.RxBytes, n.RxBytes, a.RxBytes)
		between(iface+" tx packets", b.TxPackets, n.TxPackets, a.TxPackets)
	}
	if len(api.Networks) != len(before.Networks) {
		t.Errorf("interfaces: engine %v, cgroup %v", api.Networks, before.Networks)
	}
	if api.PidsStats.Current != before.PidsStats.Current {
		t.Errorf("pids: engine %d, cgroup %d", api.PidsStats.Current, before.PidsStats.Current)
	}
	t.Logf("working set %.1f MiB (engine) / %.1f MiB (cgroup)", float64(workingSet(api.MemoryStats))/mib, float64(workingSet(before.MemoryStats))/mib)
}

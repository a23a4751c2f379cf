// Command probes runs vigie's uptime manager alone, for
// bench/probes-vs-blackbox.sh: N HTTP probes at an interval against a
// target, with the history in SQLite and a gather of the collector every
// 15 s (what the collection loop does), for a duration. It prints its CPU
// seconds, peak RSS and the start delays of the checks as one JSON line.
// With -serve it is the target instead: an HTTP server answering "ok".
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/collector"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
	"github.com/vigie-dev/vigie/uptime/probe"
)

func main() {
	serve := flag.String("serve", "", "serve the target on this address instead")
	n := flag.Int("probes", 1000, "number of probes")
	interval := flag.Duration("interval", 30*time.Second, "probe interval")
	target := flag.String("target", "", "base URL of the target; probe i asks <target>/p<i>")
	duration := flag.Duration("duration", 3*time.Minute, "how long to run")
	dir := flag.String("dir", os.TempDir(), "directory of the state database")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.StringVar(&memprofile, "memprofile", "", "write a heap profile here, half-way")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer pprof.StopCPUProfile()
	}
	if *serve != "" {
		log.Fatal(http.ListenAndServe(*serve, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("ok"))
		})))
	}
	if err := run(*n, *interval, *target, *duration, *dir); err != nil {
		log.Print(err)
	}
}

func run(n int, interval time.Duration, target string, duration time.Duration, dir string) error {
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	st, err := storage.OpenState(ctx, filepath.Join(dir, "state.db"))
	if err != nil {
		return err
	}
	defer st.Close()
	cfg := uptime.DefaultConfig()
	for i := range n {
		cfg.Probes = append(cfg.Probes, probe.Config{Name: fmt.Sprintf("p%d", i), URL: fmt.Sprintf("%s/p%d", strings.TrimRight(target, "/"), i),
			Interval: config.Duration(interval), Timeout: config.Duration(5 * time.Second)})
	}
	reg := prometheus.NewRegistry()
	m, err := uptime.New(uptime.Options{Config: cfg, Registerer: reg, StateDB: st})
	if err != nil {
		return err
	}
	set := collector.NewSet(10*time.Second, nil, m.Collector())
	gathers := prometheus.NewRegistry()
	gathers.MustRegister(set)
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_, _ = gathers.Gather()
			}
		}
	}()
	go sampleMemory(ctx, duration/2)
	_ = m.Run(ctx)
	return report(reg)
}

// peak is the largest heap and stack in use seen while probes ran.
var peak struct {
	sync.Mutex
	heap, stack uint64
}

var memprofile string

func sampleMemory(ctx context.Context, half time.Duration) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	profile := time.After(half)
	for {
		select {
		case <-profile:
			if memprofile != "" {
				if f, err := os.Create(memprofile); err == nil {
					_ = pprof.WriteHeapProfile(f)
					f.Close()
				}
			}
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		peak.Lock()
		peak.heap, peak.stack = max(peak.heap, ms.HeapInuse), max(peak.stack, ms.StackInuse)
		peak.Unlock()
	}
}

func report(reg *prometheus.Registry) error {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	out := map[string]any{
		"peak_heap_inuse_mib":  float64(peak.heap) / (1 << 20),
		"peak_stack_inuse_mib": float64(peak.stack) / (1 << 20),
		"go_sys_mib":           float64(ms.Sys) / (1 << 20),
		"goroutines":           runtime.NumGoroutine(),
		"cpu_seconds":          float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6,
		"max_rss_kib":          ru.Maxrss,
		"start_delays":         map[string]uint64{},
	}
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	for _, mf := range mfs {
		if mf.GetName() != "vigie_probe_start_delay_seconds" {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		out["checks"] = h.GetSampleCount()
		out["start_delay_sum_seconds"] = h.GetSampleSum()
		for _, b := range h.GetBucket() {
			out["start_delays"].(map[string]uint64)[fmt.Sprintf("le_%g", b.GetUpperBound())] = b.GetCumulativeCount()
		}
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

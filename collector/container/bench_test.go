package container

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/internal/testimage"
)

// BenchmarkGather50 times one gather over 50 running containers (made from
// the scratch test image) and, in the same run, `docker stats --no-stream`
// over the same containers. It reports wall and CPU time per gather, for
// this process and for dockerd, and the ratio:
//
//	go test -run '^$' -bench Gather50 -benchtime 20x ./collector/container/
func BenchmarkGather50(b *testing.B) {
	needDocker(b)
	const n = 50
	img := testimage.Build(b)
	k, v := runLabel(b)
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			c := testimage.Run(b, img, testimage.RunOptions{Name: fmt.Sprintf("bench-%02d", i),
				Labels: map[string]string{k: v}, Flags: []string{"--memory", "64m"}, Args: []string{"-alloc", "1Mi"}})
			ids[i] = c.ID
		}()
	}
	wg.Wait()
	c := startCollector(b, testConfig(k, v))
	ctx := context.Background()
	gatherOnce := func() int {
		ch := make(chan prometheus.Metric, 4096)
		if err := c.Update(ctx, ch); err != nil {
			b.Fatal(err)
		}
		close(ch)
		return len(ch)
	}
	series := gatherOnce() // warm: connection, version negotiation
	if got := len(gather(b, c).find("container_memory_working_set_bytes")); got != n {
		b.Fatalf("%d containers with stats, want %d", got, n)
	}
	dockerd := dockerdPID()

	cpu0, d0, t0 := selfCPU(), procCPU(dockerd), time.Now()
	gathers := 0
	for b.Loop() {
		gatherOnce()
		gathers++
	}
	wall := time.Since(t0) / time.Duration(gathers)
	cpu := (selfCPU() - cpu0) / time.Duration(gathers)
	dcpu := (procCPU(dockerd) - d0) / time.Duration(gathers)

	// docker stats --no-stream over the same containers, a few times.
	const statsRuns = 3
	var sWall, sCPU, sD time.Duration
	for range statsRuns {
		d0, t0 := procCPU(dockerd), time.Now()
		cmd := exec.Command("docker", append([]string{"stats", "--no-stream"}, ids...)...)
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("docker stats: %v\n%s", err, out)
		}
		sWall += time.Since(t0)
		sCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		sD += procCPU(dockerd) - d0
	}
	sWall, sCPU, sD = sWall/statsRuns, sCPU/statsRuns, sD/statsRuns

	b.ReportMetric(float64(wall.Microseconds())/1000, "ms-wall/gather")
	b.ReportMetric(float64(cpu.Microseconds())/1000, "ms-cpu/gather")
	b.ReportMetric(float64(dcpu.Microseconds())/1000, "ms-dockerd-cpu/gather")
	b.ReportMetric(float64(sWall.Microseconds())/1000, "ms-wall/docker-stats")
	b.ReportMetric(float64(sWall)/float64(wall), "x-faster")
	fmt.Fprintf(os.Stderr, "\n%d running containers, %d series per gather, %d gathers (concurrency %d)\n", n, series, gathers, c.cfg.Concurrency)
	fmt.Fprintf(os.Stderr, "vigie gather:            wall %7.1f ms  cpu %6.1f ms (%.3f%% of one core at a 15s interval)  dockerd cpu %6.1f ms\n",
		ms(wall), ms(cpu), 100*cpu.Seconds()/15, ms(dcpu))
	fmt.Fprintf(os.Stderr, "docker stats --no-stream: wall %7.1f ms  cpu %6.1f ms (docker CLI)                           dockerd cpu %6.1f ms\n",
		ms(sWall), ms(sCPU), ms(sD))
	fmt.Fprintf(os.Stderr, "ratio (docker stats / vigie): wall %.1fx, dockerd cpu %.1fx\n\n", float64(sWall)/float64(wall), float64(sD)/float64(max(dcpu, 1)))
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func dockerdPID() int {
	out, err := exec.Command("pidof", "dockerd").Output()
	if err != nil {
		return 0
	}
	pid, _ := strconv.Atoi(strings.Fields(string(out))[0])
	return pid
}

// procCPU is a process's user+system time from /proc (0 when unreadable).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

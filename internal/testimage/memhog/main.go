// Command memhog is the program inside vigie's scratch test image. It holds
// as much memory as it is told, then hangs, exits or crashes on demand, and
// doubles as the image's /bin/sh so that `docker run --health-cmd` works in
// an image that has nothing else:
//
//	memhog -alloc 58Mi                 hold 58 MiB until stopped
//	memhog -alloc 64Mi -exit-after 2s -code 3
//	memhog -crash-after 1s             panic (exit status 2)
//	memhog -unhealthy-after 2s         health checks fail from then on
//	sh -c <anything>                   health check: exit 0 while healthy, 1 once unhealthy
//
// It prints "ready" on stdout once the memory is held.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const healthFile = "/vigie-health"

func main() {
	if base := filepath.Base(os.Args[0]); base == "sh" {
		os.Exit(probe())
	}
	var (
		alloc          = flag.String("alloc", "0", "memory to hold: bytes, or with a Ki/Mi/Gi suffix")
		exitAfter      = flag.Duration("exit-after", 0, "exit with -code after this long (0: never)")
		code           = flag.Int("code", 0, "exit code for -exit-after")
		crashAfter     = flag.Duration("crash-after", 0, "panic after this long (0: never)")
		unhealthyAfter = flag.Duration("unhealthy-after", -1, "health checks fail after this long (negative: never)")
	)
	flag.Parse()
	n, err := parseSize(*alloc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(64)
	}
	_ = os.WriteFile(healthFile, []byte("ok"), 0o644)
	held := hold(n)
	fmt.Printf("ready %d\n", len(held)*chunk)

	stop := make(chan os.Signal, 1)
	// PID 1 ignores signals it does not handle: handle them so `docker stop` is immediate.
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	var exitC, crashC, unhealthyC <-chan time.Time
	if *exitAfter > 0 {
		exitC = time.After(*exitAfter)
	}
	if *crashAfter > 0 {
		crashC = time.After(*crashAfter)
	}
	if *unhealthyAfter >= 0 {
		unhealthyC = time.After(*unhealthyAfter)
	}
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-exitC:
			os.Exit(*code)
		case <-crashC:
			panic(fmt.Sprintf("crash requested, holding %d bytes", len(held)*chunk))
		case <-unhealthyC:
			_ = os.WriteFile(healthFile, []byte("fail"), 0o644)
			unhealthyC = nil
		}
	}
}

const chunk = 1 << 20

// hold allocates n bytes in 1 MiB chunks and writes every page so the
// kernel charges them to the cgroup.
func hold(n int64) [][]byte {
	var held [][]byte
	for got := int64(0); got < n; got += chunk {
		b := make([]byte, chunk)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		held = append(held, b)
	}
	return held
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if strings.HasSuffix(s, suffix) {
			s, mult = strings.TrimSuffix(s, suffix), m
			break
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return v * mult, nil
}

// probe is the health check: healthy until the main process says otherwise.
func probe() int {
	b, err := os.ReadFile(healthFile)
	if err != nil || string(b) != "ok" {
		fmt.Println("unhealthy")
		return 1
	}
	fmt.Println("healthy")
	return 0
}

// Package footprint keeps vigie's resident memory to what it uses.
//
// vigie's executable is large (the Prometheus libraries bring ~50 MB of code
// and read-only data) and it only ever runs a small part of it. Linux may map
// a file's large page-cache folios with 2 MiB page-table entries (transparent
// huge pages for files): then touching one function makes the whole 2 MiB
// around it resident, and the executable alone counted for ~30 MiB of RSS on
// the default configuration. Opting the process out of transparent huge
// pages and dropping the mappings made before that (they fault back in as
// 4 KiB pages, on use) brings that to the pages vigie really runs.
//
// No library does this: it is two system calls and a read of
// /proc/self/maps, written here.
package footprint

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TrimExecutable disables transparent huge pages for this process and
// drops the current mappings of the executable's read-only segments (code
// and read-only data), which the kernel maps again page by page on use.
// It returns the bytes unmapped. Failures change nothing and are returned
// for the caller to log; vigie runs the same either way.
func TrimExecutable() (int64, error) {
	if err := unix.Prctl(unix.PR_SET_THP_DISABLE, 1, 0, 0, 0); err != nil {
		return 0, fmt.Errorf("disable transparent huge pages: %w", err)
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("find executable: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("read mappings: %w", err)
	}
	defer f.Close()
	ranges, err := cleanReadOnlyMappings(bufio.NewScanner(f), exe)
	if err != nil {
		return 0, fmt.Errorf("read mappings: %w", err)
	}
	var dropped int64
	for _, r := range ranges {
		// MADV_DONTNEED on a private file mapping that was never written
		// only drops page-table entries: the next access maps the same
		// page-cache page again.
		// The raw call takes the address as an integer: the range is
		// never read or written from Go.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_RANDOM); errno != 0 {
			return dropped, fmt.Errorf("advise executable mapping %#x-%#x: %w", r[0], r[1], errno)
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], unix.MADV_DONTNEED); errno != 0 {
			return dropped, fmt.Errorf("drop executable mapping %#x-%#x: %w", r[0], r[1], errno)
		}
		dropped += int64(r[1] - r[0])
	}
	// The page cache may hold the executable in large folios, which the
	// kernel maps whole on a fault; dropping the cached pages that are no
	// longer mapped lets them come back one page at a time (MADV_RANDOM
	// turned read-ahead off for these mappings; Linux 6.16+ still reads
	// 128 KiB around a fault in code, and maps the cached pages of its
	// 64 KiB window: docs/benchmarks.md).
	// A freshly built or copied executable may still have dirty pages,
	// which cannot be dropped before they are written back.
	if exeFile, err := os.Open(exe); err == nil {
		_ = unix.Fdatasync(int(exeFile.Fd()))
		_ = unix.Fadvise(int(exeFile.Fd()), 0, 0, unix.FADV_DONTNEED)
		_ = exeFile.Close()
	}
	return dropped, nil
}

// cleanReadOnlyMappings returns the mappings of exe, read from
// /proc/self/smaps, that are read-only and hold no anonymous (copied) page.
// A relocated read-only segment (RELRO: the GOT of a cgo binary) was
// written by the dynamic loader before being made read-only: its pages are
// private copies, and dropping them would bring back the file's
// unrelocated bytes. Those are skipped.
func cleanReadOnlyMappings(sc *bufio.Scanner, exe string) ([][2]uintptr, error) {
	var out [][2]uintptr
	var cur [2]uintptr
	var inExe bool
	for sc.Scan() {
		line := sc.Text()
		if lo, hi, ok := readOnlyMappingOf(line, exe); ok {
			cur, inExe = [2]uintptr{lo, hi}, true
			continue
		}
		if strings.Contains(strings.Fields(line + " x")[0], "-") {
			inExe = false // the header of another mapping
			continue
		}
		if inExe && strings.HasPrefix(line, "Anonymous:") {
			if f := strings.Fields(line); len(f) >= 2 && f[1] == "0" {
				out = append(out, cur)
			}
			inExe = false
		}
	}
	return out, sc.Err()
}

// readOnlyMappingOf parses one /proc/self/maps line and reports the range
// when it maps file exe without write permission (r-xp, r--p).
func readOnlyMappingOf(line, exe string) (lo, hi uintptr, ok bool) {
	fields := strings.Fields(line)
	if len(fields) < 6 || strings.Join(fields[5:], " ") != exe {
		return 0, 0, false
	}
	perms := fields[1]
	if len(perms) < 4 || perms[0] != 'r' || perms[1] != '-' || perms[3] != 'p' {
		return 0, 0, false
	}
	a, b, found := strings.Cut(fields[0], "-")
	if !found {
		return 0, 0, false
	}
	l, err1 := strconv.ParseUint(a, 16, 64)
	h, err2 := strconv.ParseUint(b, 16, 64)
	if err1 != nil || err2 != nil || h <= l {
		return 0, 0, false
	}
	return uintptr(l), uintptr(h), true
}

// ServerGCPercent is the garbage collector's target of a server when GOGC
// is not set: vigie's live heap is small and its allocation rate low, so
// collecting at 50% growth instead of Go's 100% costs little CPU and keeps
// several MiB less resident.
const ServerGCPercent = 50

// AgentGCPercent is an agent's: its live heap is ~5 MiB for a node's
// collectors, so 25% growth keeps ~1.5 MiB less resident for a GC every
// few seconds, a fraction of a percent of a core (docs/benchmarks/agent.md).
const AgentGCPercent = 25

// TuneGC sets percent unless the GOGC environment variable chose a value,
// and returns the percent in force.
func TuneGC(percent int) int {
	if v, ok := os.LookupEnv("GOGC"); ok && v != "" {
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(percent)
	return percent
}

// StopMemoryProfiling turns off the runtime's sampling of allocations
// unless GODEBUG sets memprofilerate, and reports whether it did. Sampling
// is on by default in every Go program and costs vigie ~1.4 MiB of
// resident memory (the runtime's table of sampled stacks) and the code and
// tables its stack walks touch; nobody reads it unless they debug memory,
// and they can set GODEBUG=memprofilerate=524288 (Go's default) to get
// /debug/pprof/heap back.
func StopMemoryProfiling() bool {
	if strings.Contains(os.Getenv("GODEBUG"), "memprofilerate=") {
		return false
	}
	runtime.MemProfileRate = 0
	return true
}

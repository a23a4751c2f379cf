package footprint

import (
	"bufio"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

const smaps = `00400000-00403000 r--p 00000000 fe:00 42 /opt/vigie
Rss:                  12 kB
Anonymous:             0 kB
00403000-015b6000 r-xp 00003000 fe:00 42 /opt/vigie
Rss:               18124 kB
Anonymous:             0 kB
015b6000-02907000 r--p 011b6000 fe:00 42 /opt/vigie
Anonymous:             0 kB
02907000-0290a000 r--p 02507000 fe:00 42 /opt/vigie
Anonymous:            12 kB
0290a000-029d7000 rw-p 0250a000 fe:00 42 /opt/vigie
Anonymous:           700 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:00 43 /usr/lib/libc.so.6
Anonymous:             0 kB
`

func TestCleanReadOnlyMappings(t *testing.T) {
	got, err := cleanReadOnlyMappings(bufio.NewScanner(strings.NewReader(smaps)), "/opt/vigie")
	if err != nil {
		t.Fatal(err)
	}
	// The relocated read-only segment (anonymous pages) and the writable
	// one stay; so does another file's mapping.
	want := [][2]uintptr{{0x400000, 0x403000}, {0x403000, 0x15b6000}, {0x15b6000, 0x2907000}}
	if len(got) != len(want) {
		t.Fatalf("got %x, want %x", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("mapping %d: got %x, want %x", i, got[i], want[i])
		}
	}
}

// exeRSS is the resident size in kB of this executable's read-only mappings.
func exeRSS(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/smaps")
	if err != nil {
		t.Skipf("no /proc/self/smaps: %v", err)
	}
	exe, _ := os.Readlink("/proc/self/exe")
	total, in := 0, false
	for _, l := range strings.Split(string(b), "\n") {
		if _, _, ok := readOnlyMappingOf(l, exe); ok {
			in = true
			continue
		}
		if f := strings.Fields(l); len(f) >= 5 {
			in = false
			continue
		}
		if f := strings.Fields(l); in && len(f) == 3 && f[0] == "Rss:" {
			var n int
			for _, c := range f[1] {
				n = n*10 + int(c-'0')
			}
			total += n
		}
	}
	return total
}

// TestTrimExecutable runs on the test binary itself: afterwards the process
// has transparent huge pages off, keeps running (the relocated segment is
// intact: a cgo or dynamically linked binary would crash otherwise), and
// its read-only mappings hold less than before.
func TestTrimExecutable(t *testing.T) {
	before := exeRSS(t)
	n, err := TrimExecutable()
	if err != nil {
		t.Fatal(err)
	}
	after := exeRSS(t)
	if n == 0 || after >= before {
		t.Fatalf("dropped %d bytes; resident read-only mappings %d kB before, %d kB after", n, before, after)
	}
	v, err := unix.PrctlRetInt(unix.PR_GET_THP_DISABLE, 0, 0, 0, 0)
	if err != nil || v != 1 {
		t.Fatalf("PR_GET_THP_DISABLE = %d, %v; want 1", v, err)
	}
}

func TestTuneGC(t *testing.T) {
	t.Setenv("GOGC", "")
	if got := TuneGC(ServerGCPercent); got != ServerGCPercent {
		t.Fatalf("TuneGC() = %d without GOGC, want %d", got, ServerGCPercent)
	}
	t.Setenv("GOGC", "200")
	debug.SetGCPercent(200) // what the runtime read from GOGC at start
	if got := TuneGC(AgentGCPercent); got != 200 {
		t.Fatalf("TuneGC() = %d with GOGC=200, want 200", got)
	}
	debug.SetGCPercent(100)
}

func TestStopMemoryProfiling(t *testing.T) {
	defer func(rate int) { runtime.MemProfileRate = rate }(runtime.MemProfileRate)
	runtime.MemProfileRate = 512 * 1024
	t.Setenv("GODEBUG", "memprofilerate=1")
	if StopMemoryProfiling() || runtime.MemProfileRate == 0 {
		t.Fatalf("GODEBUG asked for memory profiles, but they were turned off")
	}
	t.Setenv("GODEBUG", "")
	if !StopMemoryProfiling() || runtime.MemProfileRate != 0 {
		t.Fatalf("MemProfileRate = %d without GODEBUG, want 0", runtime.MemProfileRate)
	}
}

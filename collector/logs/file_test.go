package logs

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/logs"
	"github.com/vigie-dev/vigie/storage"
)

// counting wraps the real store to let the test wait on what was stored.
type counting struct {
	*logs.Store
	n atomic.Int64
}

func (c *counting) Append(ctx context.Context, e []logs.Entry, cur map[string]string) error {
	err := c.Store.Append(ctx, e, cur)
	if err == nil {
		c.n.Add(int64(len(e)))
	}
	return err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func fileConfig(glob string) logs.Config {
	cfg := logs.DefaultConfig()
	cfg.Files = []logs.FileConfig{{Path: glob, Labels: map[string]string{"job": "app"}}}
	cfg.MaxLineSize = 1024
	cfg.Multiline.FlushTimeout = config.Duration(time.Millisecond)
	return cfg
}

// TestRotationExactlyOnce appends 100,000 numbered lines while the file is
// rotated every 10,000 lines, alternately by rename and by copytruncate:
// every line is stored exactly once.
func TestRotationExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	cs := &counting{Store: store}
	m := NewMetrics()
	p, _ := NewPipeline(m, nil)
	fs := newFileSource(cs, p, m, nil, time.Now)
	cfg := fileConfig(filepath.Join(dir, "*.log"))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil {
			fs.poll(ctx, cfg)
			time.Sleep(2 * time.Millisecond) // the poll interval
		}
	})
	t.Cleanup(func() { cancel(); wg.Wait(); fs.close() })

	const total, every = 100_000, 10_000
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 4096)
	fileStart := 0
	for i := range total {
		if i > 0 && i%every == 0 {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			if (i/every)%2 == 1 {
				// Rename: the tailer must have opened the current file (it
				// then reads the rest through its descriptor, unread lines included).
				waitFor(t, "the tailer to open the file", func() bool { return cs.n.Load() > int64(fileStart) })
				_ = f.Close()
				if err := os.Rename(path, fmt.Sprintf("%s.%d", path, i)); err != nil {
					t.Fatal(err)
				}
				if f, err = os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644); err != nil {
					t.Fatal(err)
				}
				w.Reset(f)
				fileStart = i
			} else {
				// copytruncate loses what was written after the tailer's last
				// read (logrotate's documented window): rotate once caught up.
				waitFor(t, "the tailer to catch up", func() bool { return cs.n.Load() == int64(i) })
				if err := copyFile(path, fmt.Sprintf("%s.%d", path, i)); err != nil {
					t.Fatal(err)
				}
				if err := f.Truncate(0); err != nil {
					t.Fatal(err)
				}
			}
		}
		fmt.Fprintf(w, "line %06d\n", i)
		if i%997 == 0 { // let the tailer see partial writes too
			_ = w.Flush()
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	waitFor(t, "every line", func() bool { return cs.n.Load() >= total })
	cancel()
	wg.Wait()
	for range 3 { // more polls add nothing
		fs.poll(context.Background(), cfg)
	}
	checkExactlyOnce(t, store, total)
	// A poll between the rename and the new file's creation sees the path
	// gone and counts "removed" instead of "rotated": both mean the file
	// left its path, five times.
	ev := func(name string) float64 { return testutil.ToFloat64(m.fileEvents.WithLabelValues(name)) }
	if left := ev("rotated") + ev("removed"); left != 5 {
		t.Errorf("rotated + removed events = %v, want 5", left)
	}
	if v := ev("truncated"); v != 4 {
		t.Errorf("truncated events = %v, want 4", v)
	}
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return err
	}
	return out.Close()
}

func checkExactlyOnce(t *testing.T, store *logs.Store, total int) {
	t.Helper()
	q, _ := logs.ParseQuery(`{job="app"}`)
	hits, err := store.Select(context.Background(), logs.Selection{Matchers: q.Matchers, End: math.MaxInt64, Limit: 2 * total}, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, total)
	for _, h := range hits {
		n, err := strconv.Atoi(strings.TrimPrefix(h.Line, "line "))
		if err != nil || n < 0 || n >= total {
			t.Fatalf("unexpected line %q", h.Line)
		}
		seen[n]++
	}
	bad := 0
	for i, c := range seen {
		if c != 1 {
			if bad++; bad < 10 {
				t.Errorf("line %06d seen %d times", i, c)
			}
		}
	}
	if len(hits) != total || bad > 0 {
		t.Fatalf("%d entries for %d lines, %d lines not seen exactly once", len(hits), total, bad)
	}
}

// TestKillDuringTail kills -9 a process tailing a file while lines are
// appended, starts it again, and finds every line stored exactly once:
// entries and positions are committed in one transaction.
func TestKillDuringTail(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	dbPath := filepath.Join(dir, "logs.db")
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestTailHelper$")
		cmd.Env = append(os.Environ(), "VIGIE_TAIL_HELPER="+dir)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	cmd := start()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	count := func() int {
		st, err := storage.OpenState(context.Background(), dbPath)
		if err != nil {
			return 0
		}
		defer st.Close()
		var n int
		_ = st.DB.QueryRow(`SELECT count(*) FROM log_lines`).Scan(&n)
		return n
	}
	const total = 100_000
	w := bufio.NewWriter(f)
	killed := false
	for i := range total {
		fmt.Fprintf(w, "line %06d\n", i)
		if i%5000 == 4999 {
			_ = w.Flush()
		}
		if !killed && i == total/2 {
			_ = w.Flush()
			waitFor(t, "some lines stored", func() bool { return count() > 10_000 })
			if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			_ = cmd.Wait()
			killed = true
			cmd = start()
		}
	}
	_ = w.Flush()
	waitFor(t, "every line stored", func() bool { return count() >= total })
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: dbPath})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	checkExactlyOnce(t, store, total)
}

// TestTailHelper is the process TestKillDuringTail kills.
func TestTailHelper(t *testing.T) {
	dir := os.Getenv("VIGIE_TAIL_HELPER")
	if dir == "" {
		t.Skip("helper process of TestKillDuringTail")
	}
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(dir, "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	cfg := fileConfig(filepath.Join(dir, "*.log"))
	cfg.PollInterval = config.Duration(5 * time.Millisecond)
	c, err := New(Options{Config: cfg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	_ = c.Run(context.Background()) // until killed
}

// TestFileEdgeCases: a new file, a line over the cap, invalid UTF-8, a
// stack trace, a file that disappears; never fatal, each counted.
func TestFileEdgeCases(t *testing.T) {
	dir := t.TempDir()
	store, err := logs.OpenStore(context.Background(), logs.StoreOptions{Path: filepath.Join(t.TempDir(), "logs.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	m := NewMetrics()
	p, _ := NewPipeline(m, nil)
	clock := time.Unix(1_800_000_000, 0)
	fs := newFileSource(store, p, m, nil, func() time.Time { return clock })
	t.Cleanup(fs.close)
	cfg := fileConfig(filepath.Join(dir, "*.log"))
	ctx := context.Background()
	fs.poll(ctx, cfg) // nothing yet

	a := filepath.Join(dir, "a.log")
	content := "first\n" + strings.Repeat("x", 3000) + "\n" + "bad \xff\xfe utf8\n" +
		"Exception in thread \"main\" java.lang.RuntimeException: boom\n\tat A.main(A.java:1)\n" +
		"partial"
	if err := os.WriteFile(a, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	fs.poll(ctx, cfg)
	lines := func() []string {
		q, _ := logs.ParseQuery(`{job="app"}`)
		hits, _ := store.Select(ctx, logs.Selection{Matchers: q.Matchers, End: math.MaxInt64, Limit: 100, Forward: true}, nil)
		var out []string
		for _, h := range hits {
			out = append(out, h.Line)
		}
		return out
	}
	// The stack trace waits for its flush timeout; "partial" for its newline.
	got := lines()
	if len(got) != 3 || got[0] != "first" || len(got[1]) != 1024 || got[2] != "bad \uFFFD utf8" {
		t.Fatalf("after the first poll: %q", got)
	}
	clock = clock.Add(time.Second)
	fs.poll(ctx, cfg)
	if got = lines(); len(got) != 4 || got[3] != "Exception in thread \"main\" java.lang.RuntimeException: boom\n\tat A.main(A.java:1)" {
		t.Fatalf("after the flush timeout: %q", got)
	}
	if v := testutil.ToFloat64(m.truncated); v != 1 {
		t.Errorf("truncated = %v", v)
	}
	if v := testutil.ToFloat64(m.invalidUTF8); v != 1 {
		t.Errorf("invalid UTF-8 = %v", v)
	}
	// The file goes away: its last line (even without a newline) is kept, its position forgotten.
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	fs.poll(ctx, cfg)
	if got = lines(); len(got) != 5 || got[4] != "partial" {
		t.Fatalf("after removal: %q", got)
	}
	if v := testutil.ToFloat64(m.fileEvents.WithLabelValues("removed")); v != 1 {
		t.Errorf("removed = %v", v)
	}
	if cur, _ := store.Cursors(ctx, cursorPrefix); len(cur) != 0 {
		t.Errorf("positions left: %v", cur)
	}
}

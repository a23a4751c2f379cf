package heartbeat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A daily backup watched for 100 days, with a restart of vigie in the
// middle (while it is down, a backup is missed): every change of status
// is recorded once, at the time the files tell, and survives the restart.
func TestFileHistory(t *testing.T) {
	ctx := context.Background()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	day := func(n int) time.Time { return start.AddDate(0, 0, n) }
	root := t.TempDir()
	dir := filepath.Join(root, "backup")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var written []string
	write := func(mtime time.Time, size int) {
		t.Helper()
		p := filepath.Join(dir, mtime.Format("20060102")+".dump")
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
		if written = append(written, p); len(written) > 3 { // keep three backups, as a rotation would
			if err := os.Remove(written[0]); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			written = written[1:]
		}
	}
	cfg := Config{Files: []FileConfig{{Name: "db", Path: "/backup/*.dump", MaxAge: dur(26 * time.Hour), MinSize: 1000}}}
	clk := newClock(start)
	db := openState(t, t.TempDir())
	open := func() *Heartbeats {
		h, err := New(ctx, Options{Config: cfg, StateDB: db, RootPath: root, Now: clk.now})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	h := open()
	write(day(-1).Add(3*time.Hour), 5000)
	for now := start; !now.After(day(100)); now = now.Add(time.Hour) {
		clk.set(now)
		d := int(now.Sub(start) / (24 * time.Hour))
		if now.Hour() == 3 && d != 20 && d != 51 {
			size := 5000
			if d == 60 {
				size = 100
			}
			write(now, size)
		}
		if now.Equal(day(75).Add(12 * time.Hour)) { // the backups are deleted
			for _, p := range written {
				if err := os.Remove(p); err != nil {
					t.Fatal(err)
				}
			}
			written = nil
		}
		switch {
		case now.Equal(day(50).Add(12 * time.Hour)): // vigie stops for a day
			continue
		case now.After(day(50).Add(12*time.Hour)) && now.Before(day(51).Add(12*time.Hour)):
			continue
		case now.Equal(day(51).Add(12 * time.Hour)): // and starts again
			h = open()
		}
		if err := h.observeFiles(ctx, now, ""); err != nil {
			t.Fatal(err)
		}
	}

	hist, err := h.FileHistory(ctx, "db", start.Add(-time.Hour), clk.now())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range hist {
		got = append(got, fmt.Sprintf("d%d+%s %s", int(tr.At.Sub(start)/(24*time.Hour)), tr.At.Sub(tr.At.Truncate(24*time.Hour)), tr.Status))
	}
	want := "d0+0s ok, d20+5h0m0s stale, d21+3h0m0s ok, d51+5h0m0s stale, d52+3h0m0s ok, " +
		"d60+3h0m0s too_small, d61+3h0m0s ok, d75+12h0m0s missing, d76+3h0m0s ok"
	if g := strings.Join(got, ", "); g != want {
		t.Errorf("history\n got %s\nwant %s", g, want)
	}
	// A window starts with the status in effect at its start.
	hist, err = h.FileHistory(ctx, "db", day(60).Add(12*time.Hour), day(90))
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 4 || hist[0].Status != FileTooSmall || !hist[0].At.Equal(day(60).Add(3*time.Hour)) {
		t.Errorf("history from day 60 noon: %v", hist)
	}
	files := h.Files()
	if len(files) != 1 || files[0].Status != FileOK || files[0].Since == nil || !files[0].Since.Equal(day(76).Add(3*time.Hour)) {
		t.Errorf("Files() = %+v", files)
	}
	if files[0].Count != 3 || *files[0].NewestSize != 5000 || files[0].MaxAge != "1d2h" {
		t.Errorf("Files() = %+v", files[0])
	}
}

func TestEvaluateFile(t *testing.T) {
	now := time.Date(2026, 5, 4, 4, 0, 0, 0, time.UTC)
	f := FileConfig{MaxAge: dur(26 * time.Hour), MinSize: 1000}
	fresh := fileStat{mtime: now.Add(-time.Hour), size: 5000}
	for _, c := range []struct {
		files []fileStat
		cfg   FileConfig
		want  FileStatus
		at    time.Time
	}{
		{nil, f, FileMissing, now},
		{[]fileStat{fresh}, f, FileOK, fresh.mtime},
		{[]fileStat{{mtime: now.Add(-27 * time.Hour), size: 5000}}, f, FileStale, now.Add(-time.Hour)},
		{[]fileStat{{mtime: now.Add(-27 * time.Hour), size: 5000}}, FileConfig{}, FileOK, now.Add(-27 * time.Hour)},
		{[]fileStat{{mtime: fresh.mtime, size: 10}}, f, FileTooSmall, fresh.mtime},
		{[]fileStat{{mtime: fresh.mtime, size: 2000}, {size: 5000}}, f, FileTooSmall, fresh.mtime},
	} {
		st, at := evaluateFile(c.cfg, c.files, now)
		if st != c.want || !at.Equal(c.at) {
			t.Errorf("evaluateFile(%+v, %v) = %s %v, want %s %v", c.cfg, c.files, st, at, c.want, c.at)
		}
	}
}

// Run records file checks' status changes on its own, without a reader.
func TestRunRecordsFileStatus(t *testing.T) {
	now := time.Date(2026, 5, 4, 4, 0, 0, 0, time.UTC)
	root, cfg := backupTree(t, now)
	h, err := New(context.Background(), Options{Config: cfg, StateDB: openState(t, t.TempDir()), RootPath: root,
		Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = h.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	want := map[string]FileStatus{"stale": FileStale, "empty": FileTooSmall, "good": FileOK, "none": FileMissing}
	deadline := time.Now().Add(10 * time.Second)
	for name, st := range want {
		for {
			trs, err := h.store.transitions(context.Background(), fileHistory, name, now, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(trs) == 1 {
				if FileStatus(trs[0].Status) != st || !trs[0].At.Equal(now) {
					t.Errorf("%s: recorded %v, want %s at %v", name, trs[0], st, now)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: Run recorded nothing in 10s", name)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

package logs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/logs"
)

// CursorStore is what the file source needs of the store: entries and
// positions written together, and positions read back at start.
type CursorStore interface {
	logs.Appender
	Cursor(ctx context.Context, source string) (string, bool, error)
	Cursors(ctx context.Context, prefix string) (map[string]string, error)
	DeleteCursor(ctx context.Context, source string) error
}

const (
	cursorPrefix = "file:"
	readBufSize  = 256 << 10
	fpSize       = 64 // bytes of a file's start that identify it
)

type fileID struct{ dev, ino uint64 }

func (id fileID) key() string { return fmt.Sprintf("%s%d:%d", cursorPrefix, id.dev, id.ino) }

// position is a file's saved cursor: the offset after the last stored
// entry, and a checksum of the file's first bytes so that a reused inode
// is not mistaken for the file.
type position struct {
	Path   string `json:"path"`
	Offset int64  `json:"offset"`
	FPLen  int    `json:"fp_len"`
	FP     uint32 `json:"fp"`
}

// tailedFile is one open file, followed by identity (device, inode): a
// file renamed by rotation is read to its end through the open descriptor
// while its path gets a new file.
type tailedFile struct {
	id        fileID
	path      string
	f         *os.File
	off       int64 // next byte to read
	partial   []byte
	skipping  bool // discarding the rest of a line over the cap
	join      joiner
	labels    labels.Labels
	src       *Source
	emitted   int64 // cursor of the last entry handed to the pipeline
	committed int64 // cursor saved in the store
	fpLen     int
	fp        uint32
	lastTS    int64 // entries of a file get increasing times, so they keep their order
}

// fileSource tails files by glob, polling: no inotify dependency, and it
// behaves the same on bind mounts and network filesystems.
type fileSource struct {
	store    CursorStore
	pipeline *Pipeline
	m        *Metrics
	logger   *slog.Logger
	now      func() time.Time

	maxLine int
	files   map[fileID]*tailedFile
	saved   map[string]string // positions found at start
	buf     []byte
	entries []logs.Entry
}

func newFileSource(store CursorStore, p *Pipeline, m *Metrics, logger *slog.Logger, now func() time.Time) *fileSource {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &fileSource{store: store, pipeline: p, m: m, logger: logger, now: now,
		files: map[fileID]*tailedFile{}, buf: make([]byte, readBufSize)}
}

type match struct {
	path string
	cfg  logs.FileConfig
}

// poll reads every matching file to its end, following rotations.
func (fs *fileSource) poll(ctx context.Context, cfg logs.Config) {
	first := fs.saved == nil
	if first {
		saved, err := fs.store.Cursors(ctx, cursorPrefix)
		if err != nil {
			fs.logger.Warn("read file positions", "err", err)
			return
		}
		fs.saved = saved
	}
	if first {
		defer fs.forgetStale(ctx)
	}
	fs.maxLine = int(cfg.MaxLineSize)
	seen := fs.glob(cfg.Files)
	// Files gone from their path first: their last lines come before the new file's.
	gone := make([]*tailedFile, 0)
	for id, tf := range fs.files {
		if _, ok := seen[id]; !ok {
			gone = append(gone, tf)
		}
	}
	sort.Slice(gone, func(i, j int) bool { return gone[i].path < gone[j].path })
	for _, tf := range gone {
		fs.closeFile(ctx, tf)
	}
	ids := make([]fileID, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return seen[ids[i]].path < seen[ids[j]].path })
	for _, id := range ids {
		tf, ok := fs.files[id]
		if !ok {
			if tf = fs.open(ctx, id, seen[id], cfg); tf == nil {
				continue
			}
		}
		fs.drain(ctx, tf)
	}
	fs.m.files.Set(float64(len(fs.files)))
}

// forgetStale deletes the saved positions of files not found at start.
func (fs *fileSource) forgetStale(ctx context.Context) {
	open := map[string]bool{}
	for id := range fs.files {
		open[id.key()] = true
	}
	for k := range fs.saved {
		if !open[k] {
			_ = fs.store.DeleteCursor(ctx, k)
		}
	}
}

func (fs *fileSource) glob(files []logs.FileConfig) map[fileID]match {
	seen := map[fileID]match{}
	for _, fc := range files {
		paths, _ := filepath.Glob(fc.Path) // the pattern was validated
		for _, p := range paths {
			fi, err := os.Stat(p)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			id := idOf(fi)
			if _, dup := seen[id]; !dup {
				seen[id] = match{path: p, cfg: fc}
			}
		}
	}
	return seen
}

func idOf(fi os.FileInfo) fileID {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fileID{dev: uint64(st.Dev), ino: st.Ino}
	}
	return fileID{}
}

func (fs *fileSource) open(ctx context.Context, id fileID, m match, cfg logs.Config) *tailedFile {
	f, err := os.Open(m.path)
	if err != nil {
		fs.m.fileEvents.WithLabelValues("read_error").Inc()
		fs.logger.Debug("open log file", "path", m.path, "err", err)
		return nil
	}
	fi, err := f.Stat()
	if err != nil || idOf(fi) != id { // replaced between glob and open: next poll
		_ = f.Close()
		return nil
	}
	source := m.cfg.Labels["source"]
	if source == "" {
		source = m.cfg.Path
	}
	b := labels.NewBuilder(labels.FromMap(m.cfg.Labels))
	b.Set("filename", m.path)
	b.Set("source", source)
	tf := &tailedFile{id: id, path: m.path, f: f, labels: b.Labels(), src: fs.pipeline.Source(source)}
	tf.join = joiner{maxLines: cfg.Multiline.MaxLines, timeout: cfg.Multiline.FlushTimeout.D(),
		emit: func(line []byte, ts, cursor int64) { fs.emit(tf, line, ts, cursor) }}
	if raw, ok := fs.saved[id.key()]; ok {
		var pos position
		if json.Unmarshal([]byte(raw), &pos) == nil && pos.Offset <= fi.Size() && fs.checkFP(tf, pos.FPLen, pos.FP) {
			tf.off, tf.emitted, tf.committed, tf.fpLen, tf.fp = pos.Offset, pos.Offset, pos.Offset, pos.FPLen, pos.FP
		}
	}
	fs.files[id] = tf
	fs.m.fileEvents.WithLabelValues("opened").Inc()
	fs.logger.Debug("tailing log file", "path", m.path, "offset", tf.off)
	return tf
}

// checkFP says whether the first n bytes of tf still have checksum fp.
func (fs *fileSource) checkFP(tf *tailedFile, n int, fp uint32) bool {
	if n == 0 {
		return true
	}
	var b [fpSize]byte
	got, _ := tf.f.ReadAt(b[:n], 0)
	return got == n && crc32.ChecksumIEEE(b[:n]) == fp
}

// drain reads tf from its offset to its end, committing entries and position together.
func (fs *fileSource) drain(ctx context.Context, tf *tailedFile) {
	fi, err := tf.f.Stat()
	if err != nil {
		fs.m.fileEvents.WithLabelValues("read_error").Inc()
		return
	}
	if fi.Size() < tf.off || !fs.checkFP(tf, tf.fpLen, tf.fp) { // copytruncate (or rewritten)
		fs.m.fileEvents.WithLabelValues("truncated").Inc()
		fs.logger.Debug("log file truncated", "path", tf.path, "offset", tf.off, "size", fi.Size())
		tf.join.flush()
		fs.commit(ctx, tf)
		tf.off, tf.emitted, tf.committed, tf.fpLen, tf.fp = 0, 0, 0, 0, 0
		tf.partial, tf.skipping = tf.partial[:0], false
	}
	for ctx.Err() == nil {
		n, err := tf.f.ReadAt(fs.buf, tf.off)
		if n > 0 {
			fs.split(tf, fs.buf[:n], fs.maxLine)
			tf.off += int64(n)
			fs.commit(ctx, tf)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			fs.m.fileEvents.WithLabelValues("read_error").Inc()
			fs.logger.Warn("read log file", "path", tf.path, "err", err)
			return
		}
		if n < len(fs.buf) {
			break
		}
	}
	tf.join.tick(fs.now())
	fs.commit(ctx, tf)
}

// split cuts data (read at tf.off) into lines for the joiner, keeping an
// unfinished last line for the next read.
func (fs *fileSource) split(tf *tailedFile, data []byte, maxLine int) {
	base := tf.off
	now := fs.now()
	next := func() int64 {
		tf.lastTS = max(now.UnixNano(), tf.lastTS+1)
		return tf.lastTS
	}
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			if !tf.skipping {
				tf.partial = append(tf.partial, data...)
				if len(tf.partial) > maxLine { // cut, and skip the rest of the line
					fs.m.truncated.Inc()
					tf.join.add(tf.partial[:maxLine], next(), base+int64(len(data)), now)
					tf.partial, tf.skipping = tf.partial[:0], true
				}
			}
			return
		}
		end := base + int64(i) + 1
		line := data[:i]
		data, base = data[i+1:], end
		if tf.skipping {
			tf.skipping = false
			continue
		}
		if len(tf.partial) > 0 {
			tf.partial = append(tf.partial, line...)
			line = tf.partial
		}
		if n := len(line); n > 0 && line[n-1] == '\r' {
			line = line[:n-1]
		}
		if len(line) > maxLine {
			fs.m.truncated.Inc()
			line = line[:maxLine]
		}
		tf.join.add(line, next(), end, now)
		tf.partial = tf.partial[:0]
	}
}

// emit is the joiner's output: one entry through the pipeline.
func (fs *fileSource) emit(tf *tailedFile, line []byte, ts, cursor int64) {
	var s string
	if utf8.Valid(line) {
		s = string(line)
	} else {
		fs.m.invalidUTF8.Inc()
		s = string(bytes.ToValidUTF8(line, []byte("\uFFFD")))
	}
	e := logs.Entry{Labels: tf.labels, TS: ts, Line: s}
	tf.src.Process(&e)
	fs.entries = append(fs.entries, e)
	tf.emitted = cursor
}

// commit stores the entries emitted so far with tf's position. When the
// store fails, tf goes back to its last saved position to read again.
func (fs *fileSource) commit(ctx context.Context, tf *tailedFile) {
	if len(fs.entries) == 0 && tf.emitted == tf.committed {
		return
	}
	if tf.fpLen < fpSize && tf.emitted > int64(tf.fpLen) {
		var b [fpSize]byte
		n, _ := tf.f.ReadAt(b[:min(int64(fpSize), tf.emitted)], 0)
		tf.fpLen, tf.fp = n, crc32.ChecksumIEEE(b[:n])
	}
	pos, _ := json.Marshal(position{Path: tf.path, Offset: tf.emitted, FPLen: tf.fpLen, FP: tf.fp})
	err := fs.store.Append(ctx, fs.entries, map[string]string{tf.id.key(): string(pos)})
	clear(fs.entries)
	fs.entries = fs.entries[:0]
	if err != nil {
		if ctx.Err() == nil {
			fs.logger.Warn("store log lines", "path", tf.path, "err", err)
		}
		tf.off, tf.emitted = tf.committed, tf.committed
		tf.partial, tf.skipping = tf.partial[:0], false
		tf.join.has = false
		return
	}
	tf.committed = tf.emitted
}

// closeFile reads a file that left its path to its end and forgets it.
func (fs *fileSource) closeFile(ctx context.Context, tf *tailedFile) {
	event := "removed"
	if _, err := os.Stat(tf.path); err == nil {
		event = "rotated"
	}
	fs.m.fileEvents.WithLabelValues(event).Inc()
	fs.drainAll(ctx, tf)
	_ = tf.f.Close()
	delete(fs.files, tf.id)
	if err := fs.store.DeleteCursor(ctx, tf.id.key()); err != nil {
		fs.logger.Warn("forget log file position", "path", tf.path, "err", err)
	}
}

func (fs *fileSource) drainAll(ctx context.Context, tf *tailedFile) {
	fs.drain(ctx, tf)
	if len(tf.partial) > 0 && !tf.skipping { // a last line without its newline
		now := fs.now()
		tf.lastTS = max(now.UnixNano(), tf.lastTS+1)
		tf.join.add(tf.partial[:min(len(tf.partial), fs.maxLine)], tf.lastTS, tf.off, now)
		tf.partial = tf.partial[:0]
	}
	tf.join.flush()
	fs.commit(ctx, tf)
}

// close stops tailing every file (pending multiline entries are read again at the next start).
func (fs *fileSource) close() {
	for id, tf := range fs.files {
		_ = tf.f.Close()
		delete(fs.files, id)
	}
}

package heartbeat

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fileStat is one file matching a check's glob.
type fileStat struct {
	path  string
	mtime time.Time
	size  int64
}

// checkFiles globs pattern under root and returns the regular files it
// matches, newest first. Directories are skipped; an unreadable match is
// returned as an error alongside the files that could be read.
func checkFiles(root, pattern string) ([]fileStat, error) {
	full := filepath.Join(root, strings.TrimPrefix(pattern, "/"))
	if r := filepath.Clean(root); r != "/" && !strings.HasPrefix(full, r+"/") {
		return nil, fmt.Errorf("path %s leaves the root path %s", pattern, root)
	}
	matches, err := filepath.Glob(full)
	if err != nil {
		return nil, err
	}
	var out []fileStat
	var firstErr error
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, fileStat{path: m, mtime: fi.ModTime(), size: fi.Size()})
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].mtime.Equal(out[j].mtime) {
			return out[i].mtime.After(out[j].mtime)
		}
		return out[i].path > out[j].path
	})
	return out, firstErr
}

// collectFile reports one file check. A match that cannot be stat'ed is
// logged once (until the error changes) and left out.
func (h *Heartbeats) collectFile(ch chan<- prometheus.Metric, f FileConfig) {
	d := &h.descs
	files, err := checkFiles(h.rootPath, f.Path)
	h.logFileError(f.Name, err)
	ch <- gauge(d.fileCount, float64(len(files)), f.Name)
	if f.MaxAge > 0 { // absent when not checked, so that rules need no literal
		ch <- gauge(d.fileMaxAge, f.MaxAge.D().Seconds(), f.Name)
	}
	if f.MinSize > 0 {
		ch <- gauge(d.fileMinSize, float64(f.MinSize), f.Name)
	}
	if len(files) > 0 {
		ch <- gauge(d.fileMtime, seconds(files[0].mtime), f.Name)
		ch <- gauge(d.fileSize, float64(files[0].size), f.Name)
	}
	if len(files) > 1 {
		ch <- gauge(d.filePrevSize, float64(files[1].size), f.Name)
	}
}

func (h *Heartbeats) logFileError(name string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if h.fileErr[name] == msg {
		return
	}
	h.fileErr[name] = msg
	if err != nil {
		h.logger.Warn("file check cannot read a matching file", "check", name, "err", err)
	}
}

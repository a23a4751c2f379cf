package heartbeat

import (
	"context"
	"errors"
	"sort"
	"time"
)

// FileStatus is a file check's state at one instant.
type FileStatus string

// File check statuses, from evaluateFile; they follow the BackupStale and
// BackupTooSmall rules (rules/builtin/heartbeats.yml).
const (
	FileOK       FileStatus = "ok"        // a fresh, big enough newest file
	FileStale    FileStatus = "stale"     // the newest file is older than max_age
	FileTooSmall FileStatus = "too_small" // under min_size, or under half the previous file
	FileMissing  FileStatus = "missing"   // no file matches the glob
)

// Up reports whether the status counts as up on the status page.
func (s FileStatus) Up() bool { return s == FileOK }

// FileTransition is a file check's change of status.
type FileTransition struct {
	At     time.Time  `json:"at"`
	Status FileStatus `json:"status"`
}

// FileInfo is a file check as of now, for the status page and the API.
type FileInfo struct {
	Name        string     `json:"name"`
	Path        string     `json:"path"`
	Status      FileStatus `json:"status"`
	Since       *time.Time `json:"since,omitempty"` // when the recorded status began
	MaxAge      string     `json:"max_age,omitempty"`
	MinSize     int64      `json:"min_size,omitempty"`
	Count       int        `json:"count"`
	NewestMtime *time.Time `json:"newest_mtime,omitempty"`
	NewestSize  *int64     `json:"newest_size,omitempty"`
}

// fileCheck is a file check's last recorded status (file_transitions).
type fileCheck struct {
	status   FileStatus
	statusAt time.Time
}

// evaluateFile is a file check's status given its matching files (newest
// first) as of now, and when that status began as far as the files tell:
// max_age after the newest file's mtime for stale, the mtime for ok and
// too_small, now for missing.
func evaluateFile(f FileConfig, files []fileStat, now time.Time) (FileStatus, time.Time) {
	if len(files) == 0 {
		return FileMissing, now
	}
	newest := files[0]
	if age := f.MaxAge.D(); age > 0 && now.Sub(newest.mtime) > age {
		return FileStale, newest.mtime.Add(age)
	}
	if (f.MinSize > 0 && newest.size < int64(f.MinSize)) || (len(files) > 1 && newest.size < files[1].size/2) {
		return FileTooSmall, newest.mtime
	}
	return FileOK, newest.mtime
}

// loadFileChecks returns the recorded status of the file checks of cfg,
// keeping old's for the names it has.
func (h *Heartbeats) loadFileChecks(ctx context.Context, cfg Config, old map[string]*fileCheck) (map[string]*fileCheck, error) {
	out := make(map[string]*fileCheck, len(cfg.Files))
	for _, f := range cfg.Files {
		if o, ok := old[f.Name]; ok {
			out[f.Name] = o
			continue
		}
		tr, err := h.store.lastTransition(ctx, fileHistory, f.Name)
		if err != nil {
			return nil, err
		}
		out[f.Name] = &fileCheck{status: FileStatus(tr.Status), statusAt: tr.At}
	}
	return out, nil
}

// observeFiles evaluates the file checks (or only the one named) as of
// now and records and logs each change of status. A check seen for the
// first time starts at now: before, vigie did not watch it.
func (h *Heartbeats) observeFiles(ctx context.Context, now time.Time, only string) error {
	h.mu.Lock()
	checks := h.cfg.Files
	h.mu.Unlock()
	var errs []error
	for _, f := range checks {
		if only != "" && f.Name != only {
			continue
		}
		files, _ := checkFiles(h.rootPath, f.Path) // unreadable matches: logged by the collector
		st, at := evaluateFile(f, files, now)
		h.mu.Lock()
		fc, ok := h.files[f.Name]
		if !ok || fc.status == st {
			h.mu.Unlock()
			continue
		}
		from := fc.status
		switch {
		case from == "" || at.After(now):
			at = now
		case at.Before(fc.statusAt):
			at = fc.statusAt
		}
		fc.status, fc.statusAt = st, at
		h.mu.Unlock()
		if from != "" {
			h.logger.Info("file check status changed", "check", f.Name, "from", from, "to", st)
		}
		if err := h.store.addTransition(ctx, fileHistory, f.Name, Transition{At: at, Status: Status(st)}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Files returns every file check, sorted by name, evaluated now.
func (h *Heartbeats) Files() []FileInfo {
	now := h.now()
	h.mu.Lock()
	checks := h.cfg.Files
	h.mu.Unlock()
	out := make([]FileInfo, 0, len(checks))
	for _, f := range checks {
		files, _ := checkFiles(h.rootPath, f.Path)
		st, _ := evaluateFile(f, files, now)
		in := FileInfo{Name: f.Name, Path: f.Path, Status: st, MinSize: int64(f.MinSize), Count: len(files)}
		if f.MaxAge > 0 {
			in.MaxAge = f.MaxAge.String()
		}
		if len(files) > 0 {
			mt, size := files[0].mtime, files[0].size
			in.NewestMtime, in.NewestSize = &mt, &size
		}
		h.mu.Lock()
		if fc, ok := h.files[f.Name]; ok && fc.status == st {
			since := fc.statusAt
			in.Since = &since
		}
		h.mu.Unlock()
		out = append(out, in)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// FileHistory returns file check name's status changes in (from, to],
// preceded by the status in effect at from, for the status page's bars.
// Statuses are recorded as Run finds them (and now, for this check).
func (h *Heartbeats) FileHistory(ctx context.Context, name string, from, to time.Time) ([]FileTransition, error) {
	if err := h.observeFiles(ctx, h.now(), name); err != nil {
		return nil, err
	}
	trs, err := h.store.transitions(ctx, fileHistory, name, from, to)
	if err != nil {
		return nil, err
	}
	out := make([]FileTransition, len(trs))
	for i, tr := range trs {
		out[i] = FileTransition{At: tr.At, Status: FileStatus(tr.Status)}
	}
	return out, nil
}

package node

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var fsLabels = []string{"device", "mountpoint", "fstype"}

func fsDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("node_filesystem_"+name, help, fsLabels, nil)
}

var (
	fsSizeDesc      = fsDesc("size_bytes", "Filesystem size in bytes.")
	fsFreeDesc      = fsDesc("free_bytes", "Filesystem free space in bytes.")
	fsAvailDesc     = fsDesc("avail_bytes", "Filesystem space available to non-root users in bytes.")
	fsFilesDesc     = fsDesc("files", "Filesystem total file nodes.")
	fsFilesFreeDesc = fsDesc("files_free", "Filesystem total free file nodes.")
	fsReadonlyDesc  = fsDesc("readonly", "Filesystem read-only status.")
	fsDevErrDesc    = fsDesc("device_error", "Whether an error occurred while getting statistics for the given device.")
	fsMountInfoDesc = prometheus.NewDesc("node_filesystem_mount_info", "Filesystem mount information.",
		[]string{"device", "major", "minor", "mountpoint"}, nil)
)

// fsState remembers mounts whose statfs did not answer in time: they are
// not stat'ed again (and report node_filesystem_device_error 1) until the
// hung call returns, so one dead NFS server costs one timeout, not one per gather.
type fsState struct {
	mu    sync.Mutex
	stuck map[string]struct{}
}

// mount is one filesystem to report.
type mount struct {
	device, mountpoint, fstype string
	major, minor               string
	ro                         bool
}

var errStuck = errors.New("mountpoint timeout")

// mounts lists the host's mounts (those of PID 1, as node_exporter), filtered.
func (c *Collector) mounts() ([]mount, error) {
	infos, err := c.procfs.GetProcMounts(1)
	if errors.Is(err, os.ErrNotExist) {
		// /proc/1 hidden (hidepid): our own mounts.
		infos, err = c.procfs.GetMounts()
	}
	if err != nil {
		return nil, err
	}
	out := make([]mount, 0, len(infos))
	seen := make(map[[3]string]bool, len(infos))
	for _, mi := range infos {
		mp := unescapeMount(stripRoot(c.cfg.RootPath, mi.MountPoint))
		if c.mountPointsExclude != nil && c.mountPointsExclude.MatchString(mp) {
			continue
		}
		if c.fsTypesExclude != nil && c.fsTypesExclude.MatchString(mi.FSType) {
			continue
		}
		key := [3]string{mi.Source, mp, mi.FSType}
		if seen[key] {
			continue
		}
		seen[key] = true
		major, minor, _ := strings.Cut(mi.MajorMinorVer, ":")
		_, ro := mi.Options["ro"]
		if _, sro := mi.SuperOptions["ro"]; sro {
			ro = true
		}
		if _, ero := mi.SuperOptions["emergency_ro"]; ero {
			ro = true
		}
		out = append(out, mount{
			device:     strings.ToValidUTF8(mi.Source, "\uFFFD"),
			mountpoint: strings.ToValidUTF8(mp, "\uFFFD"),
			fstype:     strings.ToValidUTF8(mi.FSType, "\uFFFD"),
			major:      major, minor: minor, ro: ro,
		})
	}
	return out, nil
}

type statResult struct {
	i   int
	st  syscall.Statfs_t
	err error
}

// updateFilesystem stats every selected mount concurrently, each under
// root_path, and gives up on those that have not answered by mount_timeout.
func (c *Collector) updateFilesystem(ctx context.Context, ch chan<- prometheus.Metric) error {
	ms, err := c.mounts()
	if err != nil {
		return err
	}
	results := make([]statResult, len(ms))
	finished := make([]bool, len(ms)) // guarded by c.fs.mu
	resCh := make(chan statResult, len(ms))
	pending := 0
	c.fs.mu.Lock()
	for i, m := range ms {
		if _, ok := c.fs.stuck[m.mountpoint]; ok {
			results[i].err = errStuck
			finished[i] = true
			continue
		}
		pending++
		go c.statfs(c.statfsFn, i, m.mountpoint, finished, resCh)
	}
	c.fs.mu.Unlock()

	if pending > 0 {
		timer := time.NewTimer(c.cfg.Filesystem.MountTimeout.D())
		defer timer.Stop()
	wait:
		for pending > 0 {
			select {
			case r := <-resCh:
				results[r.i] = r
				pending--
			case <-timer.C:
				break wait
			case <-ctx.Done():
				break wait
			}
		}
		if pending > 0 {
			c.fs.mu.Lock()
			for i, m := range ms {
				if !finished[i] {
					finished[i] = true // a late answer must not clear the mark
					c.fs.stuck[m.mountpoint] = struct{}{}
					results[i].err = errStuck
					c.logger.Warn("mount point did not answer statfs in time; not monitored until it does",
						"mountpoint", m.mountpoint, "timeout", c.cfg.Filesystem.MountTimeout)
				}
			}
			c.fs.mu.Unlock()
		}
	}

	for i, m := range ms {
		r := &results[i]
		ro := 0.0
		if m.ro {
			ro = 1
		}
		if r.err != nil {
			if !errors.Is(r.err, errStuck) {
				c.logger.Debug("statfs failed", "mountpoint", m.mountpoint, "err", r.err)
			}
			ch <- gauge(fsDevErrDesc, 1, m.device, m.mountpoint, m.fstype)
			ch <- gauge(fsReadonlyDesc, ro, m.device, m.mountpoint, m.fstype)
			continue
		}
		bsize := float64(r.st.Bsize)
		ch <- gauge(fsDevErrDesc, 0, m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsReadonlyDesc, ro, m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsSizeDesc, float64(r.st.Blocks)*bsize, m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsFreeDesc, float64(r.st.Bfree)*bsize, m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsAvailDesc, float64(r.st.Bavail)*bsize, m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsFilesDesc, float64(r.st.Files), m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsFilesFreeDesc, float64(r.st.Ffree), m.device, m.mountpoint, m.fstype)
		ch <- gauge(fsMountInfoDesc, 1, m.device, m.major, m.minor, m.mountpoint)
	}
	return nil
}

// statfs runs one statfs; if the mount had been marked stuck, its answer
// lifts the mark.
func (c *Collector) statfs(statfs func(string, *syscall.Statfs_t) error, i int, mountpoint string, finished []bool, out chan<- statResult) {
	r := statResult{i: i}
	r.err = statfs(filepath.Join(c.cfg.RootPath, mountpoint), &r.st)
	c.fs.mu.Lock()
	if finished[i] { // gave up on it: this answer is the recovery
		if _, ok := c.fs.stuck[mountpoint]; ok {
			delete(c.fs.stuck, mountpoint)
			c.logger.Info("mount point answers statfs again", "mountpoint", mountpoint)
		}
	}
	finished[i] = true
	c.fs.mu.Unlock()
	out <- r
}

// stripRoot turns a mount point seen under root_path into the host's view
// (node_exporter's --path.rootfs).
func stripRoot(root, mp string) string {
	root = strings.TrimSuffix(root, "/")
	if root == "" {
		return mp
	}
	if mp == root {
		return "/"
	}
	if strings.HasPrefix(mp, root+"/") {
		return mp[len(root):]
	}
	return mp
}

// unescapeMount decodes the octal escapes of mount points in mountinfo (\040 is a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }

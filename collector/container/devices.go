package container

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// deviceNames maps block device numbers to /dev names, as cAdvisor labels
// container_fs_* series, falling back to "major:minor" when sysfs does not say.
type deviceNames struct {
	root  string
	mu    sync.Mutex
	names map[[2]uint64]string
}

func newDeviceNames(root string) *deviceNames {
	return &deviceNames{root: root, names: map[[2]uint64]string{}}
}

func (d *deviceNames) name(major, minor uint64) string {
	key := [2]uint64{major, minor}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n, ok := d.names[key]; ok {
		return n
	}
	n := fmt.Sprintf("%d:%d", major, minor)
	if b, err := os.ReadFile(filepath.Join(d.root, n, "uevent")); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "DEVNAME="); ok && v != "" {
				n = "/dev/" + v
				break
			}
		}
	}
	d.names[key] = n
	return n
}

package node

import (
	"errors"
	"path/filepath"
	"regexp"

	"github.com/vigie-dev/vigie/config"
)

// Defaults of node_exporter (collector/filesystem_linux.go, diskstats_linux.go).
// The disk default is node_exporter 1.5's (Debian 12's): it keeps zram
// devices (compressed swap), which node_exporter ≥ 1.6 skips.
const (
	DefaultMountPointsExclude = `^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)`
	DefaultFSTypesExclude     = `^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$`
	DefaultDiskDeviceExclude  = `^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`
	DefaultVmstatFields       = `^(oom_kill|pgpg|pswp|pg.*fault).*`
	// DefaultNetstatFields is node_exporter 1.5's --collector.netstat.fields.
	DefaultNetstatFields = `^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$`
)

// Config is the collect.node section.
type Config struct {
	// Enabled switches the collector on (cmd/vigie registers it only then).
	Enabled bool `yaml:"enabled"`
	// ProcPath, SysPath and RootPath are where the host's /proc, /sys and /
	// are mounted (node_exporter's --path.procfs, --path.sysfs, --path.rootfs).
	ProcPath string `yaml:"proc_path"`
	SysPath  string `yaml:"sys_path"`
	RootPath string `yaml:"root_path"`
	// TextfileDirectory is where the textfile collector reads *.prom files
	// (node_exporter's --collector.textfile.directory; a glob is allowed);
	// empty turns the textfile collector off. The path is as vigie sees
	// it, not under root_path.
	TextfileDirectory string `yaml:"textfile_directory"`

	Filesystem FilesystemConfig `yaml:"filesystem"`
	Netdev     DeviceConfig     `yaml:"netdev"`
	Disk       DeviceConfig     `yaml:"disk"`
	Vmstat     VmstatConfig     `yaml:"vmstat"`
	Netstat    NetstatConfig    `yaml:"netstat"`
}

// FilesystemConfig selects the filesystems reported.
type FilesystemConfig struct {
	// MountPointsExclude is a regexp of mount points (as the host sees them) to skip.
	MountPointsExclude string `yaml:"mount_points_exclude"`
	// FSTypesExclude is a regexp of filesystem types to skip.
	FSTypesExclude string `yaml:"fs_types_exclude"`
	// MountTimeout is how long a statfs may take before the mount is marked
	// stuck (node_filesystem_device_error 1) and no longer stat'ed until it answers.
	MountTimeout config.Duration `yaml:"mount_timeout"`
}

// DeviceConfig selects devices by name.
type DeviceConfig struct {
	// DeviceExclude is a regexp of device names to skip; empty skips none.
	DeviceExclude string `yaml:"device_exclude"`
}

// VmstatConfig selects the /proc/vmstat fields reported.
type VmstatConfig struct {
	// Fields is a regexp of /proc/vmstat field names to report.
	Fields string `yaml:"fields"`
}

// NetstatConfig selects the /proc/net/{netstat,snmp,snmp6} fields reported.
type NetstatConfig struct {
	// Fields is a regexp of "<Proto>_<Field>" names to report as node_netstat_<Proto>_<Field>.
	Fields string `yaml:"fields"`
}

// DefaultConfig returns node_exporter's defaults.
func DefaultConfig() Config {
	return Config{
		Enabled:  true,
		ProcPath: "/proc",
		SysPath:  "/sys",
		RootPath: "/",
		Filesystem: FilesystemConfig{
			MountPointsExclude: DefaultMountPointsExclude,
			FSTypesExclude:     DefaultFSTypesExclude,
			MountTimeout:       config.Duration(5e9),
		},
		Netdev:  DeviceConfig{},
		Disk:    DeviceConfig{DeviceExclude: DefaultDiskDeviceExclude},
		Vmstat:  VmstatConfig{Fields: DefaultVmstatFields},
		Netstat: NetstatConfig{Fields: DefaultNetstatFields},
	}
}

// Validate checks the section; paths in errors are relative to it.
func (c Config) Validate() error {
	var errs []error
	for _, p := range []struct{ name, val string }{
		{"proc_path", c.ProcPath}, {"sys_path", c.SysPath}, {"root_path", c.RootPath},
	} {
		if p.val == "" {
			errs = append(errs, config.Errorf(p.name, "must not be empty"))
		} else if !filepath.IsAbs(p.val) {
			errs = append(errs, config.Errorf(p.name, "must be an absolute path, got %q", p.val))
		}
	}
	for _, r := range []struct{ name, val string }{
		{"filesystem.mount_points_exclude", c.Filesystem.MountPointsExclude},
		{"filesystem.fs_types_exclude", c.Filesystem.FSTypesExclude},
		{"netdev.device_exclude", c.Netdev.DeviceExclude},
		{"disk.device_exclude", c.Disk.DeviceExclude},
		{"vmstat.fields", c.Vmstat.Fields},
		{"netstat.fields", c.Netstat.Fields},
	} {
		if _, err := regexp.Compile(r.val); err != nil {
			errs = append(errs, config.Errorf(r.name, "invalid regular expression: %v", err))
		}
	}
	if c.TextfileDirectory != "" {
		if !filepath.IsAbs(c.TextfileDirectory) {
			errs = append(errs, config.Errorf("textfile_directory", "must be an absolute path, got %q", c.TextfileDirectory))
		} else if _, err := filepath.Match(c.TextfileDirectory, ""); err != nil {
			errs = append(errs, config.Errorf("textfile_directory", "invalid glob %q: %v", c.TextfileDirectory, err))
		}
	}
	if c.Filesystem.MountTimeout <= 0 {
		errs = append(errs, config.Errorf("filesystem.mount_timeout", "must be positive"))
	}
	return errors.Join(errs...)
}

package node

import (
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/config"
)

func TestDefaultConfigValid(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string
	}{
		{"bad regex", func(c *Config) { c.Filesystem.FSTypesExclude = "(" }, []string{"filesystem.fs_types_exclude: invalid regular expression"}},
		{"relative path", func(c *Config) { c.ProcPath = "proc" }, []string{`proc_path: must be an absolute path, got "proc"`}},
		{"empty paths and bad device regex", func(c *Config) { c.RootPath = ""; c.Disk.DeviceExclude = "[" },
			[]string{"root_path: must not be empty", "disk.device_exclude: invalid regular expression"}},
		{"timeout", func(c *Config) { c.Filesystem.MountTimeout = 0 }, []string{"filesystem.mount_timeout: must be positive"}},
		{"netstat regex", func(c *Config) { c.Netstat.Fields = "(" }, []string{"netstat.fields: invalid regular expression"}},
		{"textfile directory", func(c *Config) { c.TextfileDirectory = "prom" }, []string{`textfile_directory: must be an absolute path, got "prom"`}},
		{"textfile glob", func(c *Config) { c.TextfileDirectory = "/var/[" }, []string{`textfile_directory: invalid glob "/var/["`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestDecode checks the YAML keys, that omitted keys keep their defaults,
// and that errors point at the line.
func TestDecode(t *testing.T) {
	c := DefaultConfig()
	err := config.Decode("vigie.yml", []byte(`
proc_path: /host/proc
root_path: /host/root
filesystem:
  fs_types_exclude: ^tmpfs$
  mount_timeout: 2s
netdev:
  device_exclude: ^veth
netstat:
  fields: ^Tcp_.*
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.ProcPath != "/host/proc" || c.SysPath != "/sys" || c.RootPath != "/host/root" || !c.Enabled {
		t.Errorf("paths: %+v", c)
	}
	if c.Filesystem.FSTypesExclude != "^tmpfs$" || c.Filesystem.MountPointsExclude != DefaultMountPointsExclude ||
		c.Filesystem.MountTimeout.D().Seconds() != 2 || c.Netdev.DeviceExclude != "^veth" || c.Disk.DeviceExclude != DefaultDiskDeviceExclude {
		t.Errorf("decoded: %+v", c)
	}
	if c.Netstat.Fields != "^Tcp_.*" || c.Vmstat.Fields != DefaultVmstatFields {
		t.Errorf("decoded fields: netstat %q vmstat %q", c.Netstat.Fields, c.Vmstat.Fields)
	}

	c = DefaultConfig()
	err = config.Decode("vigie.yml", []byte("disk:\n  device_exclude: '('\n"), &c)
	if err == nil || !strings.Contains(err.Error(), "vigie.yml:2:19: disk.device_exclude: invalid regular expression") {
		t.Errorf("error = %v", err)
	}
	c = DefaultConfig()
	if err := config.Decode("vigie.yml", []byte("sys_pth: /x\n"), &c); err == nil || !strings.Contains(err.Error(), `unknown field "sys_pth"`) {
		t.Errorf("unknown key error = %v", err)
	}
}

func TestStripRoot(t *testing.T) {
	for _, tc := range []struct{ root, mp, want string }{
		{"/", "/var/lib", "/var/lib"},
		{"/rootfs", "/rootfs", "/"},
		{"/rootfs/", "/rootfs/var/lib", "/var/lib"},
		{"/rootfs", "/rootfs2/x", "/rootfs2/x"},
		{"/rootfs", "/etc/hosts", "/etc/hosts"},
	} {
		if got := stripRoot(tc.root, tc.mp); got != tc.want {
			t.Errorf("stripRoot(%q, %q) = %q, want %q", tc.root, tc.mp, got, tc.want)
		}
	}
	if got := unescapeMount(`/mnt/a\040b\011c\134d`); got != "/mnt/a b\tc\\d" {
		t.Errorf("unescapeMount = %q", got)
	}
}

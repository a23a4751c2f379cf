package node

import (
	"bytes"
	"context"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
)

type diskField struct {
	desc  *prometheus.Desc
	vt    prometheus.ValueType
	scale float64
}

func diskDesc(name, help string, vt prometheus.ValueType, scale float64) diskField {
	return diskField{prometheus.NewDesc("node_disk_"+name, help, []string{"device"}, nil), vt, scale}
}

const (
	secondsPerTick = 1.0 / 1000.0
	unixSectorSize = 512.0 // /proc/diskstats counts 512-byte sectors whatever the device
)

// diskFields are /proc/diskstats' counters in file order.
var diskFields = [17]diskField{
	diskDesc("reads_completed_total", "The total number of reads completed successfully.", prometheus.CounterValue, 1),
	diskDesc("reads_merged_total", "The total number of reads merged.", prometheus.CounterValue, 1),
	diskDesc("read_bytes_total", "The total number of bytes read successfully.", prometheus.CounterValue, unixSectorSize),
	diskDesc("read_time_seconds_total", "The total number of seconds spent by all reads.", prometheus.CounterValue, secondsPerTick),
	diskDesc("writes_completed_total", "The total number of writes completed successfully.", prometheus.CounterValue, 1),
	diskDesc("writes_merged_total", "The number of writes merged.", prometheus.CounterValue, 1),
	diskDesc("written_bytes_total", "The total number of bytes written successfully.", prometheus.CounterValue, unixSectorSize),
	diskDesc("write_time_seconds_total", "This is the total number of seconds spent by all writes.", prometheus.CounterValue, secondsPerTick),
	diskDesc("io_now", "The number of I/Os currently in progress.", prometheus.GaugeValue, 1),
	diskDesc("io_time_seconds_total", "Total seconds spent doing I/Os.", prometheus.CounterValue, secondsPerTick),
	diskDesc("io_time_weighted_seconds_total", "The weighted # of seconds spent doing I/Os.", prometheus.CounterValue, secondsPerTick),
	diskDesc("discards_completed_total", "The total number of discards completed successfully.", prometheus.CounterValue, 1),
	diskDesc("discards_merged_total", "The total number of discards merged.", prometheus.CounterValue, 1),
	diskDesc("discarded_sectors_total", "The total number of sectors discarded successfully.", prometheus.CounterValue, 1),
	diskDesc("discard_time_seconds_total", "This is the total number of seconds spent by all discards.", prometheus.CounterValue, secondsPerTick),
	diskDesc("flush_requests_total", "The total number of flush requests completed successfully", prometheus.CounterValue, 1),
	diskDesc("flush_requests_time_seconds_total", "This is the total number of seconds spent by all flush requests.", prometheus.CounterValue, secondsPerTick),
}

var diskInfoDesc = prometheus.NewDesc("node_disk_info", "Info of /sys/block/<block_device>.",
	[]string{"device", "major", "minor", "path", "wwn", "model", "serial", "revision", "rotational"}, nil)

// diskInfo is what node_disk_info says of one device, from udev's database.
type diskInfo struct {
	path, wwn, model, serial, revision, rotational string
}

func (c *Collector) updateDiskstats(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("diskstats")
	if err != nil {
		return err
	}
	// The buffer is reused by the udev and sysfs reads below: work on a copy.
	type dev struct {
		name, major, minor string
		n                  int
		v                  [17]float64
	}
	var devs []dev
	err = parseDiskstats(b, func(d *diskstat) {
		if c.diskExclude != nil && c.diskExclude.Match(d.name) {
			return
		}
		devs = append(devs, dev{c.intern(d.name), c.intern(d.major), c.intern(d.minor), d.n, d.v})
	})
	if err != nil {
		return err
	}
	for i := range devs {
		d := &devs[i]
		info := c.diskInfo(d.name, d.major, d.minor)
		ch <- gauge(diskInfoDesc, 1, d.name, d.major, d.minor, info.path, info.wwn, info.model, info.serial, info.revision, info.rotational)
		for j := 0; j < d.n; j++ {
			f := diskFields[j]
			ch <- prometheus.MustNewConstMetric(f.desc, f.vt, d.v[j]*f.scale, d.name)
		}
	}
	return nil
}

// diskInfo reads udev's properties of a block device (root_path/run/udev/data/b<major>:<minor>)
// and its rotational flag.
func (c *Collector) diskInfo(name, major, minor string) diskInfo {
	info := diskInfo{rotational: "0"}
	if b, err := c.readFile(c.sysFile("block/" + name + "/queue/rotational")); err == nil && len(trimSpace(b)) > 0 && trimSpace(b)[0] == '1' {
		info.rotational = "1"
	}
	b, err := c.readFile(filepath.Join(c.cfg.RootPath, "run/udev/data", "b"+major+":"+minor))
	if err != nil {
		return info
	}
	var serialShort, serial, scsiSerial string
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if !bytes.HasPrefix(line, []byte("E:")) {
			continue
		}
		k, v, ok := bytes.Cut(line[2:], []byte("="))
		if !ok {
			continue
		}
		switch string(k) {
		case "ID_PATH":
			info.path = c.intern(v)
		case "ID_WWN":
			info.wwn = c.intern(v)
		case "ID_MODEL":
			info.model = c.intern(v)
		case "ID_REVISION":
			info.revision = c.intern(v)
		case "ID_SERIAL":
			serial = c.intern(v)
		case "ID_SERIAL_SHORT":
			serialShort = c.intern(v)
		case "SCSI_IDENT_SERIAL":
			scsiSerial = c.intern(v)
		}
	}
	// node_exporter's preference: the serial on the label, then the short one, then ID_SERIAL.
	switch {
	case scsiSerial != "":
		info.serial = scsiSerial
	case serialShort != "":
		info.serial = serialShort
	default:
		info.serial = serial
	}
	return info
}

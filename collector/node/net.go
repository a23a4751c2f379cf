package node

import (
	"context"
	"os"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// netDevDescs are node_network_<field>_total for /proc/net/dev's columns.
var netDevDescs = func() (d [16]*prometheus.Desc) {
	for i, f := range netDevFields {
		d[i] = prometheus.NewDesc("node_network_"+f+"_total", "Network device statistic "+f+".", []string{"device"}, nil)
	}
	return d
}()

func netClassDesc(name string) *prometheus.Desc {
	return prometheus.NewDesc("node_network_"+name, "Network device property: "+name, []string{"device"}, nil)
}

var (
	netUpDesc = prometheus.NewDesc("node_network_up",
		"Value is 1 if operstate is 'up', 0 otherwise.", []string{"device"}, nil)
	netInfoDesc = prometheus.NewDesc("node_network_info",
		"Non-numeric data from /sys/class/net/<iface>, value is always 1.",
		[]string{"device", "address", "broadcast", "duplex", "operstate", "adminstate", "ifalias"}, nil)
	netMTUDesc        = netClassDesc("mtu_bytes")
	netCarrierDesc    = netClassDesc("carrier")
	netSpeedDesc      = netClassDesc("speed_bytes")
	netTxQueueLenDesc = netClassDesc("transmit_queue_length")
	netFlagsDesc      = netClassDesc("flags")
	netIfaceIDDesc    = netClassDesc("iface_id")
	// Not in /proc/net/dev: node_exporter takes it from netlink.
	netNoHandlerDesc = prometheus.NewDesc("node_network_receive_nohandler_total",
		"Network device statistic receive_nohandler.", []string{"device"}, nil)
)

// updateNetdev reports /proc/net/dev: traffic, errors and drops per interface.
// Like node_exporter, it sees the network namespace vigie runs in: in a
// container, use the host's network (network_mode: host).
func (c *Collector) updateNetdev(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("net/dev")
	if err != nil {
		return err
	}
	return parseNetDev(b, func(dev []byte, v *[16]float64) {
		if c.netdevExclude != nil && c.netdevExclude.Match(dev) {
			return
		}
		name := c.intern(dev)
		for i, d := range netDevDescs {
			ch <- counter(d, v[i], name)
		}
	})
}

// updateNetclass reports /sys/class/net/<iface>: link state and properties.
func (c *Collector) updateNetclass(_ context.Context, ch chan<- prometheus.Metric) error {
	dir := c.sysFile("class/net")
	f, err := os.Open(dir)
	if err != nil {
		if notExist(err) {
			return errNoData
		}
		return err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return err
	}
	for _, dev := range names {
		if c.netdevExclude != nil && c.netdevExclude.MatchString(dev) {
			continue
		}
		dfd, err := syscall.Open(dir+"/"+dev, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue // gone since the listing
		}
		attr := func(name string) (string, bool) {
			b, err := c.readAttrAt(dfd, name)
			if err != nil {
				return "", false
			}
			return c.intern(trimSpace(b)), true
		}
		num := func(name string) (float64, bool) {
			b, err := c.readAttrAt(dfd, name)
			if err != nil {
				return 0, false
			}
			return parseNumber(trimSpace(b))
		}
		operstate, _ := attr("operstate")
		address, _ := attr("address")
		broadcast, _ := attr("broadcast")
		duplex, _ := attr("duplex")
		ifalias, _ := attr("ifalias")
		adminstate := "unknown"
		flags, hasFlags := 0.0, false
		if b, err := c.readAttrAt(dfd, "flags"); err == nil {
			if n, ok := parseHex(trimSpace(b)); ok {
				flags, hasFlags = float64(n), true
				adminstate = "down"
				if n&1 == 1 { // IFF_UP
					adminstate = "up"
				}
			}
		}
		up := 0.0
		if operstate == "up" {
			up = 1
		}
		ch <- gauge(netUpDesc, up, dev)
		ch <- gauge(netInfoDesc, 1, dev, address, broadcast, duplex, operstate, adminstate, ifalias)
		if hasFlags {
			ch <- gauge(netFlagsDesc, flags, dev)
		}
		if v, ok := num("ifindex"); ok {
			ch <- gauge(netIfaceIDDesc, v, dev)
		}
		if v, ok := num("mtu"); ok {
			ch <- gauge(netMTUDesc, v, dev)
		}
		if v, ok := num("carrier"); ok {
			ch <- gauge(netCarrierDesc, v, dev)
		}
		if v, ok := num("speed"); ok { // Mb/s; -1 when unknown, reported as node_exporter does
			ch <- gauge(netSpeedDesc, float64(int64(v*1000*1000/8)), dev)
		}
		if v, ok := num("tx_queue_len"); ok {
			ch <- gauge(netTxQueueLenDesc, v, dev)
		}
		if v, ok := num("statistics/rx_nohandler"); ok {
			ch <- counter(netNoHandlerDesc, v, dev)
		}
		syscall.Close(dfd)
	}
	return nil
}

// parseHex parses sysfs' "0x1003".
func parseHex(b []byte) (uint64, bool) {
	if len(b) < 3 || b[0] != '0' || (b[1] != 'x' && b[1] != 'X') {
		return 0, false
	}
	var n uint64
	for _, ch := range b[2:] {
		switch {
		case ch >= '0' && ch <= '9':
			n = n<<4 | uint64(ch-'0')
		case ch >= 'a' && ch <= 'f':
			n = n<<4 | uint64(ch-'a'+10)
		case ch >= 'A' && ch <= 'F':
			n = n<<4 | uint64(ch-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}

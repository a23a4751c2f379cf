package node

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	sockstatUsedDesc = prometheus.NewDesc("node_sockstat_sockets_used",
		"Number of IPv4 sockets in use.", nil, nil)

	softnetProcessedDesc = prometheus.NewDesc("node_softnet_processed_total",
		"Number of processed packets", []string{"cpu"}, nil)
	softnetDroppedDesc = prometheus.NewDesc("node_softnet_dropped_total",
		"Number of dropped packets", []string{"cpu"}, nil)
	softnetSqueezedDesc = prometheus.NewDesc("node_softnet_times_squeezed_total",
		"Number of times processing packets ran out of quota", []string{"cpu"}, nil)

	arpEntriesDesc = prometheus.NewDesc("node_arp_entries",
		"ARP entries by device", []string{"device"}, nil)

	udpQueuesDesc = prometheus.NewDesc("node_udp_queues",
		"Number of allocated memory in the kernel for UDP datagrams in bytes.", []string{"queue", "ip"}, nil)
)

// updateNetstat reports the selected fields of /proc/net/netstat, snmp and
// snmp6 as node_netstat_<Proto>_<Field> (untyped, as node_exporter). Like
// netdev, it sees the network namespace vigie runs in.
func (c *Collector) updateNetstat(_ context.Context, ch chan<- prometheus.Metric) error {
	emit := func(key []byte, protoLen int, v float64) {
		d, ok := c.netstatDescs[string(key)]
		if !ok {
			k := string(key)
			if c.netstatFields.MatchString(k) {
				d = prometheus.NewDesc("node_netstat_"+k, "Statistic "+k[:protoLen]+k[protoLen+1:]+".", nil, nil)
			}
			c.netstatDescs[k] = d
		}
		if d != nil {
			ch <- untyped(d, v)
		}
	}
	var missing error
	for _, f := range [...]string{"net/netstat", "net/snmp", "net/snmp6"} {
		b, err := c.readProc(f)
		if err != nil {
			if !notExist(err) {
				return err
			}
			if f != "net/snmp6" { // snmp6 is absent with IPv6 off
				missing = errNoData
			}
			continue
		}
		if f == "net/snmp6" {
			err = parseSNMP6(b, c.scratch, emit)
		} else {
			err = parseNetstat(b, c.scratch, emit)
		}
		if err != nil {
			return err
		}
	}
	return missing
}

// updateSockstat reports /proc/net/sockstat and sockstat6: sockets in use
// and the memory they hold, per protocol (node_sockstat_<PROTO>_<field>).
func (c *Collector) updateSockstat(_ context.Context, ch chan<- prometheus.Metric) error {
	for _, f := range [...]string{"net/sockstat", "net/sockstat6"} {
		b, err := c.readProc(f)
		if err != nil {
			if notExist(err) { // IPv4 or IPv6 off: node_exporter reports what there is
				continue
			}
			return err
		}
		ipv6 := f == "net/sockstat6"
		err = parseSockstat(b, func(l sockstatLine) {
			if string(l.proto) == "sockets" {
				if !ipv6 {
					ch <- gauge(sockstatUsedDesc, l.v[ssUsed]) // 0 if the key is missing, as node_exporter
				}
				return
			}
			for i := range ssUsed {
				if l.has[i] || i == ssInuse { // node_exporter always reports inuse
					ch <- gauge(c.sockstatDesc(l.proto, i, false), l.v[i])
				}
			}
			if l.has[ssMem] { // in pages
				ch <- gauge(c.sockstatDesc(l.proto, ssMem, true), l.v[ssMem]*float64(c.pageSize))
			}
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// sockstatDesc returns node_sockstat_<proto>_<field>[_bytes]'s descriptor.
func (c *Collector) sockstatDesc(proto []byte, field int, bytesUnit bool) *prometheus.Desc {
	key := append(append(append(c.scratch[:0], proto...), '_'), sockstatKeys[field]...)
	if bytesUnit {
		key = append(key, "_bytes"...)
	}
	c.scratch = key[:0]
	if d, ok := c.sockstatDescs[string(key)]; ok {
		return d
	}
	k := string(key)
	state := k[len(proto)+1:]
	d := prometheus.NewDesc("node_sockstat_"+k, "Number of "+string(proto)+" sockets in state "+state+".", nil, nil)
	c.sockstatDescs[k] = d
	return d
}

// updateSoftnet reports /proc/net/softnet_stat. As in node_exporter 1.5,
// the cpu label is the line's index (lines of offline CPUs are omitted by
// the kernel).
func (c *Collector) updateSoftnet(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("net/softnet_stat")
	if err != nil {
		return err
	}
	return parseSoftnet(b, func(i int, processed, dropped, squeezed float64) {
		cpu := c.cpuLabel(i)
		ch <- counter(softnetProcessedDesc, processed, cpu)
		ch <- counter(softnetDroppedDesc, dropped, cpu)
		ch <- counter(softnetSqueezedDesc, squeezed, cpu)
	})
}

// updateARP reports the number of ARP (IPv4 neighbour) entries per device.
func (c *Collector) updateARP(_ context.Context, ch chan<- prometheus.Metric) error {
	b, err := c.readProc("net/arp")
	if err != nil {
		return err
	}
	counts := c.arpCounts[:0]
	err = parseARP(b, func(dev []byte) {
		for i := range counts {
			if counts[i].dev == string(dev) {
				counts[i].n++
				return
			}
		}
		counts = append(counts, devCount{c.intern(dev), 1})
	})
	c.arpCounts = counts[:0]
	if err != nil {
		return err
	}
	for _, dc := range counts {
		ch <- gauge(arpEntriesDesc, dc.n, dc.dev)
	}
	return nil
}

type devCount struct {
	dev string
	n   float64
}

// updateUDPQueues reports the bytes queued in UDP sockets' send and receive
// buffers, summed per IP version.
func (c *Collector) updateUDPQueues(_ context.Context, ch chan<- prometheus.Metric) error {
	found := false
	for _, v := range [...]struct{ file, ip string }{{"net/udp", "v4"}, {"net/udp6", "v6"}} {
		b, err := c.readProc(v.file)
		if err != nil {
			if notExist(err) {
				continue
			}
			return err
		}
		tx, rx, err := parseUDPQueues(b)
		if err != nil {
			return err
		}
		found = true
		ch <- gauge(udpQueuesDesc, tx, "tx", v.ip)
		ch <- gauge(udpQueuesDesc, rx, "rx", v.ip)
	}
	if !found {
		return errNoData
	}
	return nil
}

var (
	entropyAvailDesc = prometheus.NewDesc("node_entropy_available_bits",
		"Bits of available entropy.", nil, nil)
	entropyPoolSizeDesc = prometheus.NewDesc("node_entropy_pool_size_bits",
		"Bits of entropy pool.", nil, nil)
)

// updateEntropy reports the kernel's entropy pool (/proc/sys/kernel/random).
func (c *Collector) updateEntropy(_ context.Context, ch chan<- prometheus.Metric) error {
	for _, f := range [...]struct {
		name string
		desc *prometheus.Desc
	}{{"sys/kernel/random/entropy_avail", entropyAvailDesc}, {"sys/kernel/random/poolsize", entropyPoolSizeDesc}} {
		b, err := c.readProc(f.name)
		if err != nil {
			if notExist(err) {
				return errNoData
			}
			return err
		}
		v, ok := parseUint(trimSpace(b))
		if !ok {
			return errors.New(f.name + ": not a number")
		}
		ch <- gauge(f.desc, float64(v))
	}
	return nil
}

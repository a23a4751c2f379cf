package node

import (
	"bytes"
	"fmt"
)

// Parsers of the network protocol files (/proc/net/netstat, snmp, snmp6,
// sockstat, softnet_stat, arp, udp). Like those of parse.go they allocate
// nothing: keys are built in a caller's scratch buffer and handed to a
// callback, valid only during the call.

// parseNetstat parses /proc/net/netstat or /proc/net/snmp: pairs of lines,
// "Proto: Name1 Name2 …" then "Proto: v1 v2 …". fn gets node_exporter's key
// "Proto_Name" (the protocol is key[:protoLen]) and the value.
func parseNetstat(b, scratch []byte, fn func(key []byte, protoLen int, v float64)) error {
	for len(b) > 0 {
		var names, vals []byte
		names, b = nextLine(b)
		if len(bytes.TrimSpace(names)) == 0 {
			continue
		}
		vals, b = nextLine(b)
		proto, names := firstField(names)
		vproto, vals := firstField(vals)
		if len(proto) < 2 || proto[len(proto)-1] != ':' || !bytes.Equal(proto, vproto) {
			return fmt.Errorf("netstat: header %q without its values line", proto)
		}
		proto = proto[:len(proto)-1]
		for {
			var name, val []byte
			name, names = firstField(names)
			val, vals = firstField(vals)
			if len(name) == 0 && len(val) == 0 {
				break
			}
			if len(name) == 0 || len(val) == 0 {
				return fmt.Errorf("netstat: field count mismatch for %s", proto)
			}
			v, ok := parseNumber(val)
			if !ok {
				return fmt.Errorf("netstat: bad value %q for %s%s", val, proto, name)
			}
			key := append(append(append(scratch[:0], proto...), '_'), name...)
			fn(key, len(proto), v)
		}
	}
	return nil
}

// parseSNMP6 parses /proc/net/snmp6: "Ip6InReceives  12" lines, split after
// the protocol's "6" as node_exporter does ("Ip6_InReceives").
func parseSNMP6(b, scratch []byte, fn func(key []byte, protoLen int, v float64)) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		name, rest := firstField(line)
		val, _ := firstField(rest)
		if len(val) == 0 {
			continue
		}
		i := bytes.IndexByte(name, '6')
		if i < 0 {
			continue
		}
		v, ok := parseNumber(val)
		if !ok {
			return fmt.Errorf("snmp6: bad value %q for %s", val, name)
		}
		key := append(append(append(scratch[:0], name[:i+1]...), '_'), name[i+1:]...)
		fn(key, i+1, v)
	}
	return nil
}

// Fields of a sockstat line, in node_exporter's order.
const (
	ssInuse = iota
	ssOrphan
	ssTW
	ssAlloc
	ssMem
	ssMemory
	ssUsed // "sockets: used N"
	ssFields
)

var sockstatKeys = [ssFields]string{"inuse", "orphan", "tw", "alloc", "mem", "memory", "used"}

// sockstatLine is one line of /proc/net/sockstat{,6}: "TCP: inuse 5 orphan 0 …".
type sockstatLine struct {
	proto []byte
	has   [ssFields]bool
	v     [ssFields]float64
}

// parseSockstat calls fn for each line of /proc/net/sockstat{,6}. Unknown
// keys are ignored.
func parseSockstat(b []byte, fn func(l sockstatLine)) error {
	var l sockstatLine
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		proto, rest := firstField(line)
		if len(proto) == 0 {
			continue
		}
		if len(proto) < 2 || proto[len(proto)-1] != ':' {
			return fmt.Errorf("sockstat: bad line %q", line)
		}
		l = sockstatLine{proto: proto[:len(proto)-1]}
		n := 0
		for {
			var k, v []byte
			k, rest = firstField(rest)
			if len(k) == 0 {
				break
			}
			v, rest = firstField(rest)
			if len(v) == 0 {
				return fmt.Errorf("sockstat: odd number of fields in %q", line)
			}
			x, ok := parseNumber(v)
			if !ok {
				return fmt.Errorf("sockstat: bad value in %q", line)
			}
			n++
			for i, name := range sockstatKeys {
				if string(k) == name {
					l.v[i], l.has[i] = x, true
					break
				}
			}
		}
		if n == 0 {
			return fmt.Errorf("sockstat: bad line %q", line)
		}
		fn(l)
	}
	return nil
}

// parseSoftnet calls fn for each line (one per online CPU) of
// /proc/net/softnet_stat: its first three hexadecimal columns.
func parseSoftnet(b []byte, fn func(i int, processed, dropped, squeezed float64)) error {
	i := 0
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		if len(line) == 0 {
			continue
		}
		var cols [3]float64
		n := 0
		for rest := line; ; n++ {
			var f []byte
			f, rest = firstField(rest)
			if len(f) == 0 {
				break
			}
			if n < len(cols) {
				v, ok := parseHex32(f)
				if !ok {
					return fmt.Errorf("softnet_stat: bad value %q", f)
				}
				cols[n] = float64(v)
			}
		}
		if n < 9 {
			return fmt.Errorf("softnet_stat: %d columns, want at least 9", n)
		}
		fn(i, cols[0], cols[1], cols[2])
		i++
	}
	return nil
}

// parseHex32 parses a bare hexadecimal 32-bit number ("0001c67a").
func parseHex32(b []byte) (uint32, bool) {
	v, ok := parseHexDigits(b)
	return uint32(v), ok && len(b) <= 8
}

func parseHexDigits(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var n uint64
	for _, ch := range b {
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

// parseARP calls fn with the device of each entry of /proc/net/arp.
func parseARP(b []byte, fn func(dev []byte)) error {
	var fields [12][]byte // the header has 9
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		fs := splitFields(line, fields[:0])
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 6 {
			return fmt.Errorf("arp: unexpected format %q", line)
		}
		if string(fs[0]) == "IP" { // the header
			continue
		}
		fn(fs[len(fs)-1])
	}
	return nil
}

// parseUDPQueues sums the tx_queue and rx_queue columns ("00000000:00000000",
// hexadecimal bytes) of /proc/net/udp{,6}.
func parseUDPQueues(b []byte) (tx, rx float64, err error) {
	_, b = nextLine(b)    // the header
	var fields [16][]byte // 13 columns today
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		fs := splitFields(line, fields[:0])
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 10 {
			return 0, 0, fmt.Errorf("udp: short socket line %q", line)
		}
		t, r, ok := bytes.Cut(fs[4], []byte(":"))
		tv, ok1 := parseHexDigits(t)
		rv, ok2 := parseHexDigits(r)
		if !ok || !ok1 || !ok2 {
			return 0, 0, fmt.Errorf("udp: bad queues %q", fs[4])
		}
		tx += float64(tv)
		rx += float64(rv)
	}
	return tx, rx, nil
}

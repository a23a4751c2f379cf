package node

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// The parsers below take a file's bytes and call back with what they find.
// They allocate nothing on the common path: the collector reads every file
// into one reused buffer and looks descriptors up by byte-slice keys.

// userHZ is the unit of /proc/stat's CPU times (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

// nextLine splits b at the first newline.
func nextLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' }

// splitFields appends the space-separated fields of line to dst[:0].
func splitFields(line []byte, dst [][]byte) [][]byte {
	dst = dst[:0]
	i := 0
	for i < len(line) {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		start := i
		for i < len(line) && !isSpace(line[i]) {
			i++
		}
		if i > start {
			dst = append(dst, line[start:i])
		}
	}
	return dst
}

// firstField returns the first space-separated field of line and the rest.
func firstField(line []byte) (field, rest []byte) {
	i := 0
	for i < len(line) && isSpace(line[i]) {
		i++
	}
	start := i
	for i < len(line) && !isSpace(line[i]) {
		i++
	}
	return line[start:i], line[i:]
}

// parseUint parses a decimal unsigned integer.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parseNumber parses an integer quickly, or any float through strconv.
func parseNumber(b []byte) (float64, bool) {
	if n, ok := parseUint(b); ok {
		return float64(n), true
	}
	neg := len(b) > 1 && b[0] == '-'
	if neg {
		if n, ok := parseUint(b[1:]); ok {
			return -float64(n), true
		}
	}
	f, err := strconv.ParseFloat(string(b), 64)
	return f, err == nil
}

var errShort = errors.New("unexpected format")

// cpuTimes is one "cpuN" line of /proc/stat, in seconds.
type cpuTimes struct {
	id int
	// user nice system idle iowait irq softirq steal guest guest_nice
	v [10]float64
}

const (
	cpuUser = iota
	cpuNice
	cpuSystem
	cpuIdle
	cpuIowait
	cpuIRQ
	cpuSoftIRQ
	cpuSteal
	cpuGuest
	cpuGuestNice
)

// procStat is what vigie takes from /proc/stat.
type procStat struct {
	cpus                        []cpuTimes
	intr, ctxt, btime, forks    float64
	procsRunning, procsBlocked  float64
	hasIntr, hasCtxt, hasBtime  bool
	hasForks, hasRunning, hasBl bool
}

// parseStat parses /proc/stat into st, reusing st.cpus.
func parseStat(b []byte, st *procStat) error {
	cpus := st.cpus[:0]
	*st = procStat{}
	var fs [][]byte
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		key, rest := firstField(line)
		switch {
		case len(key) > 3 && bytes.HasPrefix(key, []byte("cpu")):
			id, ok := parseUint(key[3:])
			if !ok {
				return fmt.Errorf("/proc/stat: bad cpu line %q", key)
			}
			var fields [16][]byte
			fs = splitFields(rest, fields[:0])
			ct := cpuTimes{id: int(id)}
			for i := 0; i < len(fs) && i < len(ct.v); i++ {
				n, ok := parseUint(fs[i])
				if !ok {
					return fmt.Errorf("/proc/stat: bad value for %s", key)
				}
				ct.v[i] = float64(n) / userHZ
			}
			cpus = append(cpus, ct)
		case string(key) == "intr":
			v, _ := firstField(rest)
			st.intr, st.hasIntr = parseNumber(v)
		case string(key) == "ctxt":
			v, _ := firstField(rest)
			st.ctxt, st.hasCtxt = parseNumber(v)
		case string(key) == "btime":
			v, _ := firstField(rest)
			st.btime, st.hasBtime = parseNumber(v)
		case string(key) == "processes":
			v, _ := firstField(rest)
			st.forks, st.hasForks = parseNumber(v)
		case string(key) == "procs_running":
			v, _ := firstField(rest)
			st.procsRunning, st.hasRunning = parseNumber(v)
		case string(key) == "procs_blocked":
			v, _ := firstField(rest)
			st.procsBlocked, st.hasBl = parseNumber(v)
		}
	}
	st.cpus = cpus
	if len(cpus) == 0 {
		return fmt.Errorf("/proc/stat: no cpu lines: %w", errShort)
	}
	return nil
}

// parseMeminfo calls fn with node_exporter's name for each /proc/meminfo
// field ("Active(anon):  12 kB" → "Active_anon_bytes", 12288) and its value.
// key is only valid during the call.
func parseMeminfo(b []byte, scratch []byte, fn func(key []byte, v float64)) error {
	n := 0
	var fields [4][]byte
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		fs := splitFields(line, fields[:0])
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 2 || fs[0][len(fs[0])-1] != ':' {
			return fmt.Errorf("/proc/meminfo: bad line %q", line)
		}
		name := fs[0][:len(fs[0])-1]
		v, ok := parseNumber(fs[1])
		if !ok {
			return fmt.Errorf("/proc/meminfo: bad value in %q", line)
		}
		key := scratch[:0]
		if i := bytes.IndexByte(name, '('); i >= 0 && name[len(name)-1] == ')' {
			key = append(key, name[:i]...)
			key = append(key, '_')
			key = append(key, name[i+1:len(name)-1]...)
		} else {
			key = append(key, name...)
		}
		if len(fs) == 3 { // a unit, always kB
			v *= 1024
			key = append(key, "_bytes"...)
		}
		fn(key, v)
		n++
	}
	if n == 0 {
		return fmt.Errorf("/proc/meminfo: %w", errShort)
	}
	return nil
}

// parseKeyValues calls fn for each "name value" line (/proc/vmstat).
func parseKeyValues(b []byte, fn func(key []byte, v float64)) error {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		key, rest := firstField(line)
		if len(key) == 0 {
			continue
		}
		val, _ := firstField(rest)
		v, ok := parseNumber(val)
		if !ok {
			return fmt.Errorf("bad value in %q", line)
		}
		fn(key, v)
	}
	return nil
}

// parseLoadavg parses /proc/loadavg.
func parseLoadavg(b []byte) (loads [3]float64, err error) {
	var fields [6][]byte
	fs := splitFields(b, fields[:0])
	if len(fs) < 3 {
		return loads, fmt.Errorf("/proc/loadavg: %w", errShort)
	}
	for i := range loads {
		v, err := strconv.ParseFloat(string(fs[i]), 64)
		if err != nil {
			return loads, fmt.Errorf("/proc/loadavg: %w", err)
		}
		loads[i] = v
	}
	return loads, nil
}

// parseFileNr parses /proc/sys/fs/file-nr: allocated, unused (always 0), maximum.
func parseFileNr(b []byte) (allocated, maximum float64, err error) {
	var fields [4][]byte
	fs := splitFields(bytes.TrimSpace(b), fields[:0])
	if len(fs) < 3 {
		return 0, 0, fmt.Errorf("file-nr: %w", errShort)
	}
	a, ok1 := parseNumber(fs[0])
	m, ok2 := parseNumber(fs[2])
	if !ok1 || !ok2 {
		return 0, 0, fmt.Errorf("file-nr: bad values %q", b)
	}
	return a, m, nil
}

// netDevFields are /proc/net/dev's columns under node_exporter's names.
var netDevFields = [16]string{
	"receive_bytes", "receive_packets", "receive_errs", "receive_drop",
	"receive_fifo", "receive_frame", "receive_compressed", "receive_multicast",
	"transmit_bytes", "transmit_packets", "transmit_errs", "transmit_drop",
	"transmit_fifo", "transmit_colls", "transmit_carrier", "transmit_compressed",
}

// parseNetDev calls fn for each interface of /proc/net/dev.
func parseNetDev(b []byte, fn func(dev []byte, v *[16]float64)) error {
	var fields [20][]byte
	var v [16]float64
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue // the two header lines
		}
		dev := bytes.TrimSpace(line[:i])
		fs := splitFields(line[i+1:], fields[:0])
		if len(fs) < 16 {
			return fmt.Errorf("/proc/net/dev: short line for %s", dev)
		}
		for j := range v {
			n, ok := parseUint(fs[j])
			if !ok {
				return fmt.Errorf("/proc/net/dev: bad value for %s", dev)
			}
			v[j] = float64(n)
		}
		fn(dev, &v)
	}
	return nil
}

// diskstat is one line of /proc/diskstats: up to 17 counters after the name.
type diskstat struct {
	major, minor, name []byte
	n                  int // counters present: 11 (<4.18), 15 (<5.5) or 17
	v                  [17]float64
}

// parseDiskstats calls fn for each line of /proc/diskstats.
func parseDiskstats(b []byte, fn func(d *diskstat)) error {
	var fields [24][]byte
	var d diskstat
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		fs := splitFields(line, fields[:0])
		if len(fs) == 0 {
			continue
		}
		if len(fs) < 14 {
			return fmt.Errorf("/proc/diskstats: short line %q", line)
		}
		d.major, d.minor, d.name = fs[0], fs[1], fs[2]
		d.n = min(len(fs)-3, len(d.v))
		for j := 0; j < d.n; j++ {
			n, ok := parseUint(fs[3+j])
			if !ok {
				return fmt.Errorf("/proc/diskstats: bad value for %s", d.name)
			}
			d.v[j] = float64(n)
		}
		fn(&d)
	}
	return nil
}

// parsePSI parses a /proc/pressure file: the "total" (µs) of its some and full lines.
func parsePSI(b []byte) (some, full float64, hasSome, hasFull bool, err error) {
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		kind, rest := firstField(line)
		i := bytes.Index(rest, []byte("total="))
		if i < 0 {
			continue
		}
		v, _ := firstField(rest[i+len("total="):])
		n, ok := parseUint(v)
		if !ok {
			return 0, 0, false, false, fmt.Errorf("pressure: bad total in %q", line)
		}
		switch string(kind) {
		case "some":
			some, hasSome = float64(n), true
		case "full":
			full, hasFull = float64(n), true
		}
	}
	if !hasSome && !hasFull {
		return 0, 0, false, false, fmt.Errorf("pressure: %w", errShort)
	}
	return some, full, hasSome, hasFull, nil
}

// parseOSRelease parses os-release(5): KEY=value lines, values optionally
// quoted with shell quoting.
func parseOSRelease(b []byte) map[string]string {
	m := map[string]string{}
	for len(b) > 0 {
		var line []byte
		line, b = nextLine(b)
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, v, ok := bytes.Cut(line, []byte("="))
		if !ok {
			continue
		}
		m[string(k)] = unquote(v)
	}
	return m
}

func unquote(v []byte) string {
	if len(v) < 2 || (v[0] != '"' && v[0] != '\'') || v[len(v)-1] != v[0] {
		return string(v)
	}
	q := v[0]
	v = v[1 : len(v)-1]
	if q == '\'' || bytes.IndexByte(v, '\\') < 0 {
		return string(v)
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		out = append(out, v[i])
	}
	return string(out)
}

package node

import (
	"os"
	"path/filepath"
	"testing"
)

func TestParseNetstat(t *testing.T) {
	in := "TcpExt: SyncookiesSent ListenDrops\nTcpExt: 1 7\nIpExt: InOctets\nIpExt: 18446744073709551615\n" +
		"Tcp: RtoAlgorithm MaxConn CurrEstab\nTcp: 1 -1 4\n"
	got := map[string]float64{}
	helps := map[string]string{}
	err := parseNetstat([]byte(in), nil, func(k []byte, protoLen int, v float64) {
		got[string(k)] = v
		helps[string(k)] = string(k[:protoLen]) + string(k[protoLen+1:])
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"TcpExt_SyncookiesSent": 1, "TcpExt_ListenDrops": 7, "IpExt_InOctets": 18446744073709551615,
		"Tcp_RtoAlgorithm": 1, "Tcp_MaxConn": -1, "Tcp_CurrEstab": 4}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if helps["TcpExt_ListenDrops"] != "TcpExtListenDrops" {
		t.Errorf("protocol split: %v", helps)
	}
	for _, bad := range []string{"Tcp: A B\nTcp: 1\n", "Tcp: A\nUdp: 1\n", "Tcp: A\n", "Tcp: A\nTcp: x\n"} {
		if err := parseNetstat([]byte(bad), nil, func([]byte, int, float64) {}); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestParseSNMP6(t *testing.T) {
	in := "Ip6InReceives                   \t1\nIcmp6InMsgs 3\nUdpLite6InErrors\t2\nnosix 4\n\n"
	got := map[string]float64{}
	helps := map[string]string{}
	err := parseSNMP6([]byte(in), nil, func(k []byte, protoLen int, v float64) {
		got[string(k)] = v
		helps[string(k)] = string(k[:protoLen]) + string(k[protoLen+1:])
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got["Ip6_InReceives"] != 1 || got["Icmp6_InMsgs"] != 3 || got["UdpLite6_InErrors"] != 2 {
		t.Errorf("got %v", got)
	}
	if helps["UdpLite6_InErrors"] != "UdpLite6InErrors" {
		t.Errorf("helps %v", helps)
	}
}

func TestNetstatDefaultFields(t *testing.T) {
	c, err := New(fixtureConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]bool{
		"TcpExt_ListenDrops": true, "TcpExt_ListenOverflows": true, "TcpExt_SyncookiesFailed": true,
		"TcpExt_TCPSynRetrans": true, "TcpExt_TCPTimeouts": true, "TcpExt_TCPTimeoutsX": false,
		"Tcp_InErrs": true, "Udp_InErrors": true, "Icmp6_InErrors": true, "Ip_Forwarding": true,
		"Ip6_InOctets": true, "IpExt_OutOctets": true, "Icmp_OutMsgs": true, "Tcp_CurrEstab": true,
		"Tcp_RetransSegs": true, "Udp6_NoPorts": true, "UdpLite_InDatagrams": false, "Ip_InReceives": false,
		"TcpExt_DelayedACKs": false, "Tcp_MaxConn": false,
	} {
		if got := c.netstatFields.MatchString(k); got != want {
			t.Errorf("%s selected = %v, want %v", k, got, want)
		}
	}
}

func TestParseSockstat(t *testing.T) {
	in := "sockets: used 34\nTCP: inuse 7 orphan 1 tw 3 alloc 9 mem 144\nFRAG: inuse 0 memory 12\nNEW: foo 2\n"
	var lines []sockstatLine
	if err := parseSockstat([]byte(in), func(l sockstatLine) {
		c := l
		c.proto = append([]byte(nil), l.proto...)
		lines = append(lines, c)
	}); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 4 {
		t.Fatalf("%d lines", len(lines))
	}
	if s := lines[0]; string(s.proto) != "sockets" || !s.has[ssUsed] || s.v[ssUsed] != 34 {
		t.Errorf("sockets line %+v", s)
	}
	if s := lines[1]; string(s.proto) != "TCP" || s.v != [ssFields]float64{7, 1, 3, 9, 144, 0, 0} ||
		s.has != [ssFields]bool{true, true, true, true, true, false, false} {
		t.Errorf("TCP line %+v", s)
	}
	if s := lines[2]; !s.has[ssMemory] || s.v[ssMemory] != 12 || s.has[ssMem] {
		t.Errorf("FRAG line %+v", s)
	}
	if s := lines[3]; s.has != [ssFields]bool{} {
		t.Errorf("unknown keys kept: %+v", s)
	}
	for _, bad := range []string{"TCP: inuse\n", "TCP: inuse x\n", "TCP inuse 1\n", "TCP:\n"} {
		if err := parseSockstat([]byte(bad), func(sockstatLine) {}); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestParseSoftnet(t *testing.T) {
	in := "000174ba 00000002 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000\n" +
		"ffffffff 00000000 0000001f 00000000 00000000 00000000 00000000 00000000 00000000\n"
	var got [][4]float64
	if err := parseSoftnet([]byte(in), func(i int, p, d, s float64) { got = append(got, [4]float64{float64(i), p, d, s}) }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != [4]float64{0, 0x174ba, 2, 0} || got[1] != [4]float64{1, 0xffffffff, 0, 31} {
		t.Errorf("got %v", got)
	}
	for _, bad := range []string{"00000001 00000002 00000003\n", "0000000g 0 0 0 0 0 0 0 0\n", "100000000 0 0 0 0 0 0 0 0\n"} {
		if err := parseSoftnet([]byte(bad), func(int, float64, float64, float64) {}); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

func TestParseARP(t *testing.T) {
	in := "IP address       HW type     Flags       HW address            Mask     Device\n" +
		"192.0.2.1        0x1         0x2         02:fc:00:00:00:05     *        eth0\n" +
		"192.0.2.7        0x1         0x0         00:00:00:00:00:00     *        eth0\n" +
		"172.17.0.2       0x1         0x2         02:42:ac:11:00:02     *        docker0\n"
	got := map[string]int{}
	if err := parseARP([]byte(in), func(dev []byte) { got[string(dev)]++ }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["eth0"] != 2 || got["docker0"] != 1 {
		t.Errorf("got %v", got)
	}
	if err := parseARP([]byte("192.0.2.1 0x1 0x2\n"), func([]byte) {}); err == nil {
		t.Error("no error on a short line")
	}
}

func TestParseUDPQueues(t *testing.T) {
	in := "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n" +
		"  357: 3500007F:0035 00000000:0000 07 00000000:00000000 00 00000000:00000000 00000000   101        0 18203 2 0000000000000000 0\n" +
		"  921: 00000000:0044 00000000:0000 07 00000100:00000340 00 00000000:00000000 00000000     0        0 20101 2 0000000000000000 0\n"
	tx, rx, err := parseUDPQueues([]byte(in))
	if err != nil || tx != 0x100 || rx != 0x340 {
		t.Errorf("parseUDPQueues = %v %v %v", tx, rx, err)
	}
	if tx, rx, err := parseUDPQueues([]byte("header only\n")); err != nil || tx != 0 || rx != 0 {
		t.Errorf("empty table = %v %v %v", tx, rx, err)
	}
	for _, bad := range []string{"h\n 1: a b 07 00000000 00 0 0 0 0 0\n", "h\n 1: a b 07 0000000x:0 00 0 0 0 0 0\n", "h\n 1: a b 07\n"} {
		if _, _, err := parseUDPQueues([]byte(bad)); err == nil {
			t.Errorf("no error for %q", bad)
		}
	}
}

// TestNetParsersDoNotAllocate keeps the hot parsers allocation-free.
func TestNetParsersDoNotAllocate(t *testing.T) {
	c, err := New(fixtureConfig(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) []byte {
		b, err := c.readFile(c.procFile(name))
		if err != nil {
			t.Fatal(err)
		}
		return append([]byte(nil), b...)
	}
	netstat, snmp6, sockstat := read("net/netstat"), read("net/snmp6"), read("net/sockstat")
	softnet, arp, udp := read("net/softnet_stat"), read("net/arp"), read("net/udp")
	scratch := make([]byte, 0, 64)
	var sink float64
	allocs := testing.AllocsPerRun(100, func() {
		_ = parseNetstat(netstat, scratch, func(_ []byte, _ int, v float64) { sink += v })
		_ = parseSNMP6(snmp6, scratch, func(_ []byte, _ int, v float64) { sink += v })
		_ = parseSockstat(sockstat, func(l sockstatLine) { sink += l.v[0] })
		_ = parseSoftnet(softnet, func(_ int, p, _, _ float64) { sink += p })
		_ = parseARP(arp, func(dev []byte) { sink += float64(len(dev)) })
		tx, _, _ := parseUDPQueues(udp)
		sink += tx
	})
	if allocs != 0 {
		t.Errorf("%v allocations per run", allocs)
	}
}

// TestReadProcKeepsFiles checks the kept-open proc files: read afresh at
// every call, missing files looked for again, all closed by Close.
func TestReadProcKeepsFiles(t *testing.T) {
	dir := t.TempDir()
	cfg := fixtureConfig(t)
	if err := os.CopyFS(dir, os.DirFS(cfg.ProcPath)); err != nil {
		t.Fatal(err)
	}
	cfg.ProcPath = dir
	c, err := New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "sys/kernel/random/entropy_avail")
	for _, want := range []string{"256\n", "3000\n", "7\n"} {
		if err := os.WriteFile(f, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		if b, err := c.readProc("sys/kernel/random/entropy_avail"); err != nil || string(b) != want {
			t.Errorf("readProc = %q, %v; want %q", b, err, want)
		}
	}
	if len(c.fds.fds) != 1 {
		t.Errorf("%d files kept, want 1", len(c.fds.fds))
	}
	if _, err := c.readProc("net/absent"); !notExist(err) {
		t.Errorf("missing file: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "net/absent"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := c.readProc("net/absent"); err != nil || string(b) != "x" {
		t.Errorf("file created since: %q, %v", b, err)
	}

	fams := gather(t, c)
	if v, _ := find(t, fams, "node_entropy_available_bits", nil); v != 7 {
		t.Errorf("entropy %v, want 7", v)
	}
	if len(c.fds.fds) < 10 {
		t.Errorf("%d files kept after a gather", len(c.fds.fds))
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if len(c.fds.fds) != 0 {
		t.Errorf("%d files still open after Close", len(c.fds.fds))
	}
	if err := os.WriteFile(f, []byte("42\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fams = gather(t, c)
	if v, _ := find(t, fams, "node_entropy_available_bits", nil); v != 42 || len(c.fds.fds) != 0 {
		t.Errorf("after Close: entropy %v, %d files kept", v, len(c.fds.fds))
	}
}

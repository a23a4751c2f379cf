package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
)

// icmpProber sends one echo request. It uses an unprivileged ping socket
// (udp4) when net.ipv4.ping_group_range admits the process's group, and a
// raw socket when the process has CAP_NET_RAW; otherwise it fails saying so.
type icmpProber struct {
	cfg Config
	seq atomic.Uint32 // each check's sequence number, so replies to an earlier (timed out) check are ignored
}

var _ Prober = (*icmpProber)(nil)

func newICMP(c Config) *icmpProber {
	p := &icmpProber{cfg: c}
	p.seq.Store(uint32(time.Now().UnixNano()))
	return p
}

func (p *icmpProber) Probe(ctx context.Context) Result {
	return run(ctx, p.cfg.Timeout.D(), p.check)
}

func (p *icmpProber) check(ctx context.Context, rec *recorder) error {
	phase := func(name string, d time.Duration) {
		rec.labelled("probe_icmp_duration_seconds", "Duration of icmp request by phase", []string{"phase"}, []string{name}, d.Seconds())
	}
	start := time.Now()
	ip, err := resolve(ctx, rec, p.cfg.Target)
	phase("resolve", time.Since(start))
	if err != nil {
		return err
	}
	if !ip.Is4() {
		return failf("icmp probe of %s: only IPv4 is supported", ip)
	}
	start = time.Now()
	rec.setPhase("opening the ICMP socket")
	conn, dst, err := listenICMP(ip.AsSlice())
	phase("setup", time.Since(start))
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	_ = conn.IPv4PacketConn().SetControlMessage(ipv4.FlagTTL, true)
	id, seq := os.Getpid()&0xffff, int(p.seq.Add(1)&0xffff)
	msg := icmp.Message{Type: ipv4.ICMPTypeEcho, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("vigie-uptime")}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return err
	}
	rec.setPhase("waiting for the echo reply of " + ip.String())
	start = time.Now()
	if _, err := conn.WriteTo(b, dst); err != nil {
		return err
	}
	return p.await(conn, seq, start, rec, phase)
}

func (p *icmpProber) await(conn *icmp.PacketConn, seq int, start time.Time, rec *recorder, phase func(string, time.Duration)) error {
	buf := make([]byte, 1500)
	for {
		n, cm, _, err := conn.IPv4PacketConn().ReadFrom(buf)
		if err != nil {
			return err
		}
		m, err := icmp.ParseMessage(1, buf[:n])
		if err != nil || m.Type != ipv4.ICMPTypeEchoReply {
			continue
		}
		// Ping sockets rewrite the ID, so only the sequence number identifies our reply.
		if e, ok := m.Body.(*icmp.Echo); !ok || e.Seq != seq {
			continue
		}
		phase("rtt", time.Since(start))
		if cm != nil && cm.TTL > 0 {
			rec.gauge("probe_icmp_reply_hop_limit", "Replied packet hop limit (TTL for ipv4)", float64(cm.TTL))
		}
		rec.setPhase("")
		return nil
	}
}

// listenICMP opens a ping socket, unprivileged first.
func listenICMP(ip net.IP) (*icmp.PacketConn, net.Addr, error) {
	conn, err := icmp.ListenPacket("udp4", "0.0.0.0")
	if err == nil {
		return conn, &net.UDPAddr{IP: ip}, nil
	}
	raw, rawErr := icmp.ListenPacket("ip4:icmp", "0.0.0.0")
	if rawErr == nil {
		return raw, &net.IPAddr{IP: ip}, nil
	}
	return nil, nil, icmpPermissionError(err, readPingRange())
}

func readPingRange() string {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if err != nil {
		return "unknown"
	}
	return strings.Join(strings.Fields(string(b)), " ")
}

// icmpPermissionError explains how to allow ping sockets.
func icmpPermissionError(err error, pingRange string) error {
	if errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM) {
		return failf("ICMP not permitted: unprivileged ping sockets need the process group (gid %d) within net.ipv4.ping_group_range (now %q), e.g. sysctl -w net.ipv4.ping_group_range=\"0 2147483647\", or CAP_NET_RAW for a raw socket", os.Getgid(), pingRange)
	}
	return fmt.Errorf("open ICMP socket: %w", err)
}

package probe

import (
	"bufio"
	"context"
	"io"
	"net"
	"regexp"
)

// tcpProber connects, optionally over TLS, and optionally sends a line and
// waits for a reply matching expect.
type tcpProber struct {
	cfg    Config
	tls    *tlsProber
	expect *regexp.Regexp
}

var _ Prober = (*tcpProber)(nil)

func newTCP(c Config) (*tcpProber, error) {
	p := &tcpProber{cfg: c}
	if c.TCP.TLS {
		tp, err := newTLS(c)
		if err != nil {
			return nil, err
		}
		p.tls = tp
	}
	if c.TCP.Expect != "" {
		p.expect = regexp.MustCompile(c.TCP.Expect)
	}
	return p, nil
}

func (p *tcpProber) Probe(ctx context.Context) Result {
	return run(ctx, p.cfg.Timeout.D(), func(ctx context.Context, rec *recorder) error {
		conn, err := dialTCP(ctx, rec, p.cfg.Target)
		if err != nil {
			return err
		}
		defer conn.Close()
		var c net.Conn = conn
		if p.tls != nil {
			if c, err = p.tls.handshake(ctx, rec, conn); err != nil {
				return err
			}
		}
		return p.exchange(rec, c)
	})
}

// exchange sends cfg.TCP.Send and reads lines (within the body cap) until
// one matches expect.
func (p *tcpProber) exchange(rec *recorder, conn net.Conn) error {
	if p.cfg.TCP.Send != "" {
		rec.setPhase("sending")
		if _, err := io.WriteString(conn, p.cfg.TCP.Send); err != nil {
			return err
		}
	}
	if p.expect == nil {
		rec.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0)
		return nil
	}
	rec.setPhase("waiting for a reply matching " + p.cfg.TCP.Expect)
	limit := p.cfg.BodySizeLimit
	sc := bufio.NewScanner(io.LimitReader(conn, limit))
	sc.Buffer(make([]byte, 0, 4096), int(min(limit, 1<<20))+1)
	for sc.Scan() {
		if p.expect.Match(sc.Bytes()) {
			rec.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0)
			return nil
		}
	}
	rec.gauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 1)
	if err := sc.Err(); err != nil {
		return err
	}
	return failf("no reply matched %q", p.cfg.TCP.Expect)
}

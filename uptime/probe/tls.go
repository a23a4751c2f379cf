package probe

import (
	"context"
	"crypto/tls"
	"net"
	"time"
)

// tlsProber connects, shakes hands and checks the certificate chain: its
// validity for the name, and the expiry of the leaf and of the chain.
type tlsProber struct {
	cfg  Config
	tls  *tls.Config
	pool *certPool
}

var _ Prober = (*tlsProber)(nil)

func newTLS(c Config) (*tlsProber, error) {
	tc, pool, err := clientTLS(c.TLSConfig)
	if err != nil {
		return nil, err
	}
	return &tlsProber{cfg: c, tls: tc, pool: pool}, nil
}

func (p *tlsProber) Probe(ctx context.Context) Result {
	return run(ctx, p.cfg.Timeout.D(), func(ctx context.Context, rec *recorder) error {
		conn, err := dialTCP(ctx, rec, p.cfg.Target)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = p.handshake(ctx, rec, conn)
		return err
	})
}

// handshake runs TLS over conn and reports the certificates; it fails on an
// invalid chain unless insecure_skip_verify is set.
func (p *tlsProber) handshake(ctx context.Context, rec *recorder, conn net.Conn) (*tls.Conn, error) {
	tc := p.tls.Clone()
	if tc.ServerName == "" {
		host, _, _ := net.SplitHostPort(p.cfg.Target)
		tc.ServerName = host
	}
	rec.setPhase("in TLS handshake")
	tconn := tls.Client(conn, tc)
	if err := tconn.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	o := verifyConn(tconn.ConnectionState(), p.pool, p.cfg.TLSConfig.ServerName, time.Now())
	o.report(rec)
	rec.setPhase("")
	if o.err != nil && !p.cfg.TLSConfig.InsecureSkipVerify {
		return nil, certError(o.err)
	}
	return tconn, nil
}

// dialTCP resolves and connects to host:port.
func dialTCP(ctx context.Context, rec *recorder, target string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	ip, err := resolve(ctx, rec, host)
	if err != nil {
		return nil, err
	}
	rec.setPhase("connecting to " + target)
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip.String(), port))
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	return conn, nil
}

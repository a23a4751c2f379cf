package probe

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// certPool is an optional CA pool: empty means the system roots.
type certPool struct{ pool *x509.CertPool }

func (p *certPool) add(pem []byte) error {
	if p.pool == nil {
		p.pool = x509.NewCertPool()
	}
	if !p.pool.AppendCertsFromPEM(pem) {
		return errors.New("no PEM certificate found")
	}
	return nil
}

// tlsOutcome is what a handshake showed: the certificates, and whether they verify.
type tlsOutcome struct {
	state  tls.ConnectionState
	chains [][]*x509.Certificate
	err    error
}

// verifyConn checks the peer's chain against the pool and the name, as
// crypto/tls would, and keeps the outcome. serverName overrides the SNI name.
func verifyConn(cs tls.ConnectionState, pool *certPool, serverName string, now time.Time) tlsOutcome {
	out := tlsOutcome{state: cs}
	if len(cs.PeerCertificates) == 0 {
		out.err = errors.New("no certificate presented")
		return out
	}
	name := serverName
	if name == "" {
		name = cs.ServerName
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	out.chains, out.err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{
		Roots: pool.pool, Intermediates: inter, DNSName: name, CurrentTime: now,
	})
	return out
}

// report sends the probe_ssl_* and probe_tls_* families of blackbox_exporter,
// plus vigie_probe_tls_certificate_valid (blackbox has none: its probe just fails).
func (o tlsOutcome) report(rec *recorder) {
	certs := o.state.PeerCertificates
	if len(certs) == 0 {
		return
	}
	earliest := certs[0].NotAfter
	for _, c := range certs {
		if c.NotAfter.Before(earliest) {
			earliest = c.NotAfter
		}
	}
	rec.gauge("probe_ssl_earliest_cert_expiry", "Returns last SSL chain expiry in unixtime", float64(earliest.Unix()))
	if len(o.chains) > 0 {
		var last time.Time
		for _, chain := range o.chains {
			e := chain[0].NotAfter
			for _, c := range chain {
				if c.NotAfter.Before(e) {
					e = c.NotAfter
				}
			}
			if e.After(last) {
				last = e
			}
		}
		rec.gauge("probe_ssl_last_chain_expiry_timestamp_seconds", "Returns last SSL chain expiry in timestamp", float64(last.Unix()))
	}
	leaf := certs[0]
	sum := sha256.Sum256(leaf.Raw)
	rec.labelled("probe_ssl_last_chain_info", "Contains SSL leaf certificate information",
		[]string{"fingerprint_sha256", "subject", "issuer", "subjectalternative", "serialnumber"},
		[]string{hex.EncodeToString(sum[:]), leaf.Subject.String(), leaf.Issuer.String(), strings.Join(leaf.DNSNames, ","), leaf.SerialNumber.Text(16)}, 1)
	rec.labelled("probe_tls_version_info", "Returns the TLS version used or NaN when unknown", []string{"version"}, []string{tls.VersionName(o.state.Version)}, 1)
	rec.labelled("probe_tls_cipher_info", "Returns the TLS cipher negotiated during handshake", []string{"cipher"}, []string{tls.CipherSuiteName(o.state.CipherSuite)}, 1)
	rec.boolGauge("vigie_probe_tls_certificate_valid", "Whether the peer's certificate chain verifies for the probed name (1) or not (0).", o.err == nil)
}

// certError is the reason of an invalid chain.
func certError(err error) error {
	return failf("TLS certificate invalid: %v", err)
}

package probe

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// dnsProber asks one question of a resolver and checks the rcode and answers.
type dnsProber struct {
	cfg    Config
	qtype  uint16
	rcodes []int
	// resolvConf is read when no resolver is named; a field so tests can point elsewhere.
	resolvConf string
}

var _ Prober = (*dnsProber)(nil)

func newDNS(c Config) (*dnsProber, error) {
	p := &dnsProber{cfg: c, qtype: dns.StringToType[strings.ToUpper(c.DNS.QueryType)], resolvConf: "/etc/resolv.conf"}
	for _, rc := range c.DNS.ValidRcodes {
		p.rcodes = append(p.rcodes, dns.StringToRcode[strings.ToUpper(rc)])
	}
	return p, nil
}

func (p *dnsProber) Probe(ctx context.Context) Result {
	return run(ctx, p.cfg.Timeout.D(), p.check)
}

func (p *dnsProber) server() (string, error) {
	if r := p.cfg.DNS.Resolver; r != "" {
		if _, _, err := net.SplitHostPort(r); err != nil {
			return net.JoinHostPort(r, "53"), nil
		}
		return r, nil
	}
	cc, err := dns.ClientConfigFromFile(p.resolvConf)
	if err != nil || len(cc.Servers) == 0 {
		return "", fmt.Errorf("no resolver named and none in %s: %v", p.resolvConf, err)
	}
	return net.JoinHostPort(cc.Servers[0], cc.Port), nil
}

func (p *dnsProber) check(ctx context.Context, rec *recorder) error {
	phase := func(name string, d time.Duration) {
		rec.labelled("probe_dns_duration_seconds", "Duration of DNS request by phase", []string{"phase"}, []string{name}, d.Seconds())
	}
	succeeded := false
	defer func() {
		rec.boolGauge("probe_dns_query_succeeded", "Displays whether or not the query was executed successfully", succeeded)
	}()
	server, err := p.server()
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(server)
	start := time.Now()
	ip, err := resolve(ctx, rec, host)
	phase("resolve", time.Since(start))
	if err != nil {
		return err
	}
	client := &dns.Client{Net: p.cfg.DNS.Transport}
	rec.setPhase("connecting to " + server)
	start = time.Now()
	conn, err := client.DialContext(ctx, net.JoinHostPort(ip.String(), port))
	phase("connect", time.Since(start))
	if err != nil {
		return err
	}
	defer conn.Close()
	msg := new(dns.Msg)
	msg.SetQuestion(dns.Fqdn(p.cfg.DNS.QueryName), p.qtype)
	msg.RecursionDesired = true
	rec.setPhase(fmt.Sprintf("waiting for the %s answer of %s", p.cfg.DNS.QueryType, server))
	start = time.Now()
	resp, _, err := client.ExchangeWithConnContext(ctx, msg, conn)
	phase("request", time.Since(start))
	if err != nil {
		return err
	}
	succeeded = true
	rec.setPhase("")
	rec.gauge("probe_dns_answer_rrs", "Returns number of entries in the answer resource record list", float64(len(resp.Answer)))
	rec.gauge("probe_dns_authority_rrs", "Returns number of entries in the authority resource record list", float64(len(resp.Ns)))
	rec.gauge("probe_dns_additional_rrs", "Returns number of entries in the additional resource record list", float64(len(resp.Extra)))
	for _, rr := range resp.Answer {
		if soa, ok := rr.(*dns.SOA); ok {
			rec.gauge("probe_dns_serial", "Returns the serial number of the zone", float64(soa.Serial))
		}
	}
	return p.validate(resp)
}

// validate checks the rcode and that every expected answer is there.
func (p *dnsProber) validate(resp *dns.Msg) error {
	if !slices.Contains(p.rcodes, resp.Rcode) {
		return failf("rcode %s not in valid_rcodes", dns.RcodeToString[resp.Rcode])
	}
	var got []string
	for _, rr := range resp.Answer {
		got = append(got, rrValue(rr))
	}
	for _, want := range p.cfg.DNS.ValidAnswers {
		if !slices.ContainsFunc(got, func(g string) bool {
			return strings.EqualFold(strings.TrimSuffix(g, "."), strings.TrimSuffix(want, "."))
		}) {
			return failf("answer %q missing (got %s)", want, strings.Join(got, ", "))
		}
	}
	return nil
}

// rrValue is a record's data as a user writes it: an address, a host, a text.
func rrValue(rr dns.RR) string {
	switch r := rr.(type) {
	case *dns.A:
		return r.A.String()
	case *dns.AAAA:
		return r.AAAA.String()
	case *dns.CNAME:
		return r.Target
	case *dns.NS:
		return r.Ns
	case *dns.PTR:
		return r.Ptr
	case *dns.MX:
		return fmt.Sprintf("%d %s", r.Preference, r.Mx)
	case *dns.TXT:
		return strings.Join(r.Txt, "")
	}
	h := rr.Header().String()
	return strings.TrimSpace(strings.TrimPrefix(rr.String(), h))
}

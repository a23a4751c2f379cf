package probe

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// dnsServer answers A app.test. with 10.0.0.1 and 10.0.0.2, NXDOMAIN otherwise.
func dnsServer(t *testing.T, network string) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		switch {
		case q.Name == "app.test." && q.Qtype == dns.TypeA:
			for _, ip := range []string{"10.0.0.1", "10.0.0.2"} {
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
			}
		case q.Name == "app.test." && q.Qtype == dns.TypeTXT:
			m.Answer = append(m.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60}, Txt: []string{"v=spf1 -all"}})
		default:
			m.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(m)
	})
	srv := &dns.Server{Net: network, Handler: h}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.PacketConn = pc
	} else {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv.Listener = ln
	}
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	if srv.PacketConn != nil {
		return srv.PacketConn.LocalAddr().String()
	}
	return srv.Listener.Addr().String()
}

func TestDNSProbe(t *testing.T) {
	udp, tcp := dnsServer(t, "udp"), dnsServer(t, "tcp")
	cases := []struct {
		name    string
		dns     DNSConfig
		ok      bool
		reason  string
		answers float64
	}{
		{"A answers", DNSConfig{QueryName: "app.test", Resolver: udp, ValidAnswers: []string{"10.0.0.2"}}, true, "", 2},
		{"over tcp", DNSConfig{QueryName: "app.test", Resolver: tcp, Transport: "tcp"}, true, "", 2},
		{"TXT", DNSConfig{QueryName: "app.test", QueryType: "TXT", Resolver: udp, ValidAnswers: []string{"v=spf1 -all"}}, true, "", 1},
		{"unexpected answer", DNSConfig{QueryName: "app.test", Resolver: udp, ValidAnswers: []string{"10.0.0.9"}}, false, `answer "10.0.0.9" missing (got 10.0.0.1, 10.0.0.2)`, 2},
		{"nxdomain", DNSConfig{QueryName: "gone.test", Resolver: udp}, false, "rcode NXDOMAIN not in valid_rcodes", 0},
		{"nxdomain expected", DNSConfig{QueryName: "gone.test", Resolver: udp, ValidRcodes: []string{"NXDOMAIN"}}, true, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := mustProbe(t, Config{Type: TypeDNS, DNS: tc.dns})
			if r.Success != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("success=%v reason=%q, want %v and %q", r.Success, r.Reason, tc.ok, tc.reason)
			}
			if metric(t, r, "probe_dns_query_succeeded") != 1 || metric(t, r, "probe_dns_answer_rrs") != tc.answers {
				t.Errorf("metrics %+v", r.Metrics)
			}
			if _, ok := labelled(r, "probe_dns_duration_seconds", "phase", "request"); !ok {
				t.Error("no request phase")
			}
		})
	}
	t.Run("no answer", func(t *testing.T) {
		pc, _ := net.ListenPacket("udp", "127.0.0.1:0") // reads nothing, answers nothing
		t.Cleanup(func() { pc.Close() })
		r := mustProbe(t, Config{Type: TypeDNS, Timeout: 300e6, DNS: DNSConfig{QueryName: "app.test", Resolver: pc.LocalAddr().String()}})
		if r.Success || !strings.HasPrefix(r.Reason, "timeout after 300ms waiting for the A answer") {
			t.Fatalf("reason %q", r.Reason)
		}
		if metric(t, r, "probe_dns_query_succeeded") != 0 {
			t.Error("query_succeeded != 0")
		}
	})
}

// Without a named resolver, the first nameserver of resolv.conf answers.
func TestDNSSystemResolver(t *testing.T) {
	addr := dnsServer(t, "udp")
	host, port, _ := net.SplitHostPort(addr)
	conf := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(conf, []byte("nameserver "+host+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := Config{Name: "sys", Type: TypeDNS, Target: "app.test"}.WithDefaults()
	p, _ := newDNS(c)
	p.resolvConf = conf
	// resolv.conf names no port: the server is asked on 53 (the test server's random port is then named instead).
	srv, err := p.server()
	if err != nil || srv != net.JoinHostPort(host, "53") {
		t.Fatalf("server %q %v", srv, err)
	}
	c.DNS.Resolver = net.JoinHostPort(host, port)
	p, _ = newDNS(c)
	if r := p.Probe(t.Context()); !r.Success {
		t.Fatalf("probe: %s", r.Reason)
	}
	p.resolvConf, p.cfg.DNS.Resolver = filepath.Join(t.TempDir(), "missing"), ""
	if r := p.Probe(t.Context()); r.Success || !strings.Contains(r.Reason, "no resolver named and none in") {
		t.Fatalf("missing resolv.conf: %q", r.Reason)
	}
}

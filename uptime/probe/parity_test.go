package probe

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// blackbox starts Debian's prometheus-blackbox-exporter with modules and
// returns its address; the test skips when it is not installed.
func blackbox(t *testing.T, modules string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus-blackbox-exporter")
	if err != nil {
		t.Skip("prometheus-blackbox-exporter not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	conf := filepath.Join(t.TempDir(), "blackbox.yml")
	if err := os.WriteFile(conf, []byte(modules), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config.file="+conf, "--web.listen-address="+addr)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			resp.Body.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatal("blackbox_exporter did not start")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// families reads "name{labels}" → label names of a /probe answer.
func families(t *testing.T, addr, module, target string) map[string][]string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://%s/probe?module=%s&target=%s", addr, module, url.QueryEscape(target)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string][]string{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if line == "probe_success 0" {
			t.Fatalf("blackbox_exporter's %s probe of %s failed", module, target)
		}
		name, labels := line, ""
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
			if line[i] == '{' {
				labels = line[i+1 : strings.IndexByte(line, '}')]
			}
		}
		var names []string
		for _, kv := range strings.Split(labels, ",") {
			if k, _, ok := strings.Cut(kv, "="); ok {
				names = append(names, k)
			}
		}
		sort.Strings(names)
		out[name] = names
	}
	return out
}

func ourFamilies(r Result) map[string][]string {
	out := map[string][]string{"probe_success": nil, "probe_duration_seconds": nil}
	for _, m := range r.Metrics {
		names := slices.Clone(m.LabelNames)
		sort.Strings(names)
		out[m.Name] = names
	}
	return out
}

// Every family (and its label names) that blackbox_exporter reports for
// the same check, vigie reports too.
func TestParityWithBlackboxExporter(t *testing.T) {
	ca := newCA(t)
	srv := tlsServer(t, ca.leaf(t, time.Now().Add(30*24*time.Hour), "app.test"), okHandler)
	dnsAddr := dnsServer(t, "udp")
	addr := blackbox(t, fmt.Sprintf(`modules:
  https:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
      fail_if_body_not_matches_regexp: ["ok"]
      tls_config: {ca_file: %q, server_name: app.test}
  dns:
    prober: dns
    timeout: 5s
    dns:
      preferred_ip_protocol: ip4
      query_name: app.test
      query_type: A
  tcp:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
      tls: true
      tls_config: {ca_file: %q, server_name: app.test}
  icmp:
    prober: icmp
    timeout: 5s
    icmp: {preferred_ip_protocol: ip4}
`, ca.file, ca.file))
	hostport := strings.TrimPrefix(srv.URL, "https://")
	for _, tc := range []struct {
		module, target string
		cfg            Config
	}{
		{"https", srv.URL, Config{URL: srv.URL, TLSConfig: TLSConfig{CAFile: ca.file, ServerName: "app.test"}, HTTP: HTTPConfig{BodyMustMatch: []string{"ok"}}}},
		{"dns", dnsAddr, Config{Type: TypeDNS, DNS: DNSConfig{QueryName: "app.test", Resolver: dnsAddr}}},
		{"icmp", "127.0.0.1", Config{Type: TypeICMP, Target: "127.0.0.1"}},
		{"tcp", hostport, Config{Type: TypeTCP, Target: hostport, TLSConfig: TLSConfig{CAFile: ca.file, ServerName: "app.test"}, TCP: TCPConfig{TLS: true}}},
	} {
		t.Run(tc.module, func(t *testing.T) {
			theirs := families(t, addr, tc.module, tc.target)
			if v, ok := theirs["probe_success"]; !ok || v != nil {
				t.Fatalf("blackbox_exporter answer: %v", theirs)
			}
			r := mustProbe(t, tc.cfg)
			if !r.Success && tc.module == "icmp" {
				t.Skipf("ICMP not permitted: %s", r.Reason)
			}
			if !r.Success {
				t.Fatalf("vigie: %s", r.Reason)
			}
			ours := ourFamilies(r)
			for name, labels := range theirs {
				got, ok := ours[name]
				if !ok {
					t.Errorf("missing family %s%v", name, labels)
				} else if !isSubset(labels, got) {
					// A superset is fine: probe_ssl_last_chain_info has serialnumber as in 0.24+.
					t.Errorf("%s: labels %v, blackbox_exporter has %v", name, got, labels)
				}
			}
		})
	}
}

func isSubset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

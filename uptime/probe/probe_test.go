package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/config"
)

func mustProbe(t *testing.T, c Config) Result {
	t.Helper()
	c = c.WithDefaults()
	if c.Name == "" {
		c.Name = "t"
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p.Probe(context.Background())
}

func metric(t *testing.T, r Result, name string) float64 {
	t.Helper()
	v, ok := r.Metric(name)
	if !ok {
		t.Fatalf("no %s in %+v", name, r.Metrics)
	}
	return v
}

func labelled(r Result, name, label, value string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name != name {
			continue
		}
		for i, l := range m.LabelNames {
			if l == label && m.LabelValues[i] == value {
				return m.Value, true
			}
		}
	}
	return 0, false
}

func tlsServer(t *testing.T, cert tls.Certificate, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Last-Modified", "Wed, 21 Oct 2015 07:28:00 GMT")
	_, _ = io.WriteString(w, `{"status":"ok","checks":[{"name":"db","up":true}]}`)
})

func TestHTTPSCertificates(t *testing.T) {
	ca := newCA(t)
	day := 24 * time.Hour
	cases := []struct {
		name       string
		cert       tls.Certificate
		tls        TLSConfig
		ok         bool
		reason     string
		valid      float64
		expiryDays float64
	}{
		{"valid", ca.leaf(t, time.Now().Add(90*day), "app.test"), TLSConfig{CAFile: ca.file, ServerName: "app.test"}, true, "", 1, 90},
		{"expiring in 5 days", ca.leaf(t, time.Now().Add(5*day), "app.test"), TLSConfig{CAFile: ca.file, ServerName: "app.test"}, true, "", 1, 5},
		{"expired", ca.leaf(t, time.Now().Add(-day), "app.test"), TLSConfig{CAFile: ca.file, ServerName: "app.test"}, false, "certificate has expired", 0, -1},
		{"self-signed", (*testCA)(nil).leaf(t, time.Now().Add(90*day), "app.test"), TLSConfig{CAFile: ca.file, ServerName: "app.test"}, false, "unknown authority", 0, 90},
		{"self-signed, insecure_skip_verify", (*testCA)(nil).leaf(t, time.Now().Add(90*day), "app.test"), TLSConfig{ServerName: "app.test", InsecureSkipVerify: true}, true, "", 0, 90},
		{"wrong host", ca.leaf(t, time.Now().Add(90*day), "other.test"), TLSConfig{CAFile: ca.file, ServerName: "app.test"}, false, "not app.test", 0, 90},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := tlsServer(t, tc.cert, okHandler)
			r := mustProbe(t, Config{URL: srv.URL + "/health", TLSConfig: tc.tls})
			if r.Success != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("success=%v reason=%q, want %v and %q", r.Success, r.Reason, tc.ok, tc.reason)
			}
			if got := metric(t, r, "vigie_probe_tls_certificate_valid"); got != tc.valid {
				t.Errorf("certificate valid = %v, want %v", got, tc.valid)
			}
			days := (metric(t, r, "probe_ssl_earliest_cert_expiry") - float64(time.Now().Unix())) / 86400
			if math.Abs(days-tc.expiryDays) > 0.1 {
				t.Errorf("earliest expiry in %.2f days, want %v", days, tc.expiryDays)
			}
			if _, ok := labelled(r, "probe_tls_version_info", "version", "TLS 1.3"); !ok {
				t.Errorf("no probe_tls_version_info{version=\"TLS 1.3\"}")
			}
			if tc.ok {
				if metric(t, r, "probe_http_ssl") != 1 || metric(t, r, "probe_http_status_code") != 200 {
					t.Errorf("ssl/status wrong: %+v", r.Metrics)
				}
				if metric(t, r, "probe_http_last_modified_timestamp_seconds") != 1445412480 {
					t.Errorf("last modified wrong")
				}
			}
		})
	}
}

func TestHTTPMisbehavingServers(t *testing.T) {
	mux := http.NewServeMux()
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 4096)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/trickle", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusMovedPermanently) })
	mux.HandleFunc("/ok", okHandler)
	mux.HandleFunc("/500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	no := false
	timeout := config.Duration(300 * time.Millisecond)
	cases := []struct {
		name   string
		cfg    Config
		ok     bool
		reason string
	}{
		{"slow headers", Config{URL: srv.URL + "/slow", Timeout: timeout}, false, "timeout after 300ms waiting for response headers"},
		{"endless body over the cap", Config{URL: srv.URL + "/endless", BodySizeLimit: 64 << 10}, false, "body exceeds 64 KiB cap"},
		{"body never ends", Config{URL: srv.URL + "/trickle", Timeout: timeout}, false, "timeout after 300ms reading body"},
		{"redirect loop", Config{URL: srv.URL + "/loop", HTTP: HTTPConfig{MaxRedirects: 3}}, false, "redirect limit 3 exceeded"},
		{"redirect followed", Config{URL: srv.URL + "/moved"}, true, ""},
		{"redirect not followed", Config{URL: srv.URL + "/moved", HTTP: HTTPConfig{FollowRedirects: &no, ValidStatusCodes: []int{301}}}, true, ""},
		{"status not valid", Config{URL: srv.URL + "/500"}, false, "status code 500 not in valid_status_codes"},
		{"status made valid", Config{URL: srv.URL + "/500", HTTP: HTTPConfig{ValidStatusCodes: []int{500}}}, true, ""},
		{"keyword found", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{BodyMustMatch: []string{`"ok"`}}}, true, ""},
		{"keyword missing", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{BodyMustMatch: []string{"healthy"}}}, false, `body does not match "healthy"`},
		{"forbidden keyword", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{BodyMustNotMatch: []string{"st.tus"}}}, false, `body matches "st.tus"`},
		{"json path", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{JSONPath: []JSONAssertion{{Path: "$.status", Equals: ptr("ok")}, {Path: "$.checks[0].up", Matches: "^true$"}}}}, true, ""},
		{"json path wrong", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{JSONPath: []JSONAssertion{{Path: "$.checks[0].name", Equals: ptr("cache")}}}}, false, `JSON path $.checks[0].name is "db", want "cache"`},
		{"json path missing", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{JSONPath: []JSONAssertion{{Path: "$.version"}}}}, false, "JSON path $.version not found"},
		{"too slow", Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{MaxResponseTime: config.Duration(time.Nanosecond)}}, false, "over max_response_time 1ns"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			r := mustProbe(t, tc.cfg)
			if r.Success != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("success=%v reason=%q, want %v and %q", r.Success, r.Reason, tc.ok, tc.reason)
			}
			if time.Since(start) > 5*time.Second {
				t.Errorf("check took %s", time.Since(start))
			}
		})
	}
	t.Run("redirect metrics", func(t *testing.T) {
		r := mustProbe(t, Config{URL: srv.URL + "/moved"})
		if metric(t, r, "probe_http_redirects") != 1 || metric(t, r, "probe_http_ssl") != 0 || metric(t, r, "probe_http_version") != 1.1 {
			t.Errorf("metrics: %+v", r.Metrics)
		}
		if v, ok := labelled(r, "probe_http_duration_seconds", "phase", "connect"); !ok || v <= 0 {
			t.Errorf("connect phase %v %v", v, ok)
		}
		if metric(t, r, "probe_ip_protocol") != 4 || metric(t, r, "probe_http_uncompressed_body_length") == 0 {
			t.Errorf("metrics: %+v", r.Metrics)
		}
	})
	t.Run("regex metric", func(t *testing.T) {
		r := mustProbe(t, Config{URL: srv.URL + "/ok", HTTP: HTTPConfig{BodyMustMatch: []string{"nope"}}})
		if metric(t, r, "probe_failed_due_to_regex") != 1 {
			t.Error("probe_failed_due_to_regex != 1")
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestHTTP2(t *testing.T) {
	ca := newCA(t)
	srv := httptest.NewUnstartedServer(okHandler)
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.leaf(t, time.Now().Add(24*time.Hour), "app.test")}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	for _, v := range []struct {
		version string
		want    float64
	}{{"2", 2}, {"1.1", 1.1}} {
		r := mustProbe(t, Config{URL: srv.URL, TLSConfig: TLSConfig{CAFile: ca.file, ServerName: "app.test"}, HTTP: HTTPConfig{HTTPVersion: v.version}})
		if !r.Success || metric(t, r, "probe_http_version") != v.want {
			t.Errorf("http_version %s: success=%v %q version=%v", v.version, r.Success, r.Reason, metric(t, r, "probe_http_version"))
		}
	}
}

func TestTLSProbe(t *testing.T) {
	ca := newCA(t)
	srv := tlsServer(t, ca.leaf(t, time.Now().Add(5*24*time.Hour), "app.test"), okHandler)
	target := strings.TrimPrefix(srv.URL, "https://")
	r := mustProbe(t, Config{Type: TypeTLS, Target: target, TLSConfig: TLSConfig{CAFile: ca.file, ServerName: "app.test"}})
	if !r.Success {
		t.Fatalf("tls probe failed: %s", r.Reason)
	}
	if v := metric(t, r, "probe_ssl_last_chain_expiry_timestamp_seconds"); v < float64(time.Now().Add(4*24*time.Hour).Unix()) {
		t.Errorf("chain expiry %v", v)
	}
	r = mustProbe(t, Config{Type: TypeTLS, Target: target, TLSConfig: TLSConfig{CAFile: ca.file, ServerName: "wrong.test"}})
	if r.Success || !strings.Contains(r.Reason, "TLS certificate invalid") {
		t.Fatalf("wrong name: success=%v %q", r.Success, r.Reason)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fmt.Fprintf(c, "220 smtp ready\r\n")
				buf := make([]byte, 64)
				n, _ := c.Read(buf)
				if strings.HasPrefix(string(buf[:n]), "PING") {
					fmt.Fprintf(c, "+PONG\r\n")
				}
				_, _ = io.Copy(io.Discard, c)
			}()
		}
	}()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	closedAddr := closed.Addr().String()
	closed.Close()
	addr := ln.Addr().String()
	timeout := config.Duration(300 * time.Millisecond)
	cases := []struct {
		name   string
		cfg    Config
		ok     bool
		reason string
	}{
		{"connect", Config{Target: addr}, true, ""},
		{"banner", Config{Target: addr, TCP: TCPConfig{Expect: "^220 "}}, true, ""},
		{"send expect", Config{Target: addr, TCP: TCPConfig{Send: "PING\r\n", Expect: `^\+PONG`}}, true, ""},
		{"expect never comes", Config{Target: addr, Timeout: timeout, TCP: TCPConfig{Expect: "^never"}}, false, "timeout after 300ms waiting for a reply matching ^never"},
		{"refused", Config{Target: closedAddr}, false, "connection refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Type = TypeTCP
			r := mustProbe(t, tc.cfg)
			if r.Success != tc.ok || !strings.Contains(r.Reason, tc.reason) {
				t.Fatalf("success=%v reason=%q, want %v and %q", r.Success, r.Reason, tc.ok, tc.reason)
			}
		})
	}
}

func TestICMPProbe(t *testing.T) {
	r := mustProbe(t, Config{Type: TypeICMP, Target: "127.0.0.1", Timeout: config.Duration(2 * time.Second)})
	if !r.Success {
		// Without ping sockets nor CAP_NET_RAW the reason must say what to change.
		if !strings.Contains(r.Reason, "net.ipv4.ping_group_range") {
			t.Fatalf("icmp failed without a clear reason: %q", r.Reason)
		}
		t.Skipf("ICMP not permitted here: %s", r.Reason)
	}
	if v, ok := labelled(r, "probe_icmp_duration_seconds", "phase", "rtt"); !ok || v <= 0 {
		t.Errorf("rtt %v %v", v, ok)
	}
}

func TestICMPPermissionError(t *testing.T) {
	err := icmpPermissionError(&net.OpError{Op: "listen", Err: os.NewSyscallError("socket", syscall.EACCES)}, "1 0")
	if !strings.Contains(err.Error(), `net.ipv4.ping_group_range (now "1 0")`) {
		t.Fatalf("got %v", err)
	}
}

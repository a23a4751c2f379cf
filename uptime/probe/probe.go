// Package probe runs one check against a target, as blackbox_exporter's
// probers do: HTTP(S), TLS, DNS, TCP and ICMP. A Prober returns a Result
// carrying its success, the reason of a failure, and the samples named as
// blackbox_exporter names them (probe_success, probe_http_status_code, …),
// so that existing dashboards and community rule files work unchanged.
//
// Every check is bounded by the probe's timeout and, where a body is read,
// by its body size cap; a cut check says why in Result.Reason.
package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"time"
)

// Prober runs one check.
type Prober interface {
	Probe(ctx context.Context) Result
}

// Metric is one sample of a check: instance and job are added by the caller.
type Metric struct {
	Name        string
	Help        string
	LabelNames  []string
	LabelValues []string
	Value       float64
}

// Result is the outcome of one check.
type Result struct {
	Start    time.Time
	Success  bool
	Duration time.Duration
	// Reason says why a check failed ("timeout after 5s reading body").
	Reason  string
	Metrics []Metric
}

// Metric returns the value of the unlabelled sample name, and whether it is there.
func (r Result) Metric(name string) (float64, bool) {
	for _, m := range r.Metrics {
		if m.Name == name && len(m.LabelNames) == 0 {
			return m.Value, true
		}
	}
	return 0, false
}

// New returns the prober of c (after WithDefaults and Validate), loading its CA file.
func New(c Config) (Prober, error) {
	switch c.Type {
	case TypeHTTP:
		return newHTTP(c)
	case TypeTLS:
		return newTLS(c)
	case TypeDNS:
		return newDNS(c)
	case TypeTCP:
		return newTCP(c)
	case TypeICMP:
		return newICMP(c), nil
	}
	return nil, fmt.Errorf("probe %q: unknown type %q", c.Name, c.Type)
}

// run times a check: fn reports into rec and returns the failure, if any.
// The check gets its own deadline (the probe's timeout).
func run(ctx context.Context, timeout time.Duration, fn func(ctx context.Context, rec *recorder) error) Result {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rec := &recorder{timeout: timeout, ctx: ctx}
	err := fn(ctx, rec)
	res := Result{Start: start, Success: err == nil, Duration: time.Since(start), Metrics: rec.metrics}
	if err != nil {
		res.Reason = rec.reason(err)
	}
	return res
}

// recorder collects a check's samples and remembers what it was doing, so
// that a timeout can say where it struck.
type recorder struct {
	timeout time.Duration
	ctx     context.Context

	mu      sync.Mutex
	phase   string
	metrics []Metric
}

func (r *recorder) setPhase(p string) {
	r.mu.Lock()
	r.phase = p
	r.mu.Unlock()
}

func (r *recorder) gauge(name, help string, v float64) {
	r.mu.Lock()
	r.metrics = append(r.metrics, Metric{Name: name, Help: help, Value: v})
	r.mu.Unlock()
}

func (r *recorder) labelled(name, help string, names, values []string, v float64) {
	r.mu.Lock()
	r.metrics = append(r.metrics, Metric{Name: name, Help: help, LabelNames: names, LabelValues: values, Value: v})
	r.mu.Unlock()
}

func (r *recorder) boolGauge(name, help string, b bool) {
	v := 0.0
	if b {
		v = 1
	}
	r.gauge(name, help, v)
}

// reason turns a failure into the message kept in history.
func (r *recorder) reason(err error) string {
	r.mu.Lock()
	phase := r.phase
	r.mu.Unlock()
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(r.ctx.Err(), context.DeadlineExceeded) || isTimeout(err) {
		if phase == "" {
			return fmt.Sprintf("timeout after %s", r.timeout)
		}
		return fmt.Sprintf("timeout after %s %s", r.timeout, phase)
	}
	var fe *failure
	if errors.As(err, &fe) {
		return fe.msg
	}
	if phase == "" {
		return err.Error()
	}
	return phase + ": " + err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// failure is an expectation not met: its message is the whole reason.
type failure struct{ msg string }

func (f *failure) Error() string { return f.msg }

func failf(format string, args ...any) error { return &failure{msg: fmt.Sprintf(format, args...)} }

// resolve looks host up and reports probe_dns_lookup_time_seconds,
// probe_ip_protocol and probe_ip_addr_hash as blackbox_exporter does.
// IPv4 is preferred when the name has both.
func resolve(ctx context.Context, rec *recorder, host string) (netip.Addr, error) {
	rec.setPhase("resolving " + host)
	start := time.Now()
	var addr netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addr = a
	} else {
		addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return addr, err // "lookup host on server: no such host"
		}
		addr = addrs[0]
		for _, a := range addrs {
			if a.Unmap().Is4() {
				addr = a
				break
			}
		}
	}
	addr = addr.Unmap()
	rec.gauge("probe_dns_lookup_time_seconds", "Returns the time taken for probe dns lookup in seconds", time.Since(start).Seconds())
	proto := 6.0
	if addr.Is4() {
		proto = 4
	}
	rec.gauge("probe_ip_protocol", "Specifies whether probe ip protocol is IP4 or IP6", proto)
	h := fnv.New32a()
	h.Write([]byte(addr.String()))
	rec.gauge("probe_ip_addr_hash", "Specifies the hash of IP address. It's useful to detect if the IP address changes.", float64(h.Sum32()))
	return addr, nil
}

// clientTLS builds the tls.Config of a probe's tls_config. Verification is
// done by verifyConn (see tlsinfo.go), so that certificates are reported
// even when they are invalid.
func clientTLS(c TLSConfig) (*tls.Config, *certPool, error) {
	pool := &certPool{}
	if c.CAFile != "" {
		b, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, nil, fmt.Errorf("tls_config.ca_file: %w", err)
		}
		if err := pool.add(b); err != nil {
			return nil, nil, fmt.Errorf("tls_config.ca_file %s: %w", c.CAFile, err)
		}
	}
	return &tls.Config{ServerName: c.ServerName, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10}, pool, nil //nolint:gosec // verified in VerifyConnection
}

// trimErr removes Go's "Get \"url\": " prefixes from a client error.
func trimErr(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, "\": "); i >= 0 && strings.Contains(s[:i], "\"http") {
		return s[i+3:]
	}
	return s
}

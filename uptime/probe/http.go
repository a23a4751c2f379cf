package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

type httpProber struct {
	cfg          Config
	tls          *tls.Config
	pool         *certPool
	mustMatch    []*regexp.Regexp
	mustNotMatch []*regexp.Regexp
	json         []jsonCheck
}

var _ Prober = (*httpProber)(nil)

func newHTTP(c Config) (*httpProber, error) {
	tc, pool, err := clientTLS(c.TLSConfig)
	if err != nil {
		return nil, err
	}
	p := &httpProber{cfg: c, tls: tc, pool: pool}
	for _, re := range c.HTTP.BodyMustMatch {
		p.mustMatch = append(p.mustMatch, regexp.MustCompile(re))
	}
	for _, re := range c.HTTP.BodyMustNotMatch {
		p.mustNotMatch = append(p.mustNotMatch, regexp.MustCompile(re))
	}
	for _, a := range c.HTTP.JSONPath {
		jc, err := compileJSON(a)
		if err != nil {
			return nil, err
		}
		p.json = append(p.json, jc)
	}
	return p, nil
}

// httpCheck is the state of one check, shared with the transport's hooks.
type httpCheck struct {
	p   *httpProber
	rec *recorder

	mu        sync.Mutex
	phases    map[string]time.Duration
	resolved  bool
	redirects int
	tls       *tlsOutcome
	marks     map[string]time.Time
	regexFail bool
}

func (c *httpCheck) add(phase string, d time.Duration) {
	c.mu.Lock()
	c.phases[phase] += d
	c.mu.Unlock()
}

func (c *httpCheck) mark(name string) {
	c.mu.Lock()
	c.marks[name] = time.Now()
	c.mu.Unlock()
}

func (c *httpCheck) since(name string) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.marks[name]; ok {
		return time.Since(t)
	}
	return 0
}

// Probe runs one HTTP check. A fresh transport per check (keep-alives off)
// makes every check measure resolve, connect and TLS, as blackbox_exporter does.
func (p *httpProber) Probe(ctx context.Context) Result {
	return run(ctx, p.cfg.Timeout.D(), p.check)
}

func (p *httpProber) check(ctx context.Context, rec *recorder) error {
	c := &httpCheck{p: p, rec: rec, phases: map[string]time.Duration{}, marks: map[string]time.Time{}}
	client := p.client(c)
	defer client.CloseIdleConnections()
	var body io.Reader
	if p.cfg.HTTP.Body != "" {
		body = strings.NewReader(p.cfg.HTTP.Body)
	}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, c.trace()), p.cfg.HTTP.Method, p.cfg.URL, body)
	if err != nil {
		return failf("bad request: %v", err)
	}
	for k, v := range p.cfg.HTTP.Headers {
		if strings.EqualFold(k, "host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "vigie-uptime")
	}
	start := time.Now()
	resp, err := client.Do(req)
	defer c.report(rec)
	if err != nil {
		var rl *redirectLimit
		if errors.As(err, &rl) {
			return failf("%s", rl.Error())
		}
		var fe *failure
		if errors.As(err, &fe) {
			return fe
		}
		if c.tls != nil && c.tls.err != nil && !p.cfg.TLSConfig.InsecureSkipVerify {
			return certError(c.tls.err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return errors.New(trimErr(err))
	}
	defer resp.Body.Close()
	return p.checkResponse(c, resp, start)
}

func (p *httpProber) checkResponse(c *httpCheck, resp *http.Response, start time.Time) error {
	rec := c.rec
	rec.gauge("probe_http_status_code", "Response HTTP status code", float64(resp.StatusCode))
	rec.gauge("probe_http_content_length", "Length of http content response", float64(resp.ContentLength))
	rec.gauge("probe_http_version", "Returns the version of HTTP of the probe response", float64(resp.ProtoMajor)+float64(resp.ProtoMinor)/10)
	rec.boolGauge("probe_http_ssl", "Indicates if SSL was used for the final redirect", resp.TLS != nil)
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		rec.gauge("probe_http_last_modified_timestamp_seconds", "Returns the Last-Modified HTTP response header in unixtime", float64(lm.Unix()))
	}
	rec.setPhase("reading body")
	body, n, err := p.readBody(resp.Body)
	rec.gauge("probe_http_uncompressed_body_length", "Length of uncompressed response body", float64(n))
	c.add("transfer", c.since("firstbyte"))
	if err != nil {
		return err
	}
	rec.setPhase("")
	if !p.validStatus(resp.StatusCode) {
		return failf("status code %d not in valid_status_codes", resp.StatusCode)
	}
	if err := p.checkBody(c, body); err != nil {
		return err
	}
	if m := p.cfg.HTTP.MaxResponseTime.D(); m > 0 {
		if d := time.Since(start); d > m {
			return failf("response took %s, over max_response_time %s", d.Round(time.Millisecond), m)
		}
	}
	return nil
}

// readBody reads at most the body cap; the body is kept only when a check needs it.
func (p *httpProber) readBody(r io.Reader) ([]byte, int64, error) {
	limit := p.cfg.BodySizeLimit
	lr := io.LimitReader(r, limit+1)
	if len(p.mustMatch)+len(p.mustNotMatch)+len(p.json) == 0 {
		n, err := io.Copy(io.Discard, lr)
		if err == nil && n > limit {
			return nil, n, failf("body exceeds %s cap", byteSize(limit))
		}
		return nil, n, err
	}
	b, err := io.ReadAll(lr)
	if err == nil && int64(len(b)) > limit {
		return nil, int64(len(b)), failf("body exceeds %s cap", byteSize(limit))
	}
	return b, int64(len(b)), err
}

func (p *httpProber) validStatus(code int) bool {
	if len(p.cfg.HTTP.ValidStatusCodes) == 0 {
		return code >= 200 && code < 300
	}
	return slices.Contains(p.cfg.HTTP.ValidStatusCodes, code)
}

func (p *httpProber) checkBody(c *httpCheck, body []byte) error {
	if len(p.mustMatch)+len(p.mustNotMatch) > 0 {
		var err error
		for _, re := range p.mustMatch {
			if !re.Match(body) {
				err = failf("body does not match %q", re.String())
				break
			}
		}
		for _, re := range p.mustNotMatch {
			if err == nil && re.Match(body) {
				err = failf("body matches %q", re.String())
			}
		}
		c.mu.Lock()
		c.regexFail = err != nil
		c.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if len(p.json) > 0 {
		return checkJSON(body, p.json)
	}
	return nil
}

// report sends the phase durations and the TLS families.
func (c *httpCheck) report(rec *recorder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, ph := range []string{"resolve", "connect", "tls", "processing", "transfer"} {
		rec.labelled("probe_http_duration_seconds", "Duration of http request by phase, summed over all redirects",
			[]string{"phase"}, []string{ph}, c.phases[ph].Seconds())
	}
	rec.gauge("probe_http_redirects", "The number of redirects", float64(c.redirects))
	rec.boolGauge("probe_failed_due_to_regex", "Indicates if probe failed due to regex", c.regexFail)
	if c.tls != nil {
		c.tls.report(rec)
	}
}

type redirectLimit struct{ max int }

func (e *redirectLimit) Error() string { return fmt.Sprintf("redirect limit %d exceeded", e.max) }

func (p *httpProber) client(c *httpCheck) *http.Client {
	dialer := &net.Dialer{}
	tc := p.tls.Clone()
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		o := verifyConn(cs, p.pool, p.cfg.TLSConfig.ServerName, time.Now())
		c.mu.Lock()
		c.tls = &o
		c.mu.Unlock()
		if o.err != nil && !p.cfg.TLSConfig.InsecureSkipVerify {
			return o.err
		}
		return nil
	}
	tr := &http.Transport{
		DisableKeepAlives:  true,
		TLSClientConfig:    tc,
		Proxy:              nil,
		DisableCompression: false,
		Protocols:          new(http.Protocols),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			start := time.Now()
			var ip string
			c.mu.Lock()
			first := !c.resolved
			c.resolved = true
			c.mu.Unlock()
			if first {
				a, err := resolve(ctx, c.rec, host)
				if err != nil {
					return nil, err
				}
				ip = a.String()
			} else {
				c.rec.setPhase("resolving " + host)
				addrs, err := net.DefaultResolver.LookupHost(ctx, host)
				if err != nil {
					return nil, err
				}
				ip = addrs[0]
			}
			c.add("resolve", time.Since(start))
			c.rec.setPhase("connecting to " + addr)
			start = time.Now()
			conn, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip, port))
			c.add("connect", time.Since(start))
			return conn, err
		},
	}
	if p.cfg.HTTP.HTTPVersion == "2" {
		tr.Protocols.SetHTTP2(true)
		tr.Protocols.SetUnencryptedHTTP2(true)
	} else {
		tr.Protocols.SetHTTP1(true)
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if !*p.cfg.HTTP.FollowRedirects {
				return http.ErrUseLastResponse
			}
			if len(via) > p.cfg.HTTP.MaxRedirects {
				return &redirectLimit{max: p.cfg.HTTP.MaxRedirects}
			}
			c.mu.Lock()
			c.redirects = len(via)
			c.mu.Unlock()
			return nil
		},
	}
}

func (c *httpCheck) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		TLSHandshakeStart: func() { c.rec.setPhase("in TLS handshake"); c.mark("tls") },
		TLSHandshakeDone:  func(tls.ConnectionState, error) { c.add("tls", c.since("tls")) },
		WroteRequest: func(httptrace.WroteRequestInfo) {
			c.rec.setPhase("waiting for response headers")
			c.mark("wrote")
		},
		GotFirstResponseByte: func() {
			c.add("processing", c.since("wrote"))
			c.mark("firstbyte")
		},
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

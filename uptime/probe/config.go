package probe

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/vigie-dev/vigie/config"
)

// Kinds of probe.
const (
	TypeHTTP = "http"
	TypeTLS  = "tls"
	TypeDNS  = "dns"
	TypeTCP  = "tcp"
	TypeICMP = "icmp"
)

// Defaults of a probe's optional keys. A zero value in Config means "the default".
const (
	DefaultInterval     = 30 * time.Second
	DefaultTimeout      = 10 * time.Second
	DefaultGroup        = "uptime"
	DefaultMaxRedirects = 10
	DefaultBodyLimit    = 1 << 20
	DefaultHTTPVersion  = "1.1"
	DefaultQueryType    = "A"
)

// Config is one probe of uptime.probes[]. Zero values take the defaults
// above (see WithDefaults), so that a YAML document decodes strictly.
type Config struct {
	// Name identifies the probe (history rows, API); unique.
	Name string `yaml:"name" json:"name"`
	// Type is http, tls, dns, tcp or icmp; guessed from url when empty.
	Type string `yaml:"type,omitempty" json:"type"`
	// URL is the target of an http probe.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Target is host:port (tls, tcp), a host (icmp) or the query name (dns, unless dns.query_name is set).
	Target string `yaml:"target,omitempty" json:"target,omitempty"`
	// Group is the job label of the probe's series.
	Group string `yaml:"group,omitempty" json:"group"`
	// Interval between two checks; Timeout bounds one attempt.
	Interval config.Duration `yaml:"interval,omitempty" json:"interval"`
	Timeout  config.Duration `yaml:"timeout,omitempty" json:"timeout"`
	// Retries is how many more attempts a failed check makes at once.
	Retries int `yaml:"retries,omitempty" json:"retries"`
	// FailuresBeforeDown is how many failed checks in a row set
	// probe_success to 0 (flap damping); default 1.
	FailuresBeforeDown int `yaml:"failures_before_down,omitempty" json:"failures_before_down"`
	// BodySizeLimit caps what is read of a response (http, tcp); default 1 MiB.
	BodySizeLimit int64 `yaml:"body_size_limit,omitempty" json:"body_size_limit"`
	// Labels are added to every series of the probe (discovery names the container or service here).
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`

	TLSConfig TLSConfig   `yaml:"tls_config,omitempty" json:"tls_config"`
	HTTP      HTTPConfig  `yaml:"http,omitempty" json:"http"`
	DNS       DNSConfig   `yaml:"dns,omitempty" json:"dns"`
	TCP       TCPConfig   `yaml:"tcp,omitempty" json:"tcp"`
	Status    *StatusInfo `yaml:"status,omitempty" json:"status,omitempty"`
}

// TLSConfig is named as in Prometheus and blackbox_exporter.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file,omitempty" json:"ca_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty" json:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty" json:"insecure_skip_verify"`
}

// HTTPConfig holds the request and the expectations of an http probe.
type HTTPConfig struct {
	Method  string            `yaml:"method,omitempty" json:"method"`
	Headers map[string]string `yaml:"headers,omitempty" json:"headers,omitempty"`
	Body    string            `yaml:"body,omitempty" json:"body,omitempty"`
	// FollowRedirects defaults to true; MaxRedirects to 10.
	FollowRedirects *bool `yaml:"follow_redirects,omitempty" json:"follow_redirects"`
	MaxRedirects    int   `yaml:"max_redirects,omitempty" json:"max_redirects"`
	// ValidStatusCodes defaults to 200-299.
	ValidStatusCodes []int `yaml:"valid_status_codes,omitempty" json:"valid_status_codes,omitempty"`
	// BodyMustMatch and BodyMustNotMatch are regular expressions (a keyword is one).
	BodyMustMatch    []string        `yaml:"body_must_match,omitempty" json:"body_must_match,omitempty"`
	BodyMustNotMatch []string        `yaml:"body_must_not_match,omitempty" json:"body_must_not_match,omitempty"`
	JSONPath         []JSONAssertion `yaml:"json_path,omitempty" json:"json_path,omitempty"`
	// MaxResponseTime fails a check slower than this (0: no limit).
	MaxResponseTime config.Duration `yaml:"max_response_time,omitempty" json:"max_response_time"`
	// HTTPVersion is "1.1" (default) or "2" (h2 over TLS, prior knowledge over http://).
	HTTPVersion string `yaml:"http_version,omitempty" json:"http_version"`
}

// JSONAssertion checks one value of a JSON body, addressed as $.a.b[0].c.
// With neither equals nor matches, the value must exist.
type JSONAssertion struct {
	Path    string  `yaml:"path" json:"path"`
	Equals  *string `yaml:"equals,omitempty" json:"equals,omitempty"`
	Matches string  `yaml:"matches,omitempty" json:"matches,omitempty"`
}

// DNSConfig is the query of a dns probe.
type DNSConfig struct {
	QueryName string `yaml:"query_name,omitempty" json:"query_name"`
	QueryType string `yaml:"query_type,omitempty" json:"query_type"`
	// Resolver is host[:port]; empty uses the first nameserver of /etc/resolv.conf.
	Resolver string `yaml:"resolver,omitempty" json:"resolver,omitempty"`
	// Transport is udp (default) or tcp.
	Transport string `yaml:"transport,omitempty" json:"transport,omitempty"`
	// ValidRcodes defaults to NOERROR.
	ValidRcodes []string `yaml:"valid_rcodes,omitempty" json:"valid_rcodes,omitempty"`
	// ValidAnswers must each be among the answers' values (an A record's
	// address, a CNAME's or MX's host, a TXT's text).
	ValidAnswers []string `yaml:"valid_answers,omitempty" json:"valid_answers,omitempty"`
}

// TCPConfig is the optional exchange of a tcp probe.
type TCPConfig struct {
	Send   string `yaml:"send,omitempty" json:"send,omitempty"`
	Expect string `yaml:"expect,omitempty" json:"expect,omitempty"` // a regular expression
	TLS    bool   `yaml:"tls,omitempty" json:"tls"`
}

// StatusInfo puts the probe on the public status page; without it the probe is not shown.
type StatusInfo struct {
	Name    string `yaml:"name,omitempty" json:"name,omitempty"`
	Group   string `yaml:"group,omitempty" json:"group,omitempty"`
	ShowURL bool   `yaml:"show_url,omitempty" json:"show_url"`
}

// WithDefaults returns c with every zero optional field at its default.
func (c Config) WithDefaults() Config {
	if c.Type == "" {
		c.Type = guessType(c)
	}
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.Interval == 0 {
		c.Interval = config.Duration(DefaultInterval)
	}
	if c.Timeout == 0 {
		c.Timeout = config.Duration(min(DefaultTimeout, c.Interval.D()))
	}
	if c.FailuresBeforeDown == 0 {
		c.FailuresBeforeDown = 1
	}
	if c.BodySizeLimit == 0 {
		c.BodySizeLimit = DefaultBodyLimit
	}
	h := &c.HTTP
	if h.Method == "" {
		h.Method = "GET"
	}
	if h.FollowRedirects == nil {
		t := true
		h.FollowRedirects = &t
	}
	if h.MaxRedirects == 0 {
		h.MaxRedirects = DefaultMaxRedirects
	}
	if h.HTTPVersion == "" {
		h.HTTPVersion = DefaultHTTPVersion
	}
	if c.DNS.QueryType == "" {
		c.DNS.QueryType = DefaultQueryType
	}
	if c.DNS.QueryName == "" && c.Type == TypeDNS {
		c.DNS.QueryName = c.Target
	}
	if c.DNS.Transport == "" {
		c.DNS.Transport = "udp"
	}
	if len(c.DNS.ValidRcodes) == 0 {
		c.DNS.ValidRcodes = []string{"NOERROR"}
	}
	return c
}

func guessType(c Config) string {
	if c.URL != "" {
		return TypeHTTP
	}
	return ""
}

// Instance is the instance label of the probe's series: the URL (its
// password redacted) or the target.
func (c Config) Instance() string {
	if c.URL != "" {
		if u, err := url.Parse(c.URL); err == nil {
			return u.Redacted()
		}
		return c.URL
	}
	if c.Target == "" && c.Type == TypeDNS {
		return c.DNS.QueryName
	}
	return c.Target
}

// Redacted returns c fit to show through the API: header values and the
// URL's password are replaced, since they often carry credentials.
func (c Config) Redacted() Config {
	c.URL = c.Instance()
	if len(c.HTTP.Headers) > 0 {
		h := make(map[string]string, len(c.HTTP.Headers))
		for k := range c.HTTP.Headers {
			h[k] = "<secret>"
		}
		c.HTTP.Headers = h
	}
	return c
}

// Validate checks one probe (after WithDefaults) without touching the network or files.
func (c Config) Validate() error {
	var errs []error
	add := func(path, format string, args ...any) { errs = append(errs, config.Errorf(path, format, args...)) }
	if strings.TrimSpace(c.Name) == "" {
		add("name", "required")
	}
	switch c.Type {
	case TypeHTTP:
		if c.URL == "" {
			add("url", "required for an http probe")
		} else if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("url", "%q is not an http:// or https:// URL", c.URL)
		}
	case TypeTLS, TypeTCP:
		if _, _, err := net.SplitHostPort(c.Target); err != nil {
			add("target", "%q is not host:port", c.Target)
		}
	case TypeICMP:
		if c.Target == "" {
			add("target", "required for an icmp probe")
		}
	case TypeDNS:
		if c.DNS.QueryName == "" {
			add("dns.query_name", "required (or target)")
		}
	case "":
		add("type", "required when url is not set (http, tls, dns, tcp or icmp)")
	default:
		add("type", "unknown probe type %q (want http, tls, dns, tcp or icmp)", c.Type)
	}
	if c.Type != TypeHTTP && c.URL != "" {
		add("url", "only an http probe has a url; use target")
	}
	if c.Interval <= 0 {
		add("interval", "must be positive")
	}
	if c.Timeout <= 0 || c.Timeout > c.Interval {
		add("timeout", "must be positive and at most the interval (%s)", c.Interval)
	}
	if c.Retries < 0 || c.Retries > 10 {
		add("retries", "must be between 0 and 10")
	}
	if c.FailuresBeforeDown < 1 {
		add("failures_before_down", "must be at least 1")
	}
	if c.BodySizeLimit < 0 {
		add("body_size_limit", "must not be negative")
	}
	errs = append(errs, config.Prefix("http", c.HTTP.validate()), config.Prefix("dns", c.DNS.validate()), config.Prefix("tcp", c.TCP.validate()))
	return errors.Join(errs...)
}

func (h HTTPConfig) validate() error {
	var errs []error
	if h.MaxRedirects < 0 {
		errs = append(errs, config.Errorf("max_redirects", "must not be negative"))
	}
	for i, code := range h.ValidStatusCodes {
		if code < 100 || code > 599 {
			errs = append(errs, config.Errorf(fmt.Sprintf("valid_status_codes[%d]", i), "%d is not an HTTP status code", code))
		}
	}
	for _, l := range []struct {
		name string
		res  []string
	}{{"body_must_match", h.BodyMustMatch}, {"body_must_not_match", h.BodyMustNotMatch}} {
		for i, re := range l.res {
			if _, err := regexp.Compile(re); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s[%d]", l.name, i), "%v", err))
			}
		}
	}
	for i, a := range h.JSONPath {
		p := fmt.Sprintf("json_path[%d]", i)
		if _, err := parseJSONPath(a.Path); err != nil {
			errs = append(errs, config.Errorf(p+".path", "%v", err))
		}
		if a.Matches != "" {
			if _, err := regexp.Compile(a.Matches); err != nil {
				errs = append(errs, config.Errorf(p+".matches", "%v", err))
			}
		}
	}
	if h.MaxResponseTime < 0 {
		errs = append(errs, config.Errorf("max_response_time", "must not be negative"))
	}
	if h.HTTPVersion != "1.1" && h.HTTPVersion != "2" {
		errs = append(errs, config.Errorf("http_version", "must be \"1.1\" or \"2\", not %q", h.HTTPVersion))
	}
	return errors.Join(errs...)
}

func (d DNSConfig) validate() error {
	var errs []error
	if _, ok := dns.StringToType[strings.ToUpper(d.QueryType)]; !ok {
		errs = append(errs, config.Errorf("query_type", "unknown record type %q", d.QueryType))
	}
	if d.Transport != "udp" && d.Transport != "tcp" {
		errs = append(errs, config.Errorf("transport", "must be udp or tcp"))
	}
	for i, rc := range d.ValidRcodes {
		if _, ok := dns.StringToRcode[strings.ToUpper(rc)]; !ok {
			errs = append(errs, config.Errorf(fmt.Sprintf("valid_rcodes[%d]", i), "unknown rcode %q", rc))
		}
	}
	return errors.Join(errs...)
}

func (t TCPConfig) validate() error {
	if t.Expect != "" {
		if _, err := regexp.Compile(t.Expect); err != nil {
			return config.Errorf("expect", "%v", err)
		}
	}
	return nil
}

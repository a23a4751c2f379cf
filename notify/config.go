package notify

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"

	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/storage"
)

// Config is the notify section: Alertmanager's route, receivers,
// inhibit_rules and time_intervals, plus vigie's delivery settings.
type Config struct {
	Route         *Route         `yaml:"route"`
	Receivers     []Receiver     `yaml:"receivers"`
	InhibitRules  []InhibitRule  `yaml:"inhibit_rules,omitempty"`
	TimeIntervals []TimeInterval `yaml:"time_intervals,omitempty"`
	// ResolveTimeout is how long an alert sent without an end time stays
	// firing without being re-sent (default 5m, as Alertmanager).
	ResolveTimeout config.Duration `yaml:"resolve_timeout"`
	// DependencyInhibition adds vigie's built-in inhibit rules (default true):
	// the Docker engine down on a host mutes that host's container and
	// replica alerts.
	DependencyInhibition *bool `yaml:"dependency_inhibition,omitempty"`
	// Delivery tunes the durable outbox.
	Delivery DeliveryConfig `yaml:"delivery"`
	// Limits bound what the notifier accepts (POST /api/v2/alerts and Put).
	Limits LimitsConfig `yaml:"limits"`
}

// LimitsConfig bounds alert intake, as Alertmanager's --alerts.* and
// --web.* limits do: one request, or a flood of distinct alerts, cannot
// grow the process without bound.
type LimitsConfig struct {
	// MaxAlertsPerRequest is the most alerts one POST /api/v2/alerts may
	// carry (default 1000); a larger request is refused whole with 413.
	MaxAlertsPerRequest int `yaml:"max_alerts_per_request"`
	// MaxActiveAlerts is the most firing alerts the notifier tracks
	// (default 10000). Beyond it, new alerts are refused (422 on the API);
	// updates and resolutions of known alerts are always accepted.
	MaxActiveAlerts int `yaml:"max_active_alerts"`
	// MaxRequestSize caps a request body of the notifier's API (default 4MB);
	// a larger one is refused with 413.
	MaxRequestSize storage.Bytes `yaml:"max_request_size"`
}

// DefaultLimits are the intake limits' defaults.
func DefaultLimits() LimitsConfig {
	return LimitsConfig{MaxAlertsPerRequest: 1000, MaxActiveAlerts: 10000, MaxRequestSize: 4 << 20}
}

// DeliveryConfig tunes the outbox: retries, give-up age and fallback.
type DeliveryConfig struct {
	// MaxAge is how long a failing notification is retried before it is dropped (default 24h).
	MaxAge config.Duration `yaml:"max_age"`
	// MinBackoff is the first retry delay (default 1s); each retry doubles it, with jitter.
	MinBackoff config.Duration `yaml:"min_backoff"`
	// MaxBackoff caps the retry delay (default 5m).
	MaxBackoff config.Duration `yaml:"max_backoff"`
	// Timeout bounds one delivery attempt (default 30s).
	Timeout config.Duration `yaml:"timeout"`
	// Concurrency is how many deliveries run at once (default 8).
	Concurrency int `yaml:"concurrency"`
	// FallbackReceiver, when set, is told about notifications that keep failing.
	FallbackReceiver string `yaml:"fallback_receiver,omitempty"`
	// FallbackAfter is how long a notification must have been failing before
	// the fallback receiver is told (default 10m).
	FallbackAfter config.Duration `yaml:"fallback_after"`
	// Retention is how long delivered and dropped notifications stay in the
	// log shown by /api/v1/notifications (default 7d).
	Retention config.Duration `yaml:"retention"`
}

// Route is a node of the routing tree, with Alertmanager's fields. Unset
// fields are inherited from the parent.
type Route struct {
	Receiver string   `yaml:"receiver,omitempty"`
	GroupBy  []string `yaml:"group_by,omitempty"`
	Matchers Matchers `yaml:"matchers,omitempty"`
	// Match and MatchRe are Alertmanager's deprecated forms, still accepted.
	Match          map[string]string `yaml:"match,omitempty"`
	MatchRe        map[string]string `yaml:"match_re,omitempty"`
	Continue       bool              `yaml:"continue,omitempty"`
	GroupWait      *config.Duration  `yaml:"group_wait,omitempty"`
	GroupInterval  *config.Duration  `yaml:"group_interval,omitempty"`
	RepeatInterval *config.Duration  `yaml:"repeat_interval,omitempty"`
	// MuteTimeIntervals name time intervals during which this route sends nothing.
	MuteTimeIntervals []string `yaml:"mute_time_intervals,omitempty"`
	// ActiveTimeIntervals name time intervals outside of which this route sends nothing.
	ActiveTimeIntervals []string `yaml:"active_time_intervals,omitempty"`
	// SendResolvedWhenMuted (vigie) sends the resolution of alerts that were
	// silenced or inhibited while they fired, and so were never notified.
	SendResolvedWhenMuted *bool    `yaml:"send_resolved_when_muted,omitempty"`
	Routes                []*Route `yaml:"routes,omitempty"`
}

// InhibitRule mutes target alerts while a source alert with the same values
// of the equal labels fires.
type InhibitRule struct {
	SourceMatchers Matchers          `yaml:"source_matchers"`
	TargetMatchers Matchers          `yaml:"target_matchers"`
	SourceMatch    map[string]string `yaml:"source_match,omitempty"`
	SourceMatchRe  map[string]string `yaml:"source_match_re,omitempty"`
	TargetMatch    map[string]string `yaml:"target_match,omitempty"`
	TargetMatchRe  map[string]string `yaml:"target_match_re,omitempty"`
	Equal          []string          `yaml:"equal,omitempty"`
}

// Receiver is a named set of integrations; a notification for it goes to each.
type Receiver struct {
	Name           string          `yaml:"name"`
	EmailConfigs   []EmailConfig   `yaml:"email_configs,omitempty"`
	SlackConfigs   []SlackConfig   `yaml:"slack_configs,omitempty"`
	WebhookConfigs []WebhookConfig `yaml:"webhook_configs,omitempty"`
}

// TLSConfig is the client TLS setting of an integration.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file,omitempty"`
	ServerName         string `yaml:"server_name,omitempty"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify,omitempty"`
}

// EmailConfig sends mail over SMTP.
type EmailConfig struct {
	SendResolved *bool  `yaml:"send_resolved,omitempty"`
	To           string `yaml:"to"`
	From         string `yaml:"from"`
	// Smarthost is host:port of the SMTP server. Port 465 means implicit TLS.
	Smarthost        string        `yaml:"smarthost"`
	Hello            string        `yaml:"hello,omitempty"`
	AuthUsername     string        `yaml:"auth_username,omitempty"`
	AuthPassword     config.Secret `yaml:"auth_password,omitempty"`
	AuthPasswordFile string        `yaml:"auth_password_file,omitempty"`
	// AuthMechanism is PLAIN (default) or LOGIN.
	AuthMechanism string `yaml:"auth_mechanism,omitempty"`
	// RequireTLS (default true) demands STARTTLS; false sends in clear text.
	RequireTLS *bool `yaml:"require_tls,omitempty"`
	// ImplicitTLS (vigie) connects with TLS from the first byte (default: port 465).
	ImplicitTLS *bool             `yaml:"implicit_tls,omitempty"`
	TLSConfig   TLSConfig         `yaml:"tls_config,omitempty"`
	Headers     map[string]string `yaml:"headers,omitempty"`
	// HTML and Text are Go templates of the two parts (defaults: vigie's).
	HTML string `yaml:"html,omitempty"`
	Text string `yaml:"text,omitempty"`
}

// SlackConfig posts to Slack through an incoming webhook (api_url) or with
// a bot token (app_token) and a channel.
type SlackConfig struct {
	SendResolved *bool         `yaml:"send_resolved,omitempty"`
	APIURL       config.Secret `yaml:"api_url,omitempty"`
	APIURLFile   string        `yaml:"api_url_file,omitempty"`
	AppToken     config.Secret `yaml:"app_token,omitempty"`
	AppTokenFile string        `yaml:"app_token_file,omitempty"`
	// AppURL is the Slack Web API base (default https://slack.com/api/).
	AppURL    string `yaml:"app_url,omitempty"`
	Channel   string `yaml:"channel,omitempty"`
	Username  string `yaml:"username,omitempty"`
	IconEmoji string `yaml:"icon_emoji,omitempty"`
	IconURL   string `yaml:"icon_url,omitempty"`
	// Title and Text are Go templates replacing the default headline and body.
	Title string `yaml:"title,omitempty"`
	Text  string `yaml:"text,omitempty"`
}

// WebhookConfig posts Alertmanager's webhook JSON (version 4).
type WebhookConfig struct {
	SendResolved *bool         `yaml:"send_resolved,omitempty"`
	URL          config.Secret `yaml:"url,omitempty"`
	URLFile      string        `yaml:"url_file,omitempty"`
	// MaxAlerts caps the alerts in one message (0: all); the rest are counted in truncatedAlerts.
	MaxAlerts   int           `yaml:"max_alerts,omitempty"`
	BearerToken config.Secret `yaml:"bearer_token,omitempty"`
	TLSConfig   TLSConfig     `yaml:"tls_config,omitempty"`
}

// Defaults of the routing timers. Alertmanager's 30s/5m/4h make a first
// alert wait half a minute. vigie's rules engine evaluates every group right
// after the collection that feeds it, so alerts caused by the same event
// arrive within milliseconds of each other: 1s of group_wait still batches
// them into one message. A group is updated within 1m.
const (
	DefaultGroupWait      = time.Second
	DefaultGroupInterval  = time.Minute
	DefaultRepeatInterval = 4 * time.Hour
)

// DefaultConfig returns the notify section's defaults: one receiver named
// "default" with no integration, so alerts are kept and visible in the API
// but sent nowhere until a receiver is configured.
func DefaultConfig() Config {
	return Config{
		Route: &Route{
			Receiver:       "default",
			GroupBy:        []string{"alertname", "instance"},
			GroupWait:      durPtr(DefaultGroupWait),
			GroupInterval:  durPtr(DefaultGroupInterval),
			RepeatInterval: durPtr(DefaultRepeatInterval),
		},
		Receivers:      []Receiver{{Name: "default"}},
		ResolveTimeout: config.Duration(5 * time.Minute),
		Delivery:       defaultDelivery(),
		Limits:         DefaultLimits(),
	}
}

func defaultDelivery() DeliveryConfig {
	return DeliveryConfig{
		MaxAge:        config.Duration(24 * time.Hour),
		MinBackoff:    config.Duration(time.Second),
		MaxBackoff:    config.Duration(5 * time.Minute),
		Timeout:       config.Duration(30 * time.Second),
		Concurrency:   8,
		FallbackAfter: config.Duration(10 * time.Minute),
		Retention:     config.Duration(7 * 24 * time.Hour),
	}
}

func durPtr(d time.Duration) *config.Duration { v := config.Duration(d); return &v }

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

var labelNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// Validate checks the section and its cross-references. It is pure: it
// reads no file (x_file secrets are read when the notifier starts).
func (c *Config) Validate() error {
	var errs []error
	names := map[string]int{}
	for i, r := range c.Receivers {
		p := fmt.Sprintf("receivers[%d]", i)
		if r.Name == "" {
			errs = append(errs, config.Errorf(p+".name", "missing receiver name"))
		} else if j, dup := names[r.Name]; dup {
			errs = append(errs, config.Errorf(p+".name", "receiver %q already defined at receivers[%d]", r.Name, j))
		} else {
			names[r.Name] = i
		}
		errs = append(errs, r.validate(p)...)
	}
	intervals := map[string]bool{}
	for i, ti := range c.TimeIntervals {
		p := fmt.Sprintf("time_intervals[%d]", i)
		if ti.Name == "" {
			errs = append(errs, config.Errorf(p+".name", "missing time interval name"))
		} else if intervals[ti.Name] {
			errs = append(errs, config.Errorf(p+".name", "time interval %q already defined", ti.Name))
		}
		intervals[ti.Name] = true
		for j, s := range ti.TimeIntervals {
			if _, err := compileTimeSpec(s); err != nil {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s.time_intervals[%d]", p, j), "%v", err))
			}
		}
	}
	if c.Route == nil {
		errs = append(errs, config.Errorf("route", "missing root route"))
	} else {
		if c.Route.Receiver == "" {
			errs = append(errs, config.Errorf("route.receiver", "the root route must name a receiver"))
		}
		if len(c.Route.Matchers) > 0 || len(c.Route.Match) > 0 || len(c.Route.MatchRe) > 0 {
			errs = append(errs, config.Errorf("route.matchers", "the root route must match every alert: remove its matchers"))
		}
		if c.Route.Continue {
			errs = append(errs, config.Errorf("route.continue", "the root route cannot have continue"))
		}
		errs = append(errs, c.Route.validate("route", names, intervals)...)
	}
	for i, ir := range c.InhibitRules {
		p := fmt.Sprintf("inhibit_rules[%d]", i)
		if _, _, err := ir.compile(); err != nil {
			errs = append(errs, config.Errorf(p, "%v", err))
		}
		for _, l := range ir.Equal {
			if !labelNameRE.MatchString(l) {
				errs = append(errs, config.Errorf(p+".equal", "invalid label name %q", l))
			}
		}
	}
	if c.ResolveTimeout < 0 {
		errs = append(errs, config.Errorf("resolve_timeout", "must not be negative"))
	}
	d := c.Delivery
	if d.MaxAge <= 0 {
		errs = append(errs, config.Errorf("delivery.max_age", "must be positive"))
	}
	if d.MinBackoff <= 0 || d.MaxBackoff < d.MinBackoff {
		errs = append(errs, config.Errorf("delivery.min_backoff", "want 0 < min_backoff <= max_backoff"))
	}
	if d.Timeout <= 0 {
		errs = append(errs, config.Errorf("delivery.timeout", "must be positive"))
	}
	if d.Concurrency < 1 || d.Concurrency > 256 {
		errs = append(errs, config.Errorf("delivery.concurrency", "must be between 1 and 256"))
	}
	if d.FallbackReceiver != "" {
		if _, ok := names[d.FallbackReceiver]; !ok {
			errs = append(errs, config.Errorf("delivery.fallback_receiver", "undefined receiver %q", d.FallbackReceiver))
		}
	}
	errs = append(errs, c.Limits.validate()...)
	return errors.Join(errs...)
}

func (r *Route) validate(p string, receivers map[string]int, intervals map[string]bool) []error {
	var errs []error
	if r.Receiver != "" {
		if _, ok := receivers[r.Receiver]; !ok {
			errs = append(errs, config.Errorf(p+".receiver", "route uses undefined receiver %q", r.Receiver))
		}
	}
	if _, err := matchersFromMaps(r.Match, r.MatchRe); err != nil {
		errs = append(errs, config.Errorf(p+".match_re", "%v", err))
	}
	seen := map[string]bool{}
	for _, l := range r.GroupBy {
		if l == "..." {
			if len(r.GroupBy) > 1 {
				errs = append(errs, config.Errorf(p+".group_by", `"..." groups by every label and must be alone`))
			}
			continue
		}
		if !labelNameRE.MatchString(l) {
			errs = append(errs, config.Errorf(p+".group_by", "invalid label name %q", l))
		}
		if seen[l] {
			errs = append(errs, config.Errorf(p+".group_by", "duplicated label %q", l))
		}
		seen[l] = true
	}
	if r.GroupWait != nil && *r.GroupWait < 0 {
		errs = append(errs, config.Errorf(p+".group_wait", "must not be negative"))
	}
	if r.GroupInterval != nil && *r.GroupInterval <= 0 {
		errs = append(errs, config.Errorf(p+".group_interval", "must be positive"))
	}
	if r.RepeatInterval != nil && *r.RepeatInterval <= 0 {
		errs = append(errs, config.Errorf(p+".repeat_interval", "must be positive"))
	}
	for i, n := range r.MuteTimeIntervals {
		if !intervals[n] {
			errs = append(errs, config.Errorf(fmt.Sprintf("%s.mute_time_intervals[%d]", p, i), "undefined time interval %q", n))
		}
	}
	for i, n := range r.ActiveTimeIntervals {
		if !intervals[n] {
			errs = append(errs, config.Errorf(fmt.Sprintf("%s.active_time_intervals[%d]", p, i), "undefined time interval %q", n))
		}
	}
	for i, c := range r.Routes {
		if c == nil {
			errs = append(errs, config.Errorf(fmt.Sprintf("%s.routes[%d]", p, i), "empty route"))
			continue
		}
		errs = append(errs, c.validate(fmt.Sprintf("%s.routes[%d]", p, i), receivers, intervals)...)
	}
	return errs
}

func (r *Receiver) validate(p string) []error {
	var errs []error
	for i, e := range r.EmailConfigs {
		q := fmt.Sprintf("%s.email_configs[%d]", p, i)
		if strings.TrimSpace(e.To) == "" {
			errs = append(errs, config.Errorf(q+".to", "missing recipient"))
		} else if _, err := mail.ParseAddressList(e.To); err != nil {
			errs = append(errs, config.Errorf(q+".to", "invalid address list %q: %v", e.To, err))
		}
		if e.From == "" {
			errs = append(errs, config.Errorf(q+".from", "missing sender address"))
		} else if _, err := mail.ParseAddress(e.From); err != nil {
			errs = append(errs, config.Errorf(q+".from", "invalid address %q", e.From))
		}
		if _, port, err := net.SplitHostPort(e.Smarthost); err != nil || port == "" {
			errs = append(errs, config.Errorf(q+".smarthost", "invalid smarthost %q: want host:port", e.Smarthost))
		}
		if e.AuthPassword != "" && e.AuthPasswordFile != "" {
			errs = append(errs, config.Errorf(q+".auth_password", "auth_password and auth_password_file are mutually exclusive"))
		}
		switch strings.ToUpper(e.AuthMechanism) {
		case "", "PLAIN", "LOGIN":
		default:
			errs = append(errs, config.Errorf(q+".auth_mechanism", "unknown mechanism %q: want PLAIN or LOGIN", e.AuthMechanism))
		}
		errs = append(errs, checkTemplate(q+".html", e.HTML, true), checkTemplate(q+".text", e.Text, false))
		for k, v := range e.Headers {
			errs = append(errs, checkTemplate(q+".headers."+k, v, false))
		}
	}
	for i, s := range r.SlackConfigs {
		q := fmt.Sprintf("%s.slack_configs[%d]", p, i)
		hasURL := s.APIURL != "" || s.APIURLFile != ""
		hasToken := s.AppToken != "" || s.AppTokenFile != ""
		switch {
		case s.APIURL != "" && s.APIURLFile != "":
			errs = append(errs, config.Errorf(q+".api_url", "api_url and api_url_file are mutually exclusive"))
		case s.AppToken != "" && s.AppTokenFile != "":
			errs = append(errs, config.Errorf(q+".app_token", "app_token and app_token_file are mutually exclusive"))
		case hasURL && hasToken:
			errs = append(errs, config.Errorf(q, "set either api_url (incoming webhook) or app_token (bot token), not both"))
		case !hasURL && !hasToken:
			errs = append(errs, config.Errorf(q, "missing api_url (incoming webhook) or app_token (bot token)"))
		case hasToken && s.Channel == "":
			errs = append(errs, config.Errorf(q+".channel", "a bot token needs a channel"))
		}
		if s.APIURL != "" {
			if u, err := url.Parse(s.APIURL.Value()); err != nil || u.Host == "" {
				errs = append(errs, config.Errorf(q+".api_url", "invalid URL"))
			}
		}
		if s.AppURL != "" {
			if u, err := url.Parse(s.AppURL); err != nil || u.Host == "" {
				errs = append(errs, config.Errorf(q+".app_url", "invalid URL %q", s.AppURL))
			}
		}
		errs = append(errs, checkTemplate(q+".title", s.Title, false), checkTemplate(q+".text", s.Text, false))
	}
	for i, w := range r.WebhookConfigs {
		q := fmt.Sprintf("%s.webhook_configs[%d]", p, i)
		switch {
		case w.URL != "" && w.URLFile != "":
			errs = append(errs, config.Errorf(q+".url", "url and url_file are mutually exclusive"))
		case w.URL == "" && w.URLFile == "":
			errs = append(errs, config.Errorf(q+".url", "missing url"))
		case w.URL != "":
			if u, err := url.Parse(w.URL.Value()); err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
				errs = append(errs, config.Errorf(q+".url", "invalid URL: want http(s)://host/path"))
			}
		}
		if w.MaxAlerts < 0 {
			errs = append(errs, config.Errorf(q+".max_alerts", "must not be negative"))
		}
	}
	var out []error
	for _, e := range errs {
		if e != nil {
			out = append(out, e)
		}
	}
	return out
}

func checkTemplate(path, text string, html bool) error {
	if text == "" {
		return nil
	}
	var err error
	if html {
		_, err = newHTMLTemplate(path, text)
	} else {
		_, err = template.New(path).Funcs(templateFuncs).Parse(text)
	}
	if err != nil {
		return config.Errorf(path, "invalid template: %v", err)
	}
	return nil
}

func (l LimitsConfig) validate() []error {
	var errs []error
	if l.MaxAlertsPerRequest < 1 {
		errs = append(errs, config.Errorf("limits.max_alerts_per_request", "must be at least 1"))
	}
	if l.MaxActiveAlerts < 1 {
		errs = append(errs, config.Errorf("limits.max_active_alerts", "must be at least 1"))
	}
	if l.MaxRequestSize < 1<<10 {
		errs = append(errs, config.Errorf("limits.max_request_size", "must be at least 1KB"))
	}
	return errs
}

// Package scrape scrapes other Prometheus targets into vigie's storage with
// Prometheus's own scrape manager: the same parsers (text, OpenMetrics,
// protobuf), the same `up`, `scrape_duration_seconds`, `scrape_samples_scraped`
// series and the same staleness handling.
package scrape

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/discovery"
	"github.com/prometheus/prometheus/discovery/targetgroup"
	"github.com/prometheus/prometheus/scrape"
	"github.com/prometheus/prometheus/storage"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Config is the collect.scrape section: a list of jobs.
type Config []Job

// Job is one scrape job with static targets.
type Job struct {
	JobName               string              `yaml:"job_name"`
	Targets               []string            `yaml:"targets"`
	MetricsPath           string              `yaml:"metrics_path,omitempty"`
	Scheme                string              `yaml:"scheme,omitempty"`
	Interval              config.Duration     `yaml:"interval,omitempty"`
	Timeout               config.Duration     `yaml:"timeout,omitempty"`
	Labels                map[string]string   `yaml:"labels,omitempty"`
	HonorLabels           bool                `yaml:"honor_labels,omitempty"`
	Params                map[string][]string `yaml:"params,omitempty"`
	BasicAuth             *BasicAuth          `yaml:"basic_auth,omitempty"`
	BearerToken           config.Secret       `yaml:"bearer_token,omitempty"`
	BearerTokenFile       string              `yaml:"bearer_token_file,omitempty"`
	TLSInsecureSkipVerify bool                `yaml:"tls_insecure_skip_verify,omitempty"`
}

// BasicAuth is HTTP basic authentication for a job.
type BasicAuth struct {
	Username     string        `yaml:"username"`
	Password     config.Secret `yaml:"password,omitempty"`
	PasswordFile string        `yaml:"password_file,omitempty"`
}

var jobNameRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_.:-]*$`)

// Validate checks every job.
func (c Config) Validate() error {
	var errs []error
	seen := map[string]bool{}
	for i, j := range c {
		p := fmt.Sprintf("[%d]", i)
		switch {
		case j.JobName == "":
			errs = append(errs, config.Errorf(p+".job_name", "is required"))
		case !jobNameRE.MatchString(j.JobName):
			errs = append(errs, config.Errorf(p+".job_name", "invalid job name %q", j.JobName))
		case seen[j.JobName]:
			errs = append(errs, config.Errorf(p+".job_name", "duplicate job name %q", j.JobName))
		}
		seen[j.JobName] = true
		if len(j.Targets) == 0 {
			errs = append(errs, config.Errorf(p+".targets", "at least one target is required"))
		}
		for k, t := range j.Targets {
			if _, _, err := net.SplitHostPort(t); err != nil || strings.Contains(t, "/") {
				errs = append(errs, config.Errorf(fmt.Sprintf("%s.targets[%d]", p, k), "invalid target %q: want host:port", t))
			}
		}
		if j.Scheme != "" && j.Scheme != "http" && j.Scheme != "https" {
			errs = append(errs, config.Errorf(p+".scheme", "must be http or https, got %q", j.Scheme))
		}
		if j.MetricsPath != "" && !strings.HasPrefix(j.MetricsPath, "/") {
			errs = append(errs, config.Errorf(p+".metrics_path", "must start with /"))
		}
		if j.Interval != 0 && j.Interval.D() < time.Second {
			errs = append(errs, config.Errorf(p+".interval", "must be at least 1s"))
		}
		if j.Timeout != 0 && j.Interval != 0 && j.Timeout > j.Interval {
			errs = append(errs, config.Errorf(p+".timeout", "must not exceed interval %s", j.Interval))
		}
		for name := range j.Labels {
			if !model.UTF8Validation.IsValidLabelName(name) || strings.HasPrefix(name, "__") {
				errs = append(errs, config.Errorf(p+".labels."+name, "invalid label name"))
			}
		}
		if j.BasicAuth != nil && (j.BearerToken != "" || j.BearerTokenFile != "") {
			errs = append(errs, config.Errorf(p, "basic_auth and bearer_token are mutually exclusive"))
		}
		if j.BasicAuth != nil && j.BasicAuth.Password != "" && j.BasicAuth.PasswordFile != "" {
			errs = append(errs, config.Errorf(p+".basic_auth", "password and password_file are mutually exclusive"))
		}
		if j.BearerToken != "" && j.BearerTokenFile != "" {
			errs = append(errs, config.Errorf(p, "bearer_token and bearer_token_file are mutually exclusive"))
		}
	}
	return errors.Join(errs...)
}

// Scraper runs the Prometheus scrape manager over the configured jobs.
type Scraper struct {
	mgr     *scrape.Manager
	logger  *slog.Logger
	tsets   chan map[string][]*targetgroup.Group
	mu      sync.Mutex
	current *promconfig.Config
}

// New returns a Scraper that appends into app.
func New(app storage.Appendable, logger *slog.Logger, reg prometheus.Registerer) (*Scraper, error) {
	mgr, err := scrape.NewManager(&scrape.Options{DiscoveryReloadInterval: model.Duration(100 * time.Millisecond)}, logger.With("component", "scrape"), nil, app, nil, reg)
	if err != nil {
		return nil, fmt.Errorf("create scrape manager: %w", err)
	}
	return &Scraper{mgr: mgr, logger: logger, tsets: make(chan map[string][]*targetgroup.Group, 1)}, nil
}

// Run scrapes until ctx ends.
func (s *Scraper) Run(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.mgr.Run(s.tsets)
	}()
	<-ctx.Done()
	s.mgr.Stop()
	<-done
}

// ApplyConfig swaps the jobs; defaultInterval is collect.interval.
func (s *Scraper) ApplyConfig(cfg Config, defaultInterval time.Duration) error {
	pc, groups, err := prometheusConfig(cfg, defaultInterval)
	if err != nil {
		return err
	}
	if err := s.mgr.ApplyConfig(pc); err != nil {
		return fmt.Errorf("apply scrape configuration: %w", err)
	}
	s.mu.Lock()
	s.current = pc
	s.mu.Unlock()
	// Replace any pending update with the newest one.
	select {
	case <-s.tsets:
	default:
	}
	s.tsets <- groups
	return nil
}

// TargetsActive returns the active targets by job, for /api/v1/targets.
func (s *Scraper) TargetsActive() map[string][]*scrape.Target { return s.mgr.TargetsActive() }

// TargetsDropped returns the dropped targets by job.
func (s *Scraper) TargetsDropped() map[string][]*scrape.Target { return s.mgr.TargetsDropped() }

// ScrapeConfig returns the Prometheus form of a job, for target intervals in the API.
func (s *Scraper) ScrapeConfig(job string) (*promconfig.ScrapeConfig, error) {
	return s.mgr.ScrapePoolConfig(job)
}

// prometheusConfig translates vigie's jobs into Prometheus's configuration,
// through Prometheus's own loader so that every default and check applies.
func prometheusConfig(cfg Config, defaultInterval time.Duration) (*promconfig.Config, map[string][]*targetgroup.Group, error) {
	type basicAuth struct {
		Username     string `yaml:"username"`
		Password     string `yaml:"password,omitempty"`
		PasswordFile string `yaml:"password_file,omitempty"`
	}
	type authz struct {
		Credentials     string `yaml:"credentials,omitempty"`
		CredentialsFile string `yaml:"credentials_file,omitempty"`
	}
	type static struct {
		Targets []string          `yaml:"targets"`
		Labels  map[string]string `yaml:"labels,omitempty"`
	}
	type tlsConfig struct {
		InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
	}
	type job struct {
		JobName       string              `yaml:"job_name"`
		Interval      string              `yaml:"scrape_interval"`
		Timeout       string              `yaml:"scrape_timeout"`
		MetricsPath   string              `yaml:"metrics_path,omitempty"`
		Scheme        string              `yaml:"scheme,omitempty"`
		HonorLabels   bool                `yaml:"honor_labels,omitempty"`
		Params        map[string][]string `yaml:"params,omitempty"`
		BasicAuth     *basicAuth          `yaml:"basic_auth,omitempty"`
		Authorization *authz              `yaml:"authorization,omitempty"`
		TLSConfig     *tlsConfig          `yaml:"tls_config,omitempty"`
		Compression   *bool               `yaml:"enable_compression,omitempty"`
		StaticConfigs []static            `yaml:"static_configs"`
	}
	var jobs []job
	for _, j := range cfg {
		interval := j.Interval.D()
		if interval == 0 {
			interval = defaultInterval
		}
		timeout := j.Timeout.D()
		if timeout == 0 {
			timeout = min(10*time.Second, interval)
		}
		pj := job{
			JobName:       j.JobName,
			Interval:      model.Duration(interval).String(),
			Timeout:       model.Duration(timeout).String(),
			MetricsPath:   j.MetricsPath,
			Scheme:        j.Scheme,
			HonorLabels:   j.HonorLabels,
			Params:        j.Params,
			StaticConfigs: []static{{Targets: j.Targets, Labels: j.Labels}},
		}
		if j.BasicAuth != nil {
			pj.BasicAuth = &basicAuth{Username: j.BasicAuth.Username, Password: j.BasicAuth.Password.Value(), PasswordFile: j.BasicAuth.PasswordFile}
		}
		if j.BearerToken != "" || j.BearerTokenFile != "" {
			pj.Authorization = &authz{Credentials: j.BearerToken.Value(), CredentialsFile: j.BearerTokenFile}
		}
		if j.TLSInsecureSkipVerify {
			pj.TLSConfig = &tlsConfig{InsecureSkipVerify: true}
		}
		if allLoopback(j.Targets) {
			// gzip saves no bandwidth on loopback and costs CPU on both
			// sides: the exporter compresses each scrape and vigie
			// inflates it (~6 % of an agent's CPU at 22k samples/s,
			// docs/benchmarks/agent.md).
			off := false
			pj.Compression = &off
		}
		jobs = append(jobs, pj)
	}
	doc := map[string]any{
		"global":         map[string]any{"scrape_interval": model.Duration(defaultInterval).String(), "scrape_timeout": model.Duration(min(10*time.Second, defaultInterval)).String()},
		"scrape_configs": jobs,
	}
	b, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("scrape configuration: %w", err)
	}
	pc, err := promconfig.Load(string(b), slog.New(slog.DiscardHandler))
	if err != nil {
		// Prometheus's messages name its own keys; vigie's are close enough
		// (scrape_interval → interval) for the message to be actionable.
		return nil, nil, fmt.Errorf("scrape configuration: %s", redactURLs(err.Error()))
	}
	groups := map[string][]*targetgroup.Group{}
	for _, sc := range pc.ScrapeConfigs {
		var gs []*targetgroup.Group
		for _, sd := range sc.ServiceDiscoveryConfigs {
			if st, ok := sd.(discovery.StaticConfig); ok {
				for i, g := range st {
					g.Source = fmt.Sprintf("%s/%d", sc.JobName, i)
					gs = append(gs, g)
				}
			}
		}
		groups[sc.JobName] = gs
	}
	return pc, groups, nil
}

// allLoopback reports whether every target is on this host's loopback
// interface (localhost, 127.0.0.0/8, ::1).
func allLoopback(targets []string) bool {
	for _, t := range targets {
		host, _, err := net.SplitHostPort(t)
		if err != nil {
			return false
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return false
		}
	}
	return len(targets) > 0
}

func redactURLs(s string) string {
	return userinfoRE.ReplaceAllStringFunc(s, func(m string) string {
		u, err := url.Parse(m)
		if err != nil {
			return m
		}
		return u.Redacted()
	})
}

var userinfoRE = regexp.MustCompile(`https?://[^\s"]+@[^\s"]+`)

// Jobs returns the job names in order, for tests and the API.
func (s *Scraper) Jobs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return nil
	}
	var out []string
	for _, sc := range s.current.ScrapeConfigs {
		out = append(out, sc.JobName)
	}
	sort.Strings(out)
	return out
}

package main

import (
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/api"
	"github.com/vigie-dev/vigie/collector/container"
	"github.com/vigie-dev/vigie/collector/node"
	"github.com/vigie-dev/vigie/collector/postgres"
	"github.com/vigie-dev/vigie/collector/scrape"
	"github.com/vigie-dev/vigie/collector/systemd"
	"github.com/vigie-dev/vigie/config"
	"github.com/vigie-dev/vigie/dashboards/auth"
	"github.com/vigie-dev/vigie/dashboards/status"
	"github.com/vigie-dev/vigie/internal/tracing"
	"github.com/vigie-dev/vigie/logs"
	"github.com/vigie-dev/vigie/notify"
	"github.com/vigie-dev/vigie/rules"
	"github.com/vigie-dev/vigie/scaling"
	"github.com/vigie-dev/vigie/storage"
	"github.com/vigie-dev/vigie/uptime"
)

//go:embed default.yml
var defaultConfigYAML []byte

// Config is the root of vigie's configuration file. Each section belongs to
// the package that uses it; this type only assembles them.
type Config struct {
	Global  GlobalConfig   `yaml:"global"`
	Storage storage.Config `yaml:"storage"`
	Collect CollectConfig  `yaml:"collect"`
	Rules   rules.Config   `yaml:"rules"`
	Notify  notify.Config  `yaml:"notify"`
	API     api.Config     `yaml:"api"`
	Scaling scaling.Config `yaml:"scaling"`
	Uptime  uptime.Config  `yaml:"uptime"`
	Logs    logs.Config    `yaml:"logs"`
	// StatusPage is the public status page of the probes (docs/status-page.md).
	StatusPage status.Config `yaml:"status_page"`
	Auth       auth.Config   `yaml:"auth"`

	// Agent mode and remote write (remote.go, agent.go).
	Mode        string             `yaml:"mode"`
	RemoteWrite RemoteWriteConfigs `yaml:"remote_write"`
	Agent       AgentConfig        `yaml:"agent"`
	Tracing     tracing.Config     `yaml:"tracing"` // tracing.go
}

// GlobalConfig is the global section.
type GlobalConfig struct {
	// Listen is the HTTP address (default 127.0.0.1:9753: loopback unless chosen).
	Listen string `yaml:"listen"`
	// DataDir holds the TSDB and the state database (default ./data).
	DataDir string `yaml:"data_dir"`
	// ExternalURL is how people reach this vigie, for links in notifications.
	ExternalURL string `yaml:"external_url"`
	// Hostname names this host in the instance label of self-collected series.
	Hostname string `yaml:"hostname"`
	// LogLevel is debug, info, warn or error.
	LogLevel string `yaml:"log_level"`
	// LogFormat is logfmt or json.
	LogFormat string `yaml:"log_format"`
	// ExternalLabels are added to every series sent by remote write.
	ExternalLabels map[string]string `yaml:"external_labels"`
}

// CollectConfig is the collect section.
type CollectConfig struct {
	// Interval between two collections of the built-in collectors (default 15s, at least 1s).
	Interval config.Duration `yaml:"interval"`
	// Timeout bounds one collection (default: the interval, at most 10s).
	Timeout  config.Duration  `yaml:"timeout"`
	Node     node.Config      `yaml:"node"`
	Docker   container.Config `yaml:"docker"`
	Postgres postgres.Config  `yaml:"postgres"`
	Scrape   scrape.Config    `yaml:"scrape"`
	Systemd  systemd.Config   `yaml:"systemd"`
}

// defaultConfig returns every default; the file's values are decoded over it.
func defaultConfig() Config {
	host, _ := os.Hostname()
	return Config{
		Global: GlobalConfig{
			Listen:    "127.0.0.1:9753",
			DataDir:   "./data",
			Hostname:  host,
			LogLevel:  "info",
			LogFormat: "logfmt",
		},
		Storage:    storage.DefaultConfig(),
		Rules:      rules.DefaultConfig(),
		Notify:     notify.DefaultConfig(),
		API:        api.DefaultConfig(),
		Scaling:    scaling.DefaultConfig(),
		Uptime:     uptime.DefaultConfig(),
		Logs:       logs.DefaultConfig(),
		StatusPage: status.DefaultConfig(),
		Auth:       auth.DefaultConfig(),
		Agent:      DefaultAgentConfig(),
		Tracing:    tracing.DefaultConfig(),
		Collect: CollectConfig{
			Interval: config.Duration(15 * time.Second),
			Node:     node.DefaultConfig(),
			Docker:   container.DefaultConfig(),
			Systemd:  systemd.DefaultConfig(),
		},
	}
}

// Validate checks every section and the references between them.
func (c *Config) Validate() error {
	var errs []error
	g := c.Global
	if _, _, err := net.SplitHostPort(g.Listen); err != nil {
		errs = append(errs, config.Errorf("global.listen", "invalid address %q: want host:port", g.Listen))
	}
	if g.DataDir == "" {
		errs = append(errs, config.Errorf("global.data_dir", "is required"))
	}
	if g.ExternalURL != "" {
		if u, err := url.Parse(g.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Errorf("global.external_url", "invalid URL %q: want http(s)://host[:port][/path]", g.ExternalURL))
		}
	}
	switch g.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, config.Errorf("global.log_level", "must be debug, info, warn or error, got %q", g.LogLevel))
	}
	switch g.LogFormat {
	case "logfmt", "json":
	default:
		errs = append(errs, config.Errorf("global.log_format", "must be logfmt or json, got %q", g.LogFormat))
	}
	errs = append(errs, config.Prefix("storage", c.Storage.Validate()))
	if c.Collect.Interval.D() < time.Second {
		errs = append(errs, config.Errorf("collect.interval", "must be at least 1s, got %s", c.Collect.Interval))
	}
	if c.Collect.Timeout != 0 && c.Collect.Timeout > c.Collect.Interval {
		errs = append(errs, config.Errorf("collect.timeout", "must not exceed collect.interval (%s)", c.Collect.Interval))
	}
	errs = append(errs, config.Prefix("collect.node", c.Collect.Node.Validate()))
	errs = append(errs, config.Prefix("collect.docker", c.Collect.Docker.Validate()))
	errs = append(errs, config.Prefix("collect.postgres", c.Collect.Postgres.Validate()))
	errs = append(errs, config.Prefix("collect.scrape", c.Collect.Scrape.Validate()))
	errs = append(errs, config.Prefix("collect.systemd", c.Collect.Systemd.Validate()))
	errs = append(errs, config.Prefix("rules", c.Rules.Validate()))
	errs = append(errs, config.Prefix("notify", c.Notify.Validate()))
	errs = append(errs, config.Prefix("api", c.API.Validate()))
	errs = append(errs, config.Prefix("scaling", c.Scaling.Validate()))
	errs = append(errs, config.Prefix("uptime", c.Uptime.Validate()))
	errs = append(errs, config.Prefix("logs", c.Logs.Validate()))
	errs = append(errs, c.validateStatusPage())
	errs = append(errs, config.Prefix("auth", c.Auth.Validate()))
	errs = append(errs, c.validateRemote()) // remote.go
	errs = append(errs, config.Prefix("tracing", c.Tracing.Validate()))
	return errors.Join(errs...)
}

// collectTimeout is the per-gather deadline.
func (c *Config) collectTimeout() time.Duration {
	if c.Collect.Timeout != 0 {
		return c.Collect.Timeout.D()
	}
	return min(c.Collect.Interval.D(), 10*time.Second)
}

// externalURL is where people reach this vigie.
func (c *Config) externalURL() string {
	if c.Global.ExternalURL != "" {
		return strings.TrimRight(c.Global.ExternalURL, "/")
	}
	host, port, _ := net.SplitHostPort(c.Global.Listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = c.Global.Hostname
	}
	return "http://" + net.JoinHostPort(host, port)
}

// loadConfig reads file (or the embedded default when file is "") and
// returns the validated configuration.
func loadConfig(file string) (*Config, error) {
	name, data := "<default>", defaultConfigYAML
	if file != "" {
		// Refuses an oversized file without reading it whole.
		b, err := config.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read configuration: %w", err)
		}
		name, data = file, b
	}
	if isEmptyYAML(data) {
		// An empty file is almost always a mistake (a truncated copy, a
		// wrong path to a placeholder): running on the defaults would hide it.
		return nil, fmt.Errorf("%s: configuration is empty (write {} to run on the defaults)", name)
	}
	cfg := defaultConfig()
	if err := config.Decode(name, data, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// isEmptyYAML reports whether data holds no YAML document at all: nothing,
// whitespace or comments only.
func isEmptyYAML(data []byte) bool {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return false // the decoder reports it, with its position
	}
	if len(doc.Content) == 0 {
		return true
	}
	// "---" alone is a document holding an implicit null.
	c := doc.Content[0]
	return len(doc.Content) == 1 && c.Kind == yaml.ScalarNode && c.Tag == "!!null" && c.Value == "" && c.Style == 0
}

// redacted is the configuration as YAML with every secret shown as <secret>.
func (c *Config) redacted() string {
	b, err := yaml.Marshal(c)
	if err != nil {
		return "# cannot encode configuration: " + err.Error()
	}
	return string(b)
}

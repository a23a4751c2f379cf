package logs

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/alecthomas/units"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"

	"github.com/vigie-dev/vigie/config"
)

// Config is the logs section: where lines come from, how they are
// processed, how long they are kept and where they are forwarded.
type Config struct {
	// Files are tailed by glob.
	Files []FileConfig `yaml:"files,omitempty"`
	// Docker follows the stdout and stderr of the engine's containers.
	Docker DockerConfig `yaml:"docker"`
	// Patterns are user patterns counted in vigie_log_pattern_matches_total.
	Patterns []PatternConfig `yaml:"patterns,omitempty"`
	// Multiline joins stack traces into one entry.
	Multiline MultilineConfig `yaml:"multiline"`
	// Retention bounds the store.
	Retention RetentionConfig `yaml:"retention"`
	// Forward sends every line to external Lokis as well.
	Forward []ForwardConfig `yaml:"forward,omitempty"`
	// Push bounds the Loki push receiver.
	Push PushConfig `yaml:"push"`
	// MaxLineSize truncates longer lines (counted in vigie_log_lines_truncated_total).
	MaxLineSize ByteSize `yaml:"max_line_size"`
	// PollInterval is how often files are checked for new lines, rotation and new files.
	PollInterval config.Duration `yaml:"poll_interval"`
}

// FileConfig is one glob of files to tail.
type FileConfig struct {
	Path   string            `yaml:"path"`
	Labels map[string]string `yaml:"labels,omitempty"`
}

// DockerConfig turns the container source on.
type DockerConfig struct {
	Enabled bool `yaml:"enabled"`
	// Host is the engine's address (unix:///var/run/docker.sock).
	Host string `yaml:"host"`
}

// DefaultDockerHost is the engine's usual socket.
const DefaultDockerHost = "unix:///var/run/docker.sock"

// PatternConfig is a user pattern. Labels are added to the rule generated
// by Alert (severity, team...).
type PatternConfig struct {
	Name   string            `yaml:"name"`
	Regex  string            `yaml:"regex"`
	Labels map[string]string `yaml:"labels,omitempty"`
	Alert  *PatternAlert     `yaml:"alert,omitempty"`
}

// PatternAlert is a Papertrail-style alert: more than Threshold matches in Window.
type PatternAlert struct {
	Threshold int             `yaml:"threshold"`
	Window    config.Duration `yaml:"window"`
}

// MultilineConfig bounds the joining of continuation lines.
type MultilineConfig struct {
	// MaxLines caps one joined entry; the next line starts a new one.
	MaxLines int `yaml:"max_lines"`
	// FlushTimeout emits a pending entry when no line followed it for this long.
	FlushTimeout config.Duration `yaml:"flush_timeout"`
}

// RetentionConfig bounds the store by age and by size.
type RetentionConfig struct {
	MaxAge  config.Duration `yaml:"max_age"`
	MaxSize ByteSize        `yaml:"max_size"`
}

// ForwardConfig is an external Loki.
type ForwardConfig struct {
	// URL is the push endpoint (https://loki:3100/loki/api/v1/push).
	URL string `yaml:"url"`
	// Tenant is sent as X-Scope-OrgID.
	Tenant   string        `yaml:"tenant,omitempty"`
	Username string        `yaml:"username,omitempty"`
	Password config.Secret `yaml:"password,omitempty"`
	// BufferSize bounds the batches kept on disk while Loki is away
	// (default 256MiB; the oldest are dropped beyond it).
	BufferSize ByteSize `yaml:"buffer_size,omitempty"`
}

// DefaultForwardBuffer is a forward target's default on-disk buffer.
const DefaultForwardBuffer = ByteSize(256 << 20)

// PushConfig bounds one request to POST /loki/api/v1/push.
type PushConfig struct {
	MaxBodySize ByteSize `yaml:"max_body_size"`
	MaxStreams  int      `yaml:"max_streams"`
}

// ByteSize is a size written as 512KB, 64MiB or 1GB (powers of 1024, as
// Prometheus' storage.tsdb.retention.size).
type ByteSize int64

// UnmarshalYAML parses a size with its unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return config.NodeError(n, "expected a size such as 512KB or 1GB")
	}
	v, err := units.ParseBase2Bytes(n.Value)
	if err != nil {
		return config.NodeError(n, fmt.Sprintf("invalid size %q", n.Value))
	}
	*b = ByteSize(v)
	return nil
}

// MarshalYAML writes the size back with its unit.
func (b ByteSize) MarshalYAML() (any, error) { return units.Base2Bytes(b).String(), nil }

// Defaults.
const (
	DefaultMaxAge       = 7 * 24 * time.Hour
	DefaultMaxSize      = ByteSize(1 << 30)
	DefaultMaxBody      = ByteSize(8 << 20)
	DefaultMaxStreams   = 1000
	DefaultMaxLineSize  = ByteSize(64 << 10)
	DefaultMaxLines     = 500
	DefaultFlushTimeout = 2 * time.Second
	DefaultPollInterval = time.Second
)

// DefaultConfig tails nothing and keeps a week of lines, at most 1 GiB.
func DefaultConfig() Config {
	return Config{
		Docker:       DockerConfig{Host: DefaultDockerHost},
		Multiline:    MultilineConfig{MaxLines: DefaultMaxLines, FlushTimeout: config.Duration(DefaultFlushTimeout)},
		Retention:    RetentionConfig{MaxAge: config.Duration(DefaultMaxAge), MaxSize: DefaultMaxSize},
		Push:         PushConfig{MaxBodySize: DefaultMaxBody, MaxStreams: DefaultMaxStreams},
		MaxLineSize:  DefaultMaxLineSize,
		PollInterval: config.Duration(DefaultPollInterval),
	}
}

// BuiltinPatterns are the names the pipeline reserves.
var BuiltinPatterns = []string{"postgres_connection_error", "go_panic", "node_unhandled_error", "http_5xx", "oom_kill"}

// Validate checks the section without touching files or the network.
func (c Config) Validate() error {
	var errs []error
	for i, f := range c.Files {
		p := fmt.Sprintf("files[%d]", i)
		if f.Path == "" {
			errs = append(errs, config.Errorf(p+".path", "required"))
		} else if _, err := filepath.Match(f.Path, ""); err != nil {
			errs = append(errs, config.Errorf(p+".path", "invalid glob %q: %v", f.Path, err))
		}
		errs = append(errs, validateLabels(p+".labels", f.Labels)...)
		for _, reserved := range []string{LevelLabel, "filename"} {
			if _, ok := f.Labels[reserved]; ok {
				errs = append(errs, config.Errorf(p+".labels."+reserved, "%q is set by vigie", reserved))
			}
		}
	}
	seen := map[string]bool{}
	for _, n := range BuiltinPatterns {
		seen[n] = true
	}
	for i, pc := range c.Patterns {
		p := fmt.Sprintf("patterns[%d]", i)
		switch {
		case !model.LegacyValidation.IsValidLabelName(pc.Name):
			errs = append(errs, config.Errorf(p+".name", "%q is not a valid name (letters, digits, _)", pc.Name))
		case seen[pc.Name]:
			errs = append(errs, config.Errorf(p+".name", "duplicate or built-in pattern name %q", pc.Name))
		}
		seen[pc.Name] = true
		if pc.Regex == "" {
			errs = append(errs, config.Errorf(p+".regex", "required"))
		} else if _, err := regexp.Compile(pc.Regex); err != nil {
			errs = append(errs, config.Errorf(p+".regex", "%v", err))
		}
		errs = append(errs, validateLabels(p+".labels", pc.Labels)...)
		if a := pc.Alert; a != nil {
			if a.Threshold < 0 {
				errs = append(errs, config.Errorf(p+".alert.threshold", "must not be negative"))
			}
			if a.Window <= 0 {
				errs = append(errs, config.Errorf(p+".alert.window", "must be positive"))
			}
		}
	}
	if c.Docker.Enabled && c.Docker.Host == "" {
		errs = append(errs, config.Errorf("docker.host", "required when docker is enabled"))
	}
	if c.Multiline.MaxLines < 1 {
		errs = append(errs, config.Errorf("multiline.max_lines", "must be at least 1"))
	}
	if c.Multiline.FlushTimeout <= 0 {
		errs = append(errs, config.Errorf("multiline.flush_timeout", "must be positive"))
	}
	if c.Retention.MaxAge < 0 {
		errs = append(errs, config.Errorf("retention.max_age", "must not be negative (0 keeps lines until max_size)"))
	}
	if c.Retention.MaxSize < 1<<20 {
		errs = append(errs, config.Errorf("retention.max_size", "must be at least 1MiB"))
	}
	for i, f := range c.Forward {
		p := fmt.Sprintf("forward[%d]", i)
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, config.Errorf(p+".url", "must be an http(s) URL, got %q", f.URL))
		}
		if f.BufferSize != 0 && f.BufferSize < 1<<20 {
			errs = append(errs, config.Errorf(p+".buffer_size", "must be at least 1MiB"))
		}
		if (f.Username == "") != (f.Password == "") {
			errs = append(errs, config.Errorf(p+".password", "username and password go together"))
		}
	}
	if c.Push.MaxBodySize < 1024 {
		errs = append(errs, config.Errorf("push.max_body_size", "must be at least 1KB"))
	}
	if c.Push.MaxStreams < 1 {
		errs = append(errs, config.Errorf("push.max_streams", "must be at least 1"))
	}
	if c.MaxLineSize < 256 {
		errs = append(errs, config.Errorf("max_line_size", "must be at least 256B"))
	}
	if c.PollInterval <= 0 {
		errs = append(errs, config.Errorf("poll_interval", "must be positive"))
	}
	return config.Prefix("", errs...)
}

func validateLabels(path string, ls map[string]string) []error {
	var errs []error
	for k := range ls {
		if !model.LegacyValidation.IsValidLabelName(k) || strings.HasPrefix(k, "__") {
			errs = append(errs, config.Errorf(path+"."+k, "invalid label name %q", k))
		}
	}
	return errs
}

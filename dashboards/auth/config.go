// Package auth is vigie's access control: users with argon2id password
// hashes, browser sessions with CSRF tokens, API tokens with a scope, a
// login rate limiter and an audit log, all kept in the state database; and
// the one middleware the composition root wraps around the whole mux.
package auth

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/config"
)

// Modes of the auth section.
const (
	// ModeAuto requires credentials unless vigie listens on loopback only.
	ModeAuto = "auto"
	// ModeNone never requires credentials, whatever the address.
	ModeNone = "none"
	// ModeRequired always requires credentials.
	ModeRequired = "required"
)

// Config is the auth section.
type Config struct {
	// Mode is auto (default), none or required.
	Mode string `yaml:"mode"`
	// AdminUser is the first administrator's name (default admin).
	AdminUser string `yaml:"admin_user"`
	// AdminPasswordFile holds the first administrator's password; the user
	// is created at start when it does not exist yet.
	AdminPasswordFile string `yaml:"admin_password_file,omitempty"`
	// MetricsRequireToken makes /metrics require credentials like the
	// API; otherwise /metrics stays public even when auth is required.
	MetricsRequireToken bool `yaml:"metrics_require_token"`
	// SessionLifetime is how long a login lasts (default 24h).
	SessionLifetime config.Duration `yaml:"session_lifetime"`
}

// DefaultConfig is auto mode, admin user "admin", 24h sessions.
func DefaultConfig() Config {
	return Config{Mode: ModeAuto, AdminUser: "admin", SessionLifetime: config.Duration(24 * time.Hour)}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	switch c.Mode {
	case ModeAuto, ModeNone, ModeRequired:
	default:
		errs = append(errs, config.Errorf("mode", "must be auto, none or required, got %q", c.Mode))
	}
	if err := validName(c.AdminUser); err != nil {
		errs = append(errs, config.Errorf("admin_user", "%v", err))
	}
	if c.SessionLifetime.D() < time.Minute {
		errs = append(errs, config.Errorf("session_lifetime", "must be at least 1m, got %s", c.SessionLifetime))
	}
	return errors.Join(errs...)
}

// Required says whether credentials are required when vigie listens on
// listen: mode required always, mode none never, mode auto unless every
// address listen resolves to is loopback.
func (c Config) Required(listen string) bool {
	switch c.Mode {
	case ModeNone:
		return false
	case ModeRequired:
		return true
	}
	return !Loopback(listen)
}

// Loopback reports whether listen (host:port) accepts connections from
// this host only. An empty host or a wildcard listens everywhere.
func Loopback(listen string) bool {
	host, _, err := net.SplitHostPort(listen)
	if err != nil || host == "" {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validName accepts user names of letters, digits and . _ @ -, 1 to 64 long.
func validName(name string) error {
	if name == "" || len(name) > 64 {
		return errors.New("must be 1 to 64 characters long")
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._@-", r)) {
			return errors.New("may hold only letters, digits and . _ @ -")
		}
	}
	return nil
}

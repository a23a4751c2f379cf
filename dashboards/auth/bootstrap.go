package auth

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Bootstrap prepares the store for cfg at start: it creates the first
// administrator from admin_password_file when that user does not exist
// yet, then refuses to go on when credentials are required on listen and
// no user or token exists.
func Bootstrap(ctx context.Context, s *Store, cfg Config, listen string) error {
	if cfg.AdminPasswordFile != "" {
		b, err := os.ReadFile(cfg.AdminPasswordFile)
		if err != nil {
			return fmt.Errorf("auth.admin_password_file: %w", err)
		}
		pass := strings.TrimRight(string(b), "\r\n")
		err = s.AddUser(ctx, cfg.AdminUser, pass, ScopeAdmin)
		if err != nil && !errors.Is(err, ErrExists) {
			return fmt.Errorf("auth.admin_password_file: %w", err)
		}
	}
	if !cfg.Required(listen) {
		return nil
	}
	n, err := s.Credentials(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("auth: vigie listens on %s, beyond loopback, and no user or token exists: "+
			"set auth.admin_password_file, run 'vigie user add', or say 'auth: {mode: none}' to serve everyone", listen)
	}
	return nil
}

package config_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/config"
)

func TestSecretNeverLogs(t *testing.T) {
	type smtp struct {
		User     string
		Password config.Secret
	}
	for _, tc := range []struct {
		name string
		new  func(*bytes.Buffer) slog.Handler
	}{
		{"json", func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) }},
		{"text", func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			log := slog.New(tc.new(&buf))
			s := smtp{User: "ops", Password: "hunter2"}
			log.Info("configured", "password", s.Password, "smtp", s, slog.Any("group", slog.GroupValue(slog.Any("token", config.Secret("tok-123")))))
			out := buf.String()
			if strings.Contains(out, "hunter2") || strings.Contains(out, "tok-123") {
				t.Fatalf("secret in log: %s", out)
			}
			if !strings.Contains(out, "<secret>") {
				t.Fatalf("no <secret> in log: %s", out)
			}
		})
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vigie-dev/vigie/internal/footprint"
)

// runFlags are `vigie run`'s flags: where the configuration is, and the
// values that override it.
type runFlags struct {
	configFile, dataDir, listen, logLevel string
	mode                                  string // "agent" for `vigie agent` (agent.go)
}

func setupRun(fs *flag.FlagSet) runFunc { return setupRunAs(fs, "") }

// setupRunAs is `vigie run`, or `vigie agent` when mode is "agent".
func setupRunAs(fs *flag.FlagSet, mode string) runFunc {
	f := runFlags{mode: mode}
	fs.StringVar(&f.configFile, "config", "", "configuration file (default: the embedded default configuration)")
	fs.StringVar(&f.dataDir, "data-dir", "", "data directory, overrides global.data_dir (default ./data)")
	fs.StringVar(&f.listen, "listen", "", "HTTP listen address, overrides global.listen (default 127.0.0.1:9753)")
	fs.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error; overrides global.log_level")
	return func(ctx context.Context, _ []string, _, stderr io.Writer) error {
		cfg, err := await(ctx, f.load)
		if err != nil {
			return err
		}
		if cfg.isAgent() {
			footprint.TuneGC(footprint.AgentGCPercent)
		}
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		a, err := newApp(ctx, cfg, appOptions{flags: f, logger: newLogger(stderr, cfg.Global), reload: hup})
		if err != nil {
			return err
		}
		return a.run(ctx)
	}
}

// load reads the configuration, applies the command-line overrides and
// checks the rule files it names.
func (f runFlags) load() (*Config, error) {
	cfg, err := loadConfig(f.configFile)
	if err != nil {
		return nil, err
	}
	if f.dataDir != "" {
		cfg.Global.DataDir = f.dataDir
	}
	if f.listen != "" {
		cfg.Global.Listen = f.listen
	}
	if f.logLevel != "" {
		cfg.Global.LogLevel = f.logLevel
	}
	if f.mode != "" {
		cfg.Mode = f.mode
	}
	cfg.applyModeDefaults()
	resolveRuleFiles(cfg, f.configFile)
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("command-line flags: %w", err)
	}
	if err := checkRuleFiles(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func setupCheckConfig(*flag.FlagSet) runFunc {
	return func(ctx context.Context, args []string, stdout, _ io.Writer) error {
		// Parsing is abandoned on SIGTERM: a FIFO or a huge file must not
		// keep the command alive.
		if _, err := await(ctx, runFlags{configFile: args[0]}.load); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", args[0])
		return nil
	}
}

func newLogger(w io.Writer, g GlobalConfig) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(g.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if g.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

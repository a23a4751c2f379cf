// Command vigie is a whole observability and alerting stack in one process:
// it collects host, container and PostgreSQL metrics, stores them in an
// embedded Prometheus TSDB, evaluates PromQL rules and delivers alerts.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/vigie-dev/vigie/internal/footprint"
)

// Set at build time with -ldflags "-X main.version=…".
var (
	version  = "dev"
	revision = ""
)

const usage = `vigie: one process for metrics, rules, alerts and notifications.

Usage:
  vigie run [--config FILE] [--data-dir DIR] [--listen ADDR]   run vigie
  vigie check config FILE                                      validate a configuration file (and its rule files)
  vigie check rules FILE...                                    check rule files (syntax, PromQL, templates)
  vigie test rules TEST_FILE...                                run rule unit tests (promtool's format)
  vigie rules export [--config FILE] DIR                       write the built-in rule pack as rule files
  vigie silence add|list|expire ...                            manage silences of a running vigie
  vigie ack FINGERPRINT...                                     acknowledge alerts on a running vigie
  vigie notify test [--config FILE] RECEIVER                   send a test notification
  vigie version                                                print the version

Run 'vigie COMMAND --help' for a command's flags.
`

// errUsage marks an error whose message is already the usage text.
var errUsage = errors.New("usage")

func main() {
	_, _ = footprint.TrimExecutable()
	footprint.TuneGC()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// runMain runs one command and returns the exit code: 0 ok, 1 failure, 2 usage.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "run":
		err = cmdRun(ctx, args[1:], stdout, stderr)
	case "check":
		err = cmdCheck(args[1:], stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, versionString())
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		if extra, ok := commands[args[0]]; ok {
			err = extra(ctx, args[1:], stdout, stderr)
			break
		}
		fmt.Fprintf(stderr, "vigie: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	}
	fmt.Fprintln(stderr, "vigie:", err)
	return 1
}

// commands holds the subcommands other files add (rules, silence, notify).
var commands = map[string]func(ctx context.Context, args []string, stdout, stderr io.Writer) error{}

func versionString() string {
	rev := revision
	if rev == "" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					rev = s.Value
				}
			}
		}
	}
	s := "vigie " + version
	if rev != "" {
		s += " (" + rev + ")"
	}
	return s
}

func newFlagSet(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: %s\n", synopsis)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(stderr, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// parseFlags parses args, turning a usage error into errUsage (exit 2).
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	return nil
}

func cmdCheck(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "--help" || args[0] == "-h" {
		fmt.Fprint(stderr, "Usage:\n  vigie check config FILE\n  vigie check rules FILE...\n")
		if len(args) == 0 {
			return errUsage
		}
		return flag.ErrHelp
	}
	switch args[0] {
	case "config":
		fs := newFlagSet("check config", "vigie check config FILE", stderr)
		if err := parseFlags(fs, args[1:]); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			fs.Usage()
			return errUsage
		}
		cfg, err := loadConfig(fs.Arg(0))
		if err != nil {
			return err
		}
		resolveRuleFiles(cfg, fs.Arg(0))
		if err := checkConfigDeep(cfg); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: configuration is valid\n", fs.Arg(0))
		return nil
	case "rules":
		return checkRules(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "vigie check: unknown target %q (want config or rules)\n", args[0])
	return errUsage
}

// checkRules is replaced when the rules package is wired.
var checkRules = func(args []string, stdout, stderr io.Writer) error {
	return errors.New("check rules: not available in this build")
}

// checkConfigDeep runs the checks that need more than the file itself
// (rule files named by the configuration).
var checkConfigDeep = func(*Config) error { return nil }

// expectVerb checks that args start with verb (vigie notify test, vigie
// rules export, vigie test rules). When they don't, it prints usage and
// returns done with the error to return (nil for --help).
func expectVerb(args []string, verb, usage string, stderr io.Writer) (done bool, err error) {
	if len(args) > 0 && args[0] == verb {
		return false, nil
	}
	fmt.Fprint(stderr, usage)
	if len(args) > 0 && (args[0] == "--help" || args[0] == "-h") {
		return true, nil
	}
	return true, errUsage
}

// Command vigie is a whole observability and alerting stack in one process:
// it collects host, container and PostgreSQL metrics, stores them in an
// embedded Prometheus TSDB, evaluates PromQL rules and delivers alerts.
//
// main.go holds the command table; app.go builds and runs the server (the
// composition root).
package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/vigie-dev/vigie/internal/footprint"
)

// Set at build time with -ldflags "-X main.version=…".
var (
	version  = "dev"
	revision = ""
)

// errUsage marks a misuse whose usage text is already printed (exit 2).
var errUsage = errors.New("usage")

func main() {
	footprint.StopMemoryProfiling()
	_, _ = footprint.TrimExecutable()
	footprint.TuneGC(footprint.ServerGCPercent) // an agent lowers it once its mode is known
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(runMain(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// runFunc runs a command once its flags are parsed; args are the
// positional arguments left.
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// command is one entry of the command table.
type command struct {
	name  string                      // the words that select it: "check config"
	args  string                      // positional arguments, for the usage line: "FILE..."
	about string                      // what it does, one line
	nargs func(int) bool              // whether a count of positional arguments is right
	setup func(*flag.FlagSet) runFunc // defines the flags; returns what runs after parsing
}

func exactly(n int) func(int) bool { return func(k int) bool { return k == n } }
func atLeast(n int) func(int) bool { return func(k int) bool { return k >= n } }

// commands is the command table: every command vigie has, in the order
// `vigie help` lists them. A new command is added here and nowhere else.
func commands() []command {
	cmds := []command{
		{name: "run", about: "run vigie", nargs: exactly(0), setup: setupRun},
		{name: "agent", about: "run vigie as an agent: collect and remote-write, no rules or queries", nargs: exactly(0), setup: setupAgent},
		{name: "check config", args: "FILE", about: "validate a configuration file (and its rule files)", nargs: exactly(1), setup: setupCheckConfig},
		{name: "check rules", args: "FILE...", about: "check rule files (syntax, PromQL, templates)", nargs: atLeast(1), setup: setupCheckRules},
		{name: "test rules", args: "TEST_FILE...", about: "run rule unit tests (promtool's format)", nargs: atLeast(1), setup: setupTestRules},
		{name: "rules export", args: "DIR", about: "write the built-in rule pack as rule files", nargs: exactly(1), setup: setupRulesExport},
		{name: "notify test", args: "RECEIVER", about: "send a test notification", nargs: exactly(1), setup: setupNotifyTest},
	}
	cmds = append(cmds, notifyCLICommands()...)
	cmds = append(cmds, heartbeatCommands()...)
	cmds = append(cmds, command{name: "incident", args: "open|update|resolve|list [ARGS...]", about: "open, update, resolve or list status page incidents (vigie incident help: their flags)", nargs: atLeast(1), setup: setupIncident})
	cmds = append(cmds, userCommands()...)
	cmds = append(cmds,
		command{name: "version", about: "print the version", nargs: exactly(0), setup: func(*flag.FlagSet) runFunc {
			return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
				fmt.Fprintln(stdout, versionString())
				return nil
			}
		}},
		command{name: "help", about: "print this help", nargs: exactly(0), setup: func(*flag.FlagSet) runFunc {
			return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
				fmt.Fprint(stdout, usage(cmds, ""))
				return nil
			}
		}},
	)
	return cmds
}

// usage lists the commands whose name starts with prefix.
func usage(cmds []command, prefix string) string {
	var b strings.Builder
	b.WriteString("vigie: one process for metrics, rules, alerts and notifications.\n\nUsage:\n")
	for _, c := range cmds {
		if prefix != "" && !strings.HasPrefix(c.name+" ", prefix+" ") {
			continue
		}
		fmt.Fprintf(&b, "  %-40s %s\n", strings.TrimSpace("vigie "+c.name+" [flags] "+c.args), c.about)
	}
	b.WriteString("\nRun 'vigie COMMAND --help' for a command's flags.\n")
	return b.String()
}

// runMain runs one command and returns the exit code: 0 ok, 1 failure, 2 usage.
func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && args[0] == "--version" {
		args = []string{"version"}
	}
	err := dispatch(ctx, commands(), args, stdout, stderr)
	var exit exitCodeError
	switch {
	case errors.As(err, &exit):
		return exit.code
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		fmt.Fprintln(stderr, "vigie: interrupted")
		return 1
	}
	fmt.Fprintln(stderr, "vigie:", err)
	return 1
}

// dispatch finds the command args name (the longest match) and runs it.
// Help asked for prints on stdout; misuse prints usage on stderr.
func dispatch(ctx context.Context, cmds []command, args []string, stdout, stderr io.Writer) error {
	var cmd *command
	var words int
	for i := range cmds {
		n := strings.Fields(cmds[i].name)
		if len(n) > words && len(args) >= len(n) && strings.Join(args[:len(n)], " ") == cmds[i].name {
			cmd, words = &cmds[i], len(n)
		}
	}
	if cmd == nil {
		return groupUsage(cmds, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("vigie "+cmd.name, flag.ContinueOnError)
	run := cmd.setup(fs)
	fs.Usage = func() {
		out := fs.Output()
		fmt.Fprintf(out, "Usage: %s\n  %s\n", strings.TrimSpace("vigie "+cmd.name+" [flags] "+cmd.args), cmd.about)
		var hasFlags bool
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(out, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	if err := parseFlags(fs, args[words:], stdout, stderr); err != nil {
		return err
	}
	if !cmd.nargs(fs.NArg()) {
		fs.Usage()
		return errUsage
	}
	return run(ctx, fs.Args(), stdout, stderr)
}

// groupUsage answers a command line that names no command: the whole
// table, or a group's commands (vigie check, vigie silence).
func groupUsage(cmds []command, args []string, stdout, stderr io.Writer) error {
	var prefix []string
	for _, a := range args {
		if isHelp(a) {
			fmt.Fprint(stdout, usage(cmds, strings.Join(prefix, " ")))
			return flag.ErrHelp
		}
		prefix = append(prefix, a)
	}
	if len(args) > 0 {
		fmt.Fprintf(stderr, "vigie: unknown command %q\n\n", strings.Join(args, " "))
	}
	// Show the group's commands when the first words name a group.
	for n := len(args); n > 0; n-- {
		p := strings.Join(args[:n], " ")
		for _, c := range cmds {
			if strings.HasPrefix(c.name, p+" ") {
				fmt.Fprint(stderr, usage(cmds, p))
				return errUsage
			}
		}
	}
	fmt.Fprint(stderr, usage(cmds, ""))
	return errUsage
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "-help" }

// parseFlags parses args. -h or --help prints the usage on stdout
// (flag.ErrHelp, exit 0); a bad flag prints the error and the usage on
// stderr (errUsage, exit 2).
func parseFlags(fs *flag.FlagSet, args []string, stdout, stderr io.Writer) error {
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(stderr)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		_, _ = stdout.Write(buf.Bytes())
		return flag.ErrHelp
	}
	_, _ = stderr.Write(buf.Bytes())
	return errUsage
}

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

// await runs f in a goroutine and returns its result, or ctx's error as
// soon as ctx ends: reading a configuration from a FIFO or a huge file must
// never keep a command from ending on SIGTERM.
func await[T any](ctx context.Context, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		v, err := f()
		ch <- result{v, err}
	}()
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/vigie-dev/vigie/uptime/heartbeat"
)

// exitCodeError ends vigie with a given exit code, its message (if any)
// already printed: `vigie job run` exits with its command's code.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string { return fmt.Sprintf("exit code %d", e.code) }

// heartbeatCommands are the commands that talk to a running vigie's heartbeats.
func heartbeatCommands() []command {
	return []command{
		{name: "job run", args: "NAME -- CMD [ARG...]", about: "run a command under heartbeat NAME (pings start, then success or failure with the output's tail)", nargs: atLeast(2), setup: setupJobRun},
		{name: "heartbeat list", about: "list a running vigie's heartbeats", nargs: exactly(0), setup: setupHeartbeatList},
	}
}

func heartbeatFlags(fs *flag.FlagSet) *heartbeat.JobOptions {
	o := &heartbeat.JobOptions{}
	fs.StringVar(&o.URL, "vigie", "", "vigie's URL (default $VIGIE_URL, else "+heartbeat.DefaultVigieURL+")")
	fs.StringVar(&o.Token, "token", "", "bearer token for vigie's API, when it asks for one")
	return o
}

func setupJobRun(fs *flag.FlagSet) runFunc {
	o := heartbeatFlags(fs)
	return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
		// Flags may also follow NAME (`vigie job run NAME --vigie URL --
		// CMD`): parse what follows it again; "--" or CMD ends them.
		if err := parseFlags(fs, args[1:], stdout, stderr); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			fs.Usage()
			return errUsage
		}
		o.Name, o.Command, o.Stdout, o.Stderr = args[0], fs.Args(), stdout, stderr
		code, err := heartbeat.RunJob(ctx, *o)
		if err != nil {
			// The command ran (or could not start) either way: say what
			// went wrong with vigie, and keep the command's exit code.
			fmt.Fprintln(stderr, "vigie job run:", err)
		}
		if code != 0 {
			return exitCodeError{code: code}
		}
		return nil
	}
}

func setupHeartbeatList(fs *flag.FlagSet) runFunc {
	o := heartbeatFlags(fs)
	return func(ctx context.Context, _ []string, stdout, _ io.Writer) error {
		list, err := heartbeat.FetchHeartbeats(ctx, *o)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tLAST PING\tEXIT CODE\tPING URL")
		for _, h := range list {
			last, code := "-", "-"
			if t, ok := h.LastPings[h.LastKind]; ok && !t.IsZero() {
				last = t.Format(time.RFC3339)
			}
			if h.LastExitCode != nil {
				code = fmt.Sprint(*h.LastExitCode)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", h.Name, h.Status, last, code, h.PingURL)
		}
		return tw.Flush()
	}
}

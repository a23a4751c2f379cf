package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultURL is where the CLI finds a running vigie.
const DefaultURL = "http://127.0.0.1:9753"

// CLICommand is one command of the notify CLI (silence add, list and
// expire, ack), which talks to a running vigie's API as amtool does. cmd/vigie
// puts these in its command table: Setup defines the command's flags on fs
// and returns what runs, with the positional arguments, once fs is parsed.
type CLICommand struct {
	Name    string // "silence add"
	Args    string // positional arguments, for the usage line
	About   string
	MinArgs int
	Setup   func(fs *flag.FlagSet) func(ctx context.Context, args []string, stdout io.Writer) error
}

// cliTimeout bounds one CLI command's API calls.
const cliTimeout = 30 * time.Second

// CLICommands returns the notify CLI's commands.
func CLICommands() []CLICommand {
	return []CLICommand{
		{Name: "silence add", Args: "MATCHER...", About: `silence alerts matching every matcher, e.g. alertname="DiskFull" instance=~"web.*"`, MinArgs: 1, Setup: setupSilenceAdd},
		{Name: "silence list", About: "list silences", Setup: setupSilenceList},
		{Name: "silence expire", Args: "ID...", About: "expire silences", MinArgs: 1, Setup: setupSilenceExpire},
		{Name: "ack", Args: "FINGERPRINT...", About: "acknowledge alerts (fingerprints: /api/v2/alerts)", MinArgs: 1, Setup: setupAck},
	}
}

func urlFlag(fs *flag.FlagSet) *string {
	return fs.String("url", DefaultURL, "vigie's URL")
}

func setupSilenceAdd(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
	base := urlFlag(fs)
	author := fs.String("author", os.Getenv("USER"), "who creates the silence")
	comment := fs.String("comment", "", "why")
	dur := fs.String("duration", "1h", "how long, from start (e.g. 2h, 1d)")
	start := fs.String("start", "", "start time, RFC 3339 (default now)")
	end := fs.String("end", "", "end time, RFC 3339 (overrides --duration)")
	eor := fs.Bool("expire-on-resolve", false, "expire the silence when the alerts it mutes resolve")
	return func(ctx context.Context, args []string, stdout io.Writer) error {
		var ms Matchers
		for _, a := range args {
			m, err := ParseMatchers(a)
			if err != nil {
				return fmt.Errorf("silence add: %w", err)
			}
			ms = append(ms, m...)
		}
		s := Silence{Matchers: APIMatchers(ms), CreatedBy: *author, Comment: *comment, ExpireOnResolve: *eor, StartsAt: time.Now()}
		if *start != "" {
			t, err := time.Parse(time.RFC3339, *start)
			if err != nil {
				return fmt.Errorf("silence add: --start: %w", err)
			}
			s.StartsAt = t
		}
		if *end != "" {
			t, err := time.Parse(time.RFC3339, *end)
			if err != nil {
				return fmt.Errorf("silence add: --end: %w", err)
			}
			s.EndsAt = t
		} else {
			d, err := parseDuration(*dur)
			if err != nil {
				return fmt.Errorf("silence add: --duration: %w", err)
			}
			s.EndsAt = s.StartsAt.Add(d)
		}
		var res struct {
			SilenceID string `json:"silenceID"`
		}
		ctx, cancel := context.WithTimeout(ctx, cliTimeout)
		defer cancel()
		if err := apiCall(ctx, http.MethodPost, *base+"/api/v2/silences", s, &res); err != nil {
			return fmt.Errorf("silence add: %w", err)
		}
		fmt.Fprintln(stdout, res.SilenceID)
		return nil
	}
}

func setupSilenceList(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
	base := urlFlag(fs)
	expired := fs.Bool("expired", false, "include expired silences")
	quiet := fs.Bool("q", false, "print IDs only")
	return func(ctx context.Context, _ []string, stdout io.Writer) error {
		ctx, cancel := context.WithTimeout(ctx, cliTimeout)
		defer cancel()
		var list []Silence
		if err := apiCall(ctx, http.MethodGet, *base+"/api/v2/silences", nil, &list); err != nil {
			return fmt.Errorf("silence list: %w", err)
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		if !*quiet {
			fmt.Fprintln(tw, "ID\tMATCHERS\tSTATE\tENDS\tCREATED BY\tCOMMENT")
		}
		for _, s := range list {
			if s.Status.State == "expired" && !*expired {
				continue
			}
			if *quiet {
				fmt.Fprintln(tw, s.ID)
				continue
			}
			var ms Matchers
			for _, m := range s.Matchers {
				if lm, err := m.compile(); err == nil {
					ms = append(ms, lm)
				}
			}
			state := s.Status.State
			if s.ExpireOnResolve {
				state += " (until resolved)"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, ms.String(), state, s.EndsAt.Local().Format("2006-01-02 15:04 MST"), s.CreatedBy, s.Comment)
		}
		return tw.Flush()
	}
}

func setupSilenceExpire(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
	base := urlFlag(fs)
	return func(ctx context.Context, ids []string, stdout io.Writer) error {
		ctx, cancel := context.WithTimeout(ctx, cliTimeout)
		defer cancel()
		var errs []error
		for _, id := range ids {
			if err := apiCall(ctx, http.MethodDelete, *base+"/api/v2/silence/"+url.PathEscape(id), nil, nil); err != nil {
				errs = append(errs, fmt.Errorf("silence expire %s: %w", id, err))
				continue
			}
			fmt.Fprintln(stdout, "expired", id)
		}
		return errors.Join(errs...)
	}
}

func setupAck(fs *flag.FlagSet) func(context.Context, []string, io.Writer) error {
	base := urlFlag(fs)
	author := fs.String("author", os.Getenv("USER"), "who acknowledges")
	comment := fs.String("comment", "", "why")
	dur := fs.String("duration", "24h", "how long the acknowledgement lasts at most")
	return func(ctx context.Context, fps []string, stdout io.Writer) error {
		ctx, cancel := context.WithTimeout(ctx, cliTimeout)
		defer cancel()
		var errs []error
		for _, fp := range fps {
			var res struct {
				Data Ack `json:"data"`
			}
			req := AckRequest{CreatedBy: *author, Comment: *comment, Duration: *dur}
			if err := apiCall(ctx, http.MethodPost, *base+"/api/v1/alerts/"+url.PathEscape(fp)+"/ack", req, &res); err != nil {
				errs = append(errs, fmt.Errorf("ack %s: %w", fp, err))
				continue
			}
			fmt.Fprintf(stdout, "acknowledged %s until %s\n", fp, res.Data.ExpiresAt.Local().Format("2006-01-02 15:04 MST"))
		}
		return errors.Join(errs...)
	}
}

// SilenceCommand runs `vigie silence add|list|expire ARGS...` (for tests
// and callers without cmd/vigie's command table).
func SilenceCommand(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: vigie silence add|list|expire [flags] ...")
	}
	name := args[0]
	if name == "query" {
		name = "list"
	}
	return runCLI("silence "+name, args[1:], stdout)
}

// AckCommand runs `vigie ack [flags] FINGERPRINT...`.
func AckCommand(args []string, stdout io.Writer) error {
	return runCLI("ack", args, stdout)
}

func runCLI(name string, args []string, stdout io.Writer) error {
	for _, c := range CLICommands() {
		if c.Name != name {
			continue
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		run := c.Setup(fs)
		if err := fs.Parse(args); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if fs.NArg() < c.MinArgs {
			return fmt.Errorf("%s: want %s", name, c.Args)
		}
		return run(context.Background(), fs.Args(), stdout)
	}
	return fmt.Errorf("unknown command %q", name)
}

func apiCall(ctx context.Context, method, u string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if resp.StatusCode/100 != 2 {
		var msg string
		var env struct {
			Error string `json:"error"`
		}
		switch {
		case json.Unmarshal(b, &msg) == nil:
		case json.Unmarshal(b, &env) == nil && env.Error != "":
			msg = env.Error
		default:
			msg = strings.TrimSpace(string(b))
		}
		return fmt.Errorf("%s: %s", resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode answer: %w", err)
		}
	}
	return nil
}

// SendTest sends a test notification through every integration of a
// receiver and prints each provider's answer: `vigie notify test RECEIVER`.
func SendTest(ctx context.Context, cfg Config, receiver string, w io.Writer) error {
	var r *Receiver
	for i := range cfg.Receivers {
		if cfg.Receivers[i].Name == receiver {
			r = &cfg.Receivers[i]
		}
	}
	if r == nil {
		return fmt.Errorf("notify test: no receiver named %q", receiver)
	}
	ints, err := buildIntegrations(*r)
	if err != nil {
		return fmt.Errorf("notify test: %w", err)
	}
	if len(ints) == 0 {
		return fmt.Errorf("notify test: receiver %q has no integration", receiver)
	}
	now := time.Now()
	host, _ := os.Hostname()
	labels := map[string]string{"alertname": "VigieTestNotification", "severity": "info", "instance": host}
	d := &Data{
		Receiver: receiver, Status: "firing", Test: true,
		GroupLabels: KV{"alertname": "VigieTestNotification"}, CommonLabels: KV(labels),
		CommonAnnotations: KV{"summary": "Test notification from vigie: if you read this, " + receiver + " works."},
		GroupKey:          "test/" + receiver,
		Alerts: Alerts{{Status: "firing", Labels: KV(labels), StartsAt: now,
			Annotations: KV{"summary": "Test notification from vigie: if you read this, " + receiver + " works."},
			Fingerprint: fingerprint(labels).String()}},
	}
	timeout := cfg.Delivery.Timeout.D()
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var errs []error
	for _, in := range ints {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		res, _, err := in.impl.Notify(cctx, &Message{Data: d})
		cancel()
		if err != nil {
			fmt.Fprintf(w, "%s %s: FAILED: %v\n", receiver, in.name, err)
			errs = append(errs, fmt.Errorf("%s %s: %w", receiver, in.name, err))
			continue
		}
		fmt.Fprintf(w, "%s %s: %s\n", receiver, in.name, res.Response)
	}
	return errors.Join(errs...)
}

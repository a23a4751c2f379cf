package heartbeat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultVigieURL is where `vigie job run` finds vigie without --vigie
// or $VIGIE_URL.
const DefaultVigieURL = "http://127.0.0.1:9753"

// JobOptions are what RunJob needs (`vigie job run NAME [--vigie URL] -- CMD ARGS…`).
type JobOptions struct {
	// Name is the heartbeat's name.
	Name string
	// URL is vigie's base URL: --vigie, else $VIGIE_URL, else DefaultVigieURL.
	URL string
	// Token, when set, is sent as a bearer token to GET /api/v1/heartbeats
	// (a Read route); the ping URL itself needs none.
	Token string
	// Command is the program and its arguments.
	Command []string
	// Stdin, Stdout and Stderr are the command's (os.Stdin, os.Stdout and
	// os.Stderr when nil); the output is passed through as it comes.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// Client makes the requests (a client with a 10s timeout when nil).
	Client *http.Client
	// Tries is how many times a request is tried (3); Backoff the first
	// wait between tries (500ms), doubled after each.
	Tries   int
	Backoff time.Duration
}

// RunJob runs a job under a heartbeat: it finds the heartbeat's ping URL
// through vigie's API, pings start, runs the command, then pings success
// or failure with the exit code, the duration and the tail of the output.
// The command runs even when vigie cannot be reached. The exit code
// returned is the command's own (127 when it cannot be started, 128+N
// when killed by signal N); err joins what went wrong with vigie.
func RunJob(ctx context.Context, o JobOptions) (exitCode int, err error) {
	if len(o.Command) == 0 {
		return 2, errors.New("job run: no command given")
	}
	o.defaults()
	var errs []error
	ping, err := o.findPingURL(ctx)
	if err != nil {
		errs = append(errs, err)
	} else if err := o.ping(ctx, ping+"/start", ""); err != nil {
		errs = append(errs, err)
	}
	out := newTail(MaxOutput)
	start := time.Now()
	code, runErr := o.run(ctx, out)
	elapsed := time.Since(start)
	if runErr != nil {
		fmt.Fprintf(out, "\nvigie job run: %v\n", runErr)
		errs = append(errs, runErr)
	}
	if ping != "" {
		u := fmt.Sprintf("%s/%d?duration=%s", ping, code, strconv.FormatFloat(elapsed.Seconds(), 'f', 3, 64))
		// Report the end even when ctx was cancelled (the job was interrupted).
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := o.ping(fctx, u, out.String()); err != nil {
			errs = append(errs, err)
		}
	}
	return code, errors.Join(errs...)
}

func (o *JobOptions) defaults() {
	if o.URL == "" {
		o.URL = os.Getenv("VIGIE_URL")
	}
	if o.URL == "" {
		o.URL = DefaultVigieURL
	}
	o.URL = strings.TrimSuffix(o.URL, "/")
	if o.Stdin == nil {
		o.Stdin = os.Stdin
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if o.Tries <= 0 {
		o.Tries = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 500 * time.Millisecond
	}
}

// run runs the command, passing its output through and keeping the tail.
func (o *JobOptions) run(ctx context.Context, out *tail) (int, error) {
	cmd := exec.CommandContext(ctx, o.Command[0], o.Command[1:]...)
	// Interrupted (ctx ends: SIGINT or SIGTERM to vigie job run), the
	// command gets SIGTERM and 10 s to end before it is killed.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdin = o.Stdin
	cmd.Stdout = io.MultiWriter(o.Stdout, out)
	cmd.Stderr = io.MultiWriter(o.Stderr, out)
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return exit.ExitCode(), nil
	}
	return 127, fmt.Errorf("job run: start %s: %w", o.Command[0], err)
}

// FetchHeartbeats lists vigie's heartbeats through GET /api/v1/heartbeats
// (for `vigie job run` and a listing command); o's URL, Token, Client,
// Tries and Backoff apply.
func FetchHeartbeats(ctx context.Context, o JobOptions) ([]Info, error) {
	o.defaults()
	var list struct {
		Data []Info `json:"data"`
	}
	err := o.retry(ctx, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+"/api/v1/heartbeats", nil)
		if err != nil {
			return false, err
		}
		if o.Token != "" {
			req.Header.Set("Authorization", "Bearer "+o.Token)
		}
		resp, err := o.Client.Do(req)
		if err != nil {
			return true, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return retryable(resp.StatusCode), fmt.Errorf("GET /api/v1/heartbeats: %s", resp.Status)
		}
		return false, json.NewDecoder(resp.Body).Decode(&list)
	})
	if err != nil {
		return nil, fmt.Errorf("list heartbeats at %s: %w", o.URL, err)
	}
	return list.Data, nil
}

// findPingURL looks the heartbeat up in vigie's listing.
func (o *JobOptions) findPingURL(ctx context.Context) (string, error) {
	list, err := FetchHeartbeats(ctx, *o)
	if err != nil {
		return "", fmt.Errorf("job run: find heartbeat %s: %w", o.Name, err)
	}
	for _, in := range list {
		if in.Name == o.Name {
			return in.PingURL, nil
		}
	}
	return "", fmt.Errorf("job run: vigie at %s has no heartbeat named %q", o.URL, o.Name)
}

// ping POSTs body to u. Errors name the heartbeat, never the URL (it
// holds the token).
func (o *JobOptions) ping(ctx context.Context, u, body string) error {
	err := o.retry(ctx, func(ctx context.Context) (bool, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
		if err != nil {
			return false, errors.New("bad ping URL")
		}
		req.Header.Set("Content-Type", "text/plain; charset=utf-8")
		resp, err := o.Client.Do(req)
		if err != nil {
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // without the URL
			}
			return true, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return retryable(resp.StatusCode), errors.New(resp.Status)
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("job run: ping heartbeat %s: %w", o.Name, err)
	}
	return nil
}

func retryable(status int) bool { return status >= 500 || status == http.StatusTooManyRequests }

// retry calls f up to Tries times while it asks to retry, with a doubling backoff.
func (o *JobOptions) retry(ctx context.Context, f func(context.Context) (bool, error)) error {
	wait := o.Backoff
	var err error
	for try := 1; ; try++ {
		var again bool
		if again, err = f(ctx); err == nil || !again || try == o.Tries {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait *= 2
	}
}

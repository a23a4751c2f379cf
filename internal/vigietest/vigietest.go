// Package vigietest builds the real vigie binary and runs it for end-to-end
// tests: on a loopback port it picks itself (--listen 127.0.0.1:0, the
// address read from its log), with a temporary data directory, stopped (or
// killed) and cleaned up by the test. Client talks to any vigie, in-process
// ones included.
package vigietest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// Binary builds ./cmd/vigie once per test process and returns its path.
func Binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "vigie-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "vigie")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/vigie")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/vigie: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreeAddr returns a 127.0.0.1 TCP address where nothing listens (for a
// target that is down). Servers under test are handed listeners instead.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Client calls a vigie's HTTP API for a test.
type Client struct {
	t    testing.TB
	Addr string
}

// NewClient returns a Client for the vigie at addr (host:port).
func NewClient(t testing.TB, addr string) Client { return Client{t: t, Addr: addr} }

// Process is a running vigie.
type Process struct {
	Client
	DataDir string
	Config  string // path of the configuration file ("" for the embedded default)
	Args    []string
	cmd     *exec.Cmd
	log     *syncBuffer
	done    chan struct{}
}

// Options for Start.
type Options struct {
	// Config is the YAML configuration; empty runs the embedded default.
	Config string
	// DataDir is reused when set (to restart on the same data); else a temp dir.
	DataDir string
	// Addr is listened on when set; else vigie picks a port (127.0.0.1:0).
	Addr string
	// Env is added to the process environment.
	Env []string
}

// Start runs vigie and waits until /-/ready answers.
func Start(t testing.TB, o Options) *Process {
	t.Helper()
	bin := Binary(t)
	p := &Process{Client: NewClient(t, ""), DataDir: o.DataDir, log: &syncBuffer{}, done: make(chan struct{})}
	listen := o.Addr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	if p.DataDir == "" {
		p.DataDir = t.TempDir()
	}
	args := []string{"run", "--listen", listen, "--data-dir", p.DataDir}
	if o.Config != "" {
		p.Config = filepath.Join(t.TempDir(), "vigie.yml")
		if err := os.WriteFile(p.Config, []byte(o.Config), 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--config", p.Config)
	}
	p.Args = args
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = append(os.Environ(), o.Env...)
	p.cmd.Stdout = p.log
	p.cmd.Stderr = p.log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			t.Logf("vigie log:\n%s", p.Log())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-p.done:
			t.Fatalf("vigie exited before becoming ready:\n%s", p.Log())
		default:
		}
		if p.Addr == "" {
			p.Addr = listenAddr(p.Log())
		}
		resp, err := http.Get(p.URL("/-/ready"))
		if p.Addr == "" {
			err = errors.New("address not logged yet")
		}
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("vigie not ready after 60s:\n%s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startedLine matches the address in vigie's "vigie started" log line
// (logfmt or JSON).
var startedLine = regexp.MustCompile(`vigie started.*?listen"?[=:]"?([^\s"]+)`)

// listenAddr returns the address vigie logged it listens on, or "".
func listenAddr(log string) string {
	if m := startedLine.FindStringSubmatch(log); m != nil {
		return m[1]
	}
	return ""
}

// URL returns the address of path on this vigie.
func (p Client) URL(path string) string { return "http://" + p.Addr + path }

// Log returns what vigie wrote so far.
func (p *Process) Log() string { return p.log.String() }

// Stop sends SIGTERM and waits for a clean exit (kills after 20s).
func (p *Process) Stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// Kill sends SIGKILL (kill -9) and waits for the process to be gone.
func (p *Process) Kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Signal sends sig to vigie.
func (p *Process) Signal(sig os.Signal) { _ = p.cmd.Process.Signal(sig) }

// ExitCode is the exit code after the process ended (-1 while running).
func (p *Process) ExitCode() int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
		return -1
	}
}

// Response is the Prometheus API envelope.
type Response struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Code      int             `json:"-"`
}

// Get calls an API path with query parameters and decodes the envelope.
func (p Client) Get(path string, params url.Values) Response {
	p.t.Helper()
	u := p.URL(path)
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	resp, err := http.Get(u)
	if err != nil {
		p.t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var r Response
	if err := json.Unmarshal(b, &r); err != nil {
		p.t.Fatalf("GET %s: status %d, not JSON: %s", u, resp.StatusCode, b)
	}
	r.Code = resp.StatusCode
	return r
}

// Sample is one element of an instant vector.
type Sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"`
}

// Float is the sample's value.
func (s Sample) Float() float64 {
	var f float64
	if str, ok := s.Value[1].(string); ok {
		fmt.Sscan(str, &f)
	}
	return f
}

// Query runs an instant query and returns its vector (fails on error).
func (p Client) Query(expr string) []Sample {
	p.t.Helper()
	r := p.Get("/api/v1/query", url.Values{"query": {expr}})
	if r.Status != "success" {
		p.t.Fatalf("query %q: %s %s", expr, r.ErrorType, r.Error)
	}
	var d struct {
		ResultType string   `json:"resultType"`
		Result     []Sample `json:"result"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		p.t.Fatalf("query %q: %v", expr, err)
	}
	return d.Result
}

// Eventually polls cond every 50ms until it is true or timeout passes.
func Eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Post sends a POST with no body and returns the status and body.
func (p Client) Post(path string) (int, string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, p.URL(path), nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

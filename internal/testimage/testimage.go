// Package testimage builds vigie's test image and runs containers from it,
// for tests against the real Docker engine on the machine.
//
// The image is FROM scratch (nothing can be pulled in the test environment):
// one static Go program, memhog, installed as /memhog (the entrypoint) and
// /bin/sh (so `--health-cmd` works). memhog holds as much memory as it is
// told and hangs, exits or crashes on demand; see the memhog command.
//
//	img := testimage.Build(t)
//	c := testimage.Run(t, img, testimage.RunOptions{
//		Name:  "hog",
//		Flags: []string{"--memory", "64m", "--memory-swap", "64m"},
//		Args:  []string{"-alloc", "58Mi"},
//	})
//	c.WaitLog(t, "ready", 30*time.Second)
//
// Everything it creates is named with the vigie-test- prefix and carries
// the label vigie-test=1, and is removed in t.Cleanup, even on failure.
// RemoveLeftovers removes what a killed test run left behind.
package testimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	// Prefix starts the name of every container, service and image made here.
	Prefix = "vigie-test-"
	// Label is set (to "1") on every container and service made here.
	Label = "vigie-test"
)

// Shared is an image that the tests of one binary build once and share:
// Get builds it on first use and takes a reference released in t.Cleanup;
// the last release removes the image, and a later Get builds it again.
type Shared struct {
	build func() (string, error)

	mu    sync.Mutex
	refs  int
	image string
}

// NewShared returns a Shared image made by build, which returns the new
// image's reference.
func NewShared(build func() (string, error)) *Shared { return &Shared{build: build} }

// Get returns the image's reference, building it if no test holds it.
func (s *Shared) Get(t testing.TB) string {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs == 0 {
		img, err := s.build()
		if err != nil {
			t.Fatalf("build test image: %v", err)
		}
		s.image = img
	}
	s.refs++
	t.Cleanup(s.release)
	return s.image
}

func (s *Shared) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		_ = exec.Command("docker", "image", "rm", "-f", s.image).Run()
		s.image = ""
	}
}

// memhog is the memhog image: package state because every test using it
// shares it, whatever its package's other tests do.
var memhog = NewShared(build)

// Build builds the memhog image once per test binary and returns its
// reference (vigie-test-memhog:<random>), shared as Shared.Get does (a
// rebuild after the last release takes about a second).
func Build(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("docker CLI not found")
	}
	return memhog.Get(t)
}

func build() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	dir, err := os.MkdirTemp("", "vigie-testimage-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "memhog")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./memhog")
	cmd.Dir = filepath.Dir(file)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build memhog: %w\n%s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range []string{"memhog", "bin/sh"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(prog)), ModTime: time.Unix(0, 0)}); err != nil {
			return "", err
		}
		if _, err := tw.Write(prog); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	ref := Prefix + "memhog:" + randHex(6)
	imp := exec.Command("docker", "import",
		"-c", `ENTRYPOINT ["/memhog"]`,
		"-c", "LABEL "+Label+"=1",
		"-", ref)
	imp.Stdin = &buf
	if out, err := imp.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker import: %w\n%s", err, out)
	}
	return ref, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Docker runs the docker CLI and returns its trimmed standard output,
// failing the test on error.
func Docker(t testing.TB, args ...string) string {
	t.Helper()
	out, err := DockerErr(args...)
	if err != nil {
		t.Fatalf("%v", err)
	}
	return out
}

// DockerErr runs the docker CLI and returns its trimmed standard output, or
// an error carrying the command and its standard error.
func DockerErr(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "docker", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return strings.TrimSpace(stdout.String()), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(stdout.String()), nil
}

// RunOptions describe one container.
type RunOptions struct {
	// Name is appended to "vigie-test-" with a random suffix.
	Name string
	// Flags are extra `docker run` flags (--memory 64m, --restart on-failure:3, --health-cmd x).
	Flags []string
	// Labels are set on the container besides vigie-test=1.
	Labels map[string]string
	// Args are memhog's arguments (-alloc 58Mi, -exit-after 1s, -crash-after 1s).
	Args []string
	// Create only creates the container (docker create) without starting it.
	Create bool
}

// Container is a container started by Run.
type Container struct {
	ID   string
	Name string
}

// Name returns a unique vigie-test- name for a container or service.
func Name(name string) string { return Prefix + name + "-" + randHex(3) }

// Run starts a container from image (docker run -d) and removes it in
// t.Cleanup.
func Run(t testing.TB, image string, o RunOptions) *Container {
	t.Helper()
	name := Name(o.Name)
	verb := "run"
	if o.Create {
		verb = "create"
	}
	args := []string{verb, "--name", name, "--label", Label + "=1"}
	if !o.Create {
		args = append(args, "-d")
	}
	for k, v := range o.Labels {
		args = append(args, "--label", k+"="+v)
	}
	args = append(args, o.Flags...)
	args = append(args, image)
	args = append(args, o.Args...)
	// Register the removal before starting, so a failed start is cleaned too.
	t.Cleanup(func() { _, _ = DockerErr("rm", "-f", "-v", name) })
	id := Docker(t, args...)
	return &Container{ID: id, Name: name}
}

// Inspect returns `docker inspect -f format` of the container.
func (c *Container) Inspect(t testing.TB, format string) string {
	t.Helper()
	return Docker(t, "inspect", "-f", format, c.ID)
}

// WaitLog waits until the container's output contains s.
func (c *Container) WaitLog(t testing.TB, s string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		out, err := exec.Command("docker", "logs", c.ID).CombinedOutput()
		return err == nil && strings.Contains(string(out), s), fmt.Sprintf("logs of %s: %s", c.Name, out)
	})
}

// WaitInspect waits until `docker inspect -f format` of the container gives want.
func (c *Container) WaitInspect(t testing.TB, format, want string, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		got, err := DockerErr("inspect", "-f", format, c.ID)
		return err == nil && got == want, fmt.Sprintf("%s of %s = %q (err %v), want %q", format, c.Name, got, err, want)
	})
}

// Eventually polls cond every 100 ms until it holds or timeout passes, then
// fails the test with cond's last message.
func Eventually(t testing.TB, timeout time.Duration, cond func() (ok bool, msg string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, msg := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %s", timeout, msg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// RemoveLeftovers removes every service, container and image a previous
// (killed) test run left: those labelled vigie-test=1 or named vigie-test-*.
func RemoveLeftovers() error {
	var errs []string
	if out, err := DockerErr("service", "ls", "-q", "--filter", "label="+Label+"=1"); err == nil && out != "" {
		if _, err := DockerErr(append([]string{"service", "rm"}, strings.Fields(out)...)...); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if out, err := DockerErr("ps", "-aq", "--filter", "label="+Label+"=1"); err == nil && out != "" {
		if _, err := DockerErr(append([]string{"rm", "-f", "-v"}, strings.Fields(out)...)...); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if out, err := DockerErr("images", "-q", "--filter", "label="+Label+"=1"); err == nil && out != "" {
		if _, err := DockerErr(append([]string{"image", "rm", "-f"}, strings.Fields(out)...)...); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

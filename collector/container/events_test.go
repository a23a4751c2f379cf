package container

import (
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/testimage"
)

// socketProxy forwards a unix socket to the engine's, and can be cut.
type socketProxy struct {
	t     *testing.T
	path  string
	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newSocketProxy(t *testing.T) *socketProxy {
	p := &socketProxy{t: t, path: filepath.Join(t.TempDir(), "docker.sock"), conns: map[net.Conn]bool{}}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *socketProxy) start() {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("unix", "/var/run/docker.sock")
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns[in], p.conns[out] = true, true
			p.mu.Unlock()
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
}

// stop closes the socket and every connection through it.
func (p *socketProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	p.conns = map[net.Conn]bool{}
}

// TestEventStreamReconnects cuts the engine connection, lets a container
// die while it is down, and checks that the follower reconnects and still
// counts that exit (it resumes from its last event).
func TestEventStreamReconnects(t *testing.T) {
	needDocker(t)
	img := testimage.Build(t)
	k, v := runLabel(t)
	proxy := newSocketProxy(t)
	cfg := testConfig(k, v)
	cfg.Host = "unix://" + proxy.path
	// A container started before the cut, so the stream has an event to resume from.
	first := testimage.Run(t, img, testimage.RunOptions{Name: "first", Labels: map[string]string{k: v}})
	c := startCollector(t, cfg)
	_ = first

	proxy.stop()
	testimage.Eventually(t, 10*time.Second, func() (bool, string) { return !c.streamUp.Load(), "stream still up after the cut" })
	if got, _ := gather(t, c).get("vigie_collector_success", "collector", "docker"); got != 0 {
		t.Errorf("success with the engine cut = %v", got)
	}
	dead := testimage.Run(t, img, testimage.RunOptions{Name: "dies-in-outage", Labels: map[string]string{k: v},
		Args: []string{"-exit-after", "10ms", "-code", "5"}})
	dead.WaitInspect(t, "{{.State.Status}}", "exited", 30*time.Second)
	testimage.Docker(t, "rm", dead.ID)

	proxy.start()
	testimage.Eventually(t, 20*time.Second, func() (bool, string) { return c.streamUp.Load(), "stream not back" })
	// The gather backoff after the failure is at most a few seconds.
	f := waitMetric(t, c, 20*time.Second, "vigie_container_exits_total", func(v float64) bool { return v == 1 }, "name", dead.Name)
	if got, _ := f.get("vigie_container_last_exit_code", "name", dead.Name); got != 5 {
		t.Errorf("exit code seen through the resumed stream = %v, want 5", got)
	}
}

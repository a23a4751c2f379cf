package main

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/testimage"
	"github.com/vigie-dev/vigie/internal/vigietest"
)

// TestStaticImageFromScratch runs the statically linked vigie in its image
// FROM scratch (staticImage) on the machine's Docker engine until /-/ready
// answers, then queries it.
func TestStaticImageFromScratch(t *testing.T) {
	image := staticImage(t)
	// Docker picks the host port; no port is picked here and closed.
	c := testimage.Run(t, image, testimage.RunOptions{Name: "scratch", Flags: []string{"-p", "127.0.0.1::9753"}})
	logOnFailure(t, c)
	addr := testimage.Docker(t, "port", c.Name, "9753/tcp")
	if i := strings.IndexByte(addr, '\n'); i >= 0 {
		addr = addr[:i] // one line per address family
	}
	vigietest.Eventually(t, 60*time.Second, "/-/ready from the container", func() bool {
		resp, err := http.Get("http://" + addr + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := http.Get("http://" + addr + "/api/v1/query?query=vigie_build_info")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("query in container: %d", resp.StatusCode)
	}
}

// logOnFailure logs c's output if the test failed, before t.Cleanup
// removes c (cleanups run last registered first).
func logOnFailure(t *testing.T, c *testimage.Container) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			// vigie logs to stderr, which DockerErr leaves out.
			out, _ := exec.Command("docker", "logs", c.Name).CombinedOutput()
			t.Logf("log of container %s:\n%s", c.Name, out)
		}
	})
}

package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// TestStaticImageFromScratch builds a statically linked vigie, wraps it in
// an image FROM scratch (no base image can be pulled here) and runs it on
// the machine's Docker engine until /-/ready answers.
func TestStaticImageFromScratch(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a static binary and an image")
	}
	if err := exec.Command("docker", "info").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("docker is not available in CI: %v", err)
		}
		t.Skipf("docker is not available: %v", err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "vigie")
	build := exec.Command("go", "build", "-tags", "osusergo netgo sqlite_omit_load_extension",
		"-ldflags", "-s -w -linkmode external -extldflags -static", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	if out, _ := exec.Command("file", bin).CombinedOutput(); strings.Contains(string(out), "dynamically linked") {
		t.Fatalf("binary is not static: %s", out)
	}
	// Inside the container vigie listens on every interface, where it
	// requires credentials unless the configuration says auth: none.
	if err := os.WriteFile(filepath.Join(dir, "vigie.yml"), []byte("auth:\n  mode: none\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM scratch\nCOPY vigie /vigie\nCOPY vigie.yml /vigie.yml\nENTRYPOINT [\"/vigie\"]\nCMD [\"run\", \"--config\", \"/vigie.yml\", \"--listen\", \"0.0.0.0:9753\", \"--data-dir\", \"/data\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf("%d", time.Now().UnixNano())
	image := "vigie-test-image:" + suffix
	name := "vigie-test-scratch-" + suffix
	docker := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("build", "-q", "-t", image, dir)
	t.Cleanup(func() { _ = exec.Command("docker", "rmi", "-f", image).Run() })
	// Docker picks the host port; no port is picked here and closed.
	docker("run", "-d", "--name", name, "--label", "vigie-test=1", "-p", "127.0.0.1::9753", image)
	addr := docker("port", name, "9753/tcp")
	if i := strings.IndexByte(addr, '\n'); i >= 0 {
		addr = addr[:i] // one line per address family
	}
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command("docker", "logs", name).CombinedOutput()
			t.Logf("container log:\n%s", out)
		}
		_ = exec.Command("docker", "rm", "-f", name).Run()
	})
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

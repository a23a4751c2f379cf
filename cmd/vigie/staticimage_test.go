package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigie-dev/vigie/internal/testimage"
)

// staticImageCache holds the FROM scratch vigie image while tests use it:
// each staticImage call takes a reference released in t.Cleanup, and the
// last release removes the image (a later call builds it again, from Go's
// build cache).
type staticImageCache struct {
	mu    sync.Mutex
	refs  int
	image string
}

// images is the test binary's one image: a package-level value because
// the tests that share it have nothing else in common (and no TestMain);
// its mutex guards it.
var images staticImageCache

// staticImage builds a statically linked vigie and an image FROM scratch
// holding it (nothing can be pulled here), once per test binary, and
// returns the image's reference. The image's default command is a server
// listening on 0.0.0.0:9753 with auth: none, data in /data; tests override
// the arguments after the image name. Docker is required (CI fails without).
func staticImage(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a static binary and an image")
	}
	requireDocker(t)
	images.mu.Lock()
	defer images.mu.Unlock()
	if images.refs == 0 {
		img, err := buildStaticImage()
		if err != nil {
			t.Fatal(err)
		}
		images.image = img
	}
	images.refs++
	t.Cleanup(images.release)
	return images.image
}

func (c *staticImageCache) release() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs--
	if c.refs == 0 {
		_ = exec.Command("docker", "image", "rm", "-f", c.image).Run()
		c.image = ""
	}
}

// buildStaticImage builds ./cmd/vigie (the test's working directory)
// statically and `docker build`s it FROM scratch.
func buildStaticImage() (string, error) {
	dir, err := os.MkdirTemp("", "vigie-static-")
	if err != nil {
		return "", fmt.Errorf("static image: %w", err)
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "vigie")
	build := exec.Command("go", "build", "-tags", "osusergo netgo sqlite_omit_load_extension",
		"-ldflags", "-s -w -linkmode external -extldflags -static", "-o", bin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=1")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("static build: %w\n%s", err, out)
	}
	if out, _ := exec.Command("file", bin).CombinedOutput(); strings.Contains(string(out), "dynamically linked") {
		return "", fmt.Errorf("binary is not static: %s", out)
	}
	// Inside the container vigie listens on every interface, where it
	// requires credentials unless the configuration says auth: none.
	if err := os.WriteFile(filepath.Join(dir, "vigie.yml"), []byte("auth:\n  mode: none\n"), 0o644); err != nil {
		return "", fmt.Errorf("static image: %w", err)
	}
	dockerfile := "FROM scratch\nCOPY vigie /vigie\nCOPY vigie.yml /vigie.yml\nLABEL " + testimage.Label + "=1\n" +
		"ENTRYPOINT [\"/vigie\"]\nCMD [\"run\", \"--config\", \"/vigie.yml\", \"--listen\", \"0.0.0.0:9753\", \"--data-dir\", \"/data\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", fmt.Errorf("static image: %w", err)
	}
	image := testimage.Name("vigie-static")
	if _, err := testimage.DockerErr("build", "-q", "-t", image, dir); err != nil {
		return "", fmt.Errorf("static image: %w", err)
	}
	return image, nil
}

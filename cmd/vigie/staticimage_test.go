package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigie-dev/vigie/internal/testimage"
)

// vigieImage is the test binary's static vigie image, shared by the tests
// that run it (testimage.Shared: built once, removed after the last).
var vigieImage = testimage.NewShared(buildStaticImage)

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
	return vigieImage.Get(t)
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

package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// TestUIPagesOnRealData: every page of the UI answers from a running
// vigie, and the overview draws the host's charts from collected data.
func TestUIPagesOnRealData(t *testing.T) {
	p := vigietest.Start(t, vigietest.Options{Config: "collect:\n  interval: 1s\n"})
	get := func(path string) (int, string) {
		resp, err := http.Get(p.URL(path))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	vigietest.Eventually(t, 20*time.Second, "the overview's CPU chart", func() bool {
		code, body := get("/?range=15m")
		return code == 200 && strings.Count(body, "<polyline") >= 3
	})
	for _, path := range []string{"/host", "/postgres", "/alerts", "/silences", "/rules", "/targets", "/delivery",
		"/graph?g0.expr=vigie_build_info", "/containers/none", "/services/none", "/assets/vigie.js", "/login"} {
		if code, body := get(path); code != 200 {
			t.Errorf("%s: %d %.300s", path, code, body)
		}
	}
	if _, body := get("/rules"); !strings.Contains(body, "ok") {
		t.Error("/rules shows no healthy built-in rule")
	}
	if _, body := get("/graph?g0.expr=vigie_build_info"); !strings.Contains(body, "<polyline") {
		t.Error("/graph draws no line for vigie_build_info")
	}
}

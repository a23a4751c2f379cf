package status

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

// browser starts Debian's chromium, headless. Without it the test fails
// when CI is set and is skipped otherwise.
func browser(t *testing.T) context.Context {
	t.Helper()
	if _, err := exec.LookPath(chromiumPath); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("chromium is required in CI: %v", err)
		}
		t.Skipf("chromium not installed: %v", err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath), chromedp.NoSandbox,
		chromedp.Headless, chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// artefacts is where screenshots are kept: $VIGIE_TEST_ARTIFACTS, else a temporary directory.
func artefacts(t *testing.T) string {
	dir := os.Getenv("VIGIE_TEST_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// consoleErrors records console errors, uncaught exceptions and browser
// log errors (a refused style sheet or a 404 shows there).
type consoleErrors struct {
	mu   sync.Mutex
	msgs []string
}

func (c *consoleErrors) listen(ev any) {
	var msg string
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError {
			msg = "console.error"
		}
	case *runtime.EventExceptionThrown:
		msg = "exception: " + e.ExceptionDetails.Text
	case *cdplog.EventEntryAdded:
		if e.Entry.Level == cdplog.EntryLevelError {
			msg = e.Entry.Source.String() + ": " + e.Entry.Text + " " + e.Entry.URL
		}
	}
	if msg != "" {
		c.mu.Lock()
		c.msgs = append(c.msgs, msg)
		c.mu.Unlock()
	}
}

func (c *consoleErrors) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.msgs...)
}

func TestBrowser(t *testing.T) {
	f := newFixture(t)
	if _, err := f.page.OpenIncident(context.Background(), NewIncident{Title: "Payments delayed", Components: []string{"API"}}); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t)
	if err := chromedp.Do(ctx); err != nil { // opens the tab, so that no event is missed
		t.Fatal(err)
	}
	var errs consoleErrors
	if err := chromedp.Listen(ctx, errs.listen); err != nil {
		t.Fatal(err)
	}
	dir := artefacts(t)
	t.Logf("screenshots in %s", dir)
	for _, width := range []int64{1280, 390} {
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, 900), chromedp.Navigate(f.srv.URL+"/status"),
			chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
			t.Fatal(err)
		}
		counts, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](
			`Array.from(document.querySelectorAll('.component')).map(c => c.querySelectorAll('.bars > .bar').length)`))
		if err != nil {
			t.Fatal(err)
		}
		if len(counts) != 5 {
			t.Fatalf("%d px: %d components", width, len(counts))
		}
		for i, n := range counts {
			if n != Days {
				t.Errorf("%d px: component %d has %d bars", width, i, n)
			}
		}
		// Readable on a phone: nothing wider than the screen, bars at least 2 px.
		layout, err := chromedp.Run(ctx, chromedp.Evaluate[[]float64](
			`[document.documentElement.scrollWidth, document.querySelector('.bar').getBoundingClientRect().width,
			  parseFloat(getComputedStyle(document.querySelector('.comp-name')).fontSize)]`))
		if err != nil {
			t.Fatal(err)
		}
		if layout[0] > float64(width) || layout[1] < 2 || layout[2] < 12 {
			t.Errorf("%d px: page width %v, bar width %v, font %v", width, layout[0], layout[1], layout[2])
		}
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Join(dir, fmt.Sprintf("status-%dpx.png", width))
		if err := os.WriteFile(name, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Dark: the colours follow prefers-color-scheme.
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
		t.Fatal(err)
	}
	bg, err := chromedp.Run(ctx, chromedp.Evaluate[string](`getComputedStyle(document.body).backgroundColor`))
	if err != nil || bg != "rgb(18, 21, 27)" {
		t.Errorf("dark background %q %v", bg, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "status-390px-dark.png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
	// With JavaScript off the page is the same: count the bars through the DOM.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(f.srv.URL+"/status")); err != nil {
		t.Fatal(err)
	}
	ids, err := chromedp.Run(ctx, chromedp.QueryNodeIDs(chromedp.CSSAll(".bars > .bar")))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 5*Days {
		t.Errorf("JavaScript off: %d bars, want %d", len(ids), 5*Days)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[int](`1`)); err == nil {
		t.Log("note: DevTools evaluation still runs with page scripts disabled")
	}
	if e := errs.get(); len(e) > 0 {
		t.Errorf("console errors: %q", e)
	}
}

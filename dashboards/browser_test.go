package dashboards

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// chromiumOrSkip finds Debian's chromium; CI installs it, so there it must exist.
func chromiumOrSkip(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed (apt-get install chromium)")
	return ""
}

// artifacts is where screenshots go: $VIGIE_TEST_ARTIFACTS, or a temporary directory.
func artifacts(t *testing.T) string {
	dir := os.Getenv("VIGIE_TEST_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, "ui")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

// browser starts headless chromium and records every console error,
// uncaught exception and browser log error (a CSP violation, a failed load).
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	path := chromiumOrSkip(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	var mu sync.Mutex
	var errs []string
	if err := chromedp.Listen(ctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeAssert {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value))
				}
				errs = append(errs, "console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			errs = append(errs, "exception: "+ev.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError {
				errs = append(errs, fmt.Sprintf("log: %s (%s)", ev.Entry.Text, ev.Entry.URL))
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

func run[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

func do(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// TestBrowser drives the UI in chromium: keyboard-only login, the overview
// with its charts, a container page, a silence created from an alert
// (keyboard only) and seen applied, an acknowledgement; screenshots at
// 1280 and 390 pixels wide; and no console error on any page.
func TestBrowser(t *testing.T) {
	e := newTestEnv(t, 8, 2*time.Hour, 15*time.Second)
	m, hb := runUptime(t)
	e.ui.o.Probes, e.ui.o.Heartbeats, e.ui.o.Logs = ManagerProbes{M: m}, hb, pushLogs(t)
	e.ui.o.StatusProbes = func() map[string]bool { return map[string]bool{"web": true} }
	ctx, consoleErrors := browser(t)
	dir := artifacts(t)
	shot := func(name string) {
		for _, w := range []int64{1280, 390} {
			do(t, ctx, "viewport", chromedp.EmulateViewport(w, 900))
			if w == 390 {
				wide := run(t, ctx, "overflow", chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > window.innerWidth + 1 && !e.closest(".scroll")).map(e => e.tagName + "." + e.className).slice(0, 5)`))
				if len(wide) > 0 {
					t.Errorf("%s is wider than 390px: %v", name, wide)
				}
			}
			buf := run(t, ctx, "screenshot", chromedp.FullScreenshot(100))
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d.png", name, w)), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		do(t, ctx, "viewport", chromedp.EmulateViewport(1280, 900))
	}

	// Keyboard only: focus the user name, type, Tab to the password, Enter.
	do(t, ctx, "login", chromedp.Navigate(e.srv.URL+"/"), chromedp.WaitVisible(chromedp.ID("username")))
	shot("login")
	do(t, ctx, "type credentials",
		chromedp.Focus(chromedp.ID("username")), chromedp.KeyEvent(testUser), chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent(testPassword), chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(chromedp.CSS("figure.chart svg polyline")))
	if n := run(t, ctx, "count lines", chromedp.Evaluate[int](`document.querySelectorAll("figure.chart svg polyline").length`)); n < 4 {
		t.Errorf("the overview draws %d lines, want at least 4", n)
	}
	if n := run(t, ctx, "count probes", chromedp.Evaluate[int](`document.querySelectorAll("table#probes tbody tr").length`)); n != 2 {
		t.Errorf("the overview lists %d probes, want 2", n)
	}
	shot("overview")

	do(t, ctx, "open a container", chromedp.Click(chromedp.CSS(`a[href="/containers/c00"]`)),
		chromedp.WaitVisible(chromedp.CSS("figure.chart svg polyline")), chromedp.WaitVisible(chromedp.ID("logs")))
	if loc := run(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "/containers/c00") {
		t.Errorf("container link led to %s", loc)
	}
	shot("container")

	// A silence from the alert, the form used with the keyboard only.
	do(t, ctx, "silence from the alert", chromedp.Navigate(e.srv.URL+"/alerts"),
		chromedp.Click(chromedp.CSS(`a[href^="/silences?matcher="]`)), chromedp.WaitVisible(chromedp.ID("comment")))
	matchers := run(t, ctx, "matchers", chromedp.Value(chromedp.ID("matchers")))
	if !strings.Contains(matchers, `alertname="ContainerHighCPU"`) {
		t.Errorf("the silence form is not prefilled from the alert: %q", matchers)
	}
	shot("silence-form")
	do(t, ctx, "submit with the keyboard", chromedp.Focus(chromedp.ID("comment")), chromedp.KeyEvent("maintenance"),
		chromedp.KeyEvent(kb.Enter), chromedp.WaitVisible(chromedp.CSS("p.notice")))
	if txt := run(t, ctx, "notice", chromedp.Text(chromedp.CSS("p.notice"))); txt != "Silence created." {
		t.Errorf("after submitting the silence: %q", txt)
	}
	do(t, ctx, "silenced alert", chromedp.Navigate(e.srv.URL+"/alerts"), chromedp.WaitVisible(chromedp.CSS("table#silenced")))
	if ss := e.notifier.Silences(); len(ss) != 1 || ss[0].Comment != "maintenance" {
		t.Fatalf("silences: %+v", ss)
	}
	shot("alerts-silenced")

	// Expire it, then acknowledge the alert.
	do(t, ctx, "expire", chromedp.Navigate(e.srv.URL+"/silences"), chromedp.Click(chromedp.CSS("#silences button")),
		chromedp.WaitVisible(chromedp.CSS("p.notice")))
	do(t, ctx, "acknowledge", chromedp.Navigate(e.srv.URL+"/alerts"), chromedp.Click(chromedp.CSS(`form[action$="/ack"] button`)),
		chromedp.WaitVisible(chromedp.CSS("table#acknowledged")))
	if a := e.notifier.Alerts(); len(a) != 1 || a[0].Acknowledged == nil {
		t.Errorf("alert not acknowledged: %+v", a)
	}

	for _, p := range []string{"/host", "/postgres", "/services/web", "/rules", "/targets", "/delivery", "/settings/tokens",
		"/graph?g0.expr=" + "sum%20by%20(name)%20(container_memory_working_set_bytes)&range=6h&refresh=300"} {
		do(t, ctx, p, chromedp.Navigate(e.srv.URL+p), chromedp.WaitReady(chromedp.CSS("main")))
	}
	shot("graph")
	// The range select applies at once through vigie.js.
	do(t, ctx, "range select", chromedp.SetValue(chromedp.ID("range"), "24h"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("range").dispatchEvent(new Event("change"))`))
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Reading the location while the page navigates may fail
		// ("Inspected target navigated or closed"): poll again.
		loc, err := chromedp.Run(ctx, chromedp.Location())
		if err == nil && strings.Contains(loc, "range=24h") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("changing the range did not reload the page: %s %v", loc, err)
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	do(t, ctx, "sign out", chromedp.Click(chromedp.CSS(".logout button")), chromedp.WaitVisible(chromedp.ID("username")))

	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserAckLink: the signed one-click link of a notification, opened
// without any session, acknowledges the alert through its page's script
// (an embedded file: the CSP forbids inline scripts), with no console error.
func TestBrowserAckLink(t *testing.T) {
	e := newTestEnv(t, 1, 15*time.Minute, 15*time.Second)
	ctx, consoleErrors := browser(t)
	link := strings.Replace(e.notifier.AckURL(e.alert.Fingerprint(), time.Now()), externalURL, e.srv.URL, 1)
	do(t, ctx, "open the link", chromedp.Navigate(link))
	deadline := time.Now().Add(15 * time.Second)
	for {
		if a := e.notifier.Alerts(); len(a) == 1 && a[0].Acknowledged != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the link's page did not acknowledge the alert")
		}
		time.Sleep(50 * time.Millisecond) // poll interval
	}
	do(t, ctx, "result page", chromedp.WaitReady(chromedp.CSS("body")))
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", strings.Join(errs, "\n"))
	}
}

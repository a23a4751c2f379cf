package logonce

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestRepeatedErrorLoggedOnceAtWarn(t *testing.T) {
	var buf bytes.Buffer
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "repeats_total", Help: "h"})
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), c)
	full := errors.New("write vigie.db: no space left on device")
	warned := 0
	for range 100 {
		if l.Error("outbox", "reading the outbox failed", full) {
			warned++
		}
	}
	if warned != 1 || testutil.ToFloat64(c) != 99 {
		t.Fatalf("warned %d times, %v repeats counted; want 1 and 99", warned, testutil.ToFloat64(c))
	}
	// Another key, or another error text, warns again.
	if !l.Error("history", "writing history failed", full) || !l.Error("outbox", "reading the outbox failed", errors.New("database is locked")) {
		t.Fatal("a different key or error was not logged at warn")
	}
	l.OK("outbox", "outbox readable again")
	if !l.Error("outbox", "reading the outbox failed", full) {
		t.Fatal("after recovery, the error was not logged at warn")
	}
	out := buf.String()
	if got := strings.Count(out, "level=WARN"); got != 4 {
		t.Fatalf("%d warnings, want 4:\n%s", got, out)
	}
	if !strings.Contains(out, `level=INFO msg="outbox readable again" last_err="database is locked" repeats=0`) ||
		!strings.Contains(out, "repeats=99") {
		t.Fatalf("log:\n%s", out)
	}
}

package logs

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigie-dev/vigie/logs"
)

func TestDetectLevel(t *testing.T) {
	for _, tc := range []struct {
		line string
		want logs.Level
	}{
		{`{"level":"error","msg":"boom"}`, logs.LevelError},
		{`{"time":"x", "lvl": "WARN", "msg":"slow"}`, logs.LevelWarn},
		{`{"severity":"CRITICAL","message":"down"}`, logs.LevelCritical},
		{`{"level":30,"msg":"pino info"}`, logs.LevelInfo},
		{`{"level":50,"msg":"pino error"}`, logs.LevelError},
		{`ts=2024-01-01T00:00:00Z level=debug msg="hello"`, logs.LevelDebug},
		{`time="x" level="warning" msg=y`, logs.LevelWarn},
		{`2024-01-01 12:00:00 ERROR [main] something failed`, logs.LevelError},
		{`2024-01-01T12:00:00Z INFO  starting`, logs.LevelInfo},
		{`2024/12/02 00:00:00 [error] 12#12: *3 connect() failed (111: Connection refused)`, logs.LevelError},
		{`2024/12/02 00:00:00 [warn] 12#12: upstream response is buffered`, logs.LevelWarn},
		{`E1202 12:00:00.123456       1 controller.go:12] sync failed`, logs.LevelError},
		{`I1202 12:00:00.123456       1 controller.go:12] synced`, logs.LevelInfo},
		{`2024-12-02 00:00:00.000 UTC [123] FATAL:  password authentication failed for user "app"`, logs.LevelCritical},
		{`2024-12-02 00:00:00.000 UTC [123] ERROR:  relation "x" does not exist`, logs.LevelError},
		{`2024-12-02 00:00:00.000 UTC [123] LOG:  checkpoint starting: time`, logs.LevelInfo},
		{`WARNING: something`, logs.LevelWarn},
		{`10.0.0.1 - - [02/Dec/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8"`, logs.LevelUnknown},
		{`an error happened`, logs.LevelUnknown}, // lower-case words are not levels
		{`ERRORS happen`, logs.LevelUnknown},
		{``, logs.LevelUnknown},
	} {
		if got := DetectLevel(tc.line); got != tc.want {
			t.Errorf("DetectLevel(%q) = %s, want %s", tc.line, got, tc.want)
		}
	}
}

func TestBuiltinPatterns(t *testing.T) {
	type hit struct{ pattern, reason string }
	for _, tc := range []struct {
		line string
		want []hit
	}{
		{`2024-12-02 00:00:00 UTC [1] FATAL:  password authentication failed for user "app"`, []hit{{"postgres_connection_error", "auth_failed"}}},
		{`FATAL:  no pg_hba.conf entry for host "10.0.0.9", user "app", database "db", no encryption`, []hit{{"postgres_connection_error", "auth_failed"}}},
		{`FATAL:  sorry, too many clients already`, []hit{{"postgres_connection_error", "too_many_connections"}}},
		{`FATAL:  too many connections for role "app"`, []hit{{"postgres_connection_error", "too_many_connections"}}},
		{`FATAL:  database "shop" does not exist`, []hit{{"postgres_connection_error", "database_missing"}}},
		{`FATAL:  role "ghost" does not exist`, []hit{{"postgres_connection_error", "auth_failed"}}},
		{`FATAL:  the database system is starting up`, []hit{{"postgres_connection_error", "cannot_connect_now"}}},
		{`FATAL:  terminating connection due to administrator command`, nil},
		{"panic: runtime error: index out of range\n\ngoroutine 1 [running]:\nmain.main()\n\t/app/main.go:5 +0x1d", []hit{{"go_panic", "panic"}}},
		{`2024/12/02 00:00:00 http: panic serving 10.0.0.1:5555: boom`, []hit{{"go_panic", "recovered"}}},
		{`[UnhandledPromiseRejection: This error originated either by throwing inside of an async function]`, []hit{{"node_unhandled_error", "unhandled_rejection"}}},
		{`Node.js v20.11.0`, []hit{{"node_unhandled_error", "crash"}}},
		{`10.0.0.1 - - [02/Dec/2026:00:00:00 +0000] "GET /api HTTP/1.1" 502 157 "-" "curl/8.5"`, []hit{{"http_5xx", "502"}}},
		{`10.0.0.1 - - [02/Dec/2026:00:00:00 +0000] "GET /api HTTP/2.0" 503 21 "-" "-" 12 "web@docker" "http://10.0.1.5:80" 3ms`, []hit{{"http_5xx", "503"}}},
		{`{"ClientHost":"10.0.0.1","DownstreamStatus":500,"RequestPath":"/"}`, []hit{{"http_5xx", "500"}}},
		{`10.0.0.1 - - [02/Dec/2026:00:00:00 +0000] "GET /5000 HTTP/1.1" 200 157 "-" "curl"`, nil},
		{`[123.456] Out of memory: Killed process 4242 (java) total-vm:100kB, anon-rss:50kB`, []hit{{"oom_kill", ""}}},
		{`[123.456] Memory cgroup out of memory: Killed process 4242 (node)`, []hit{{"oom_kill", ""}}},
		{`all good`, nil},
	} {
		var got []hit
		for _, p := range BuiltinPatterns() {
			if r, ok := p.Match(tc.line); ok {
				got = append(got, hit{p.Name, r})
			}
		}
		if len(got) != len(tc.want) || len(got) > 0 && got[0] != tc.want[0] {
			t.Errorf("%q: got %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestPipelineCounts(t *testing.T) {
	m := NewMetrics()
	p, err := NewPipeline(m, []logs.PatternConfig{{Name: "payment_failed", Regex: `payment (declined|failed)`}, {Name: "literal", Regex: "disk full"}})
	if err != nil {
		t.Fatal(err)
	}
	src := p.Source("api")
	for _, line := range []string{
		"ERROR payment declined for order 12",
		"INFO ok",
		"FATAL:  sorry, too many clients already",
		"write failed: disk full",
		"panic: boom",
	} {
		e := logs.Entry{Line: line}
		src.Process(&e)
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"api", "error"}, 2}, // ERROR + the panic (an error pattern without a level)
		{[]string{"api", "info"}, 1},
		{[]string{"api", "critical"}, 1},
		{[]string{"api", "unknown"}, 1},
	} {
		if got := testutil.ToFloat64(m.lines.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("lines%v = %v, want %v", c.labels, got, c.want)
		}
	}
	for _, c := range []struct {
		labels []string
		want   float64
	}{
		{[]string{"payment_failed", "", "api"}, 1},
		{[]string{"literal", "", "api"}, 1},
		{[]string{"postgres_connection_error", "too_many_connections", "api"}, 1},
		{[]string{"go_panic", "panic", "api"}, 1},
	} {
		if got := testutil.ToFloat64(m.matches.WithLabelValues(c.labels...)); got != c.want {
			t.Errorf("matches%v = %v, want %v", c.labels, got, c.want)
		}
	}
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatal(err)
	}
}

func join(t *testing.T, lines []string, maxLines int) []string {
	t.Helper()
	var out []string
	j := joiner{maxLines: maxLines, timeout: time.Second, emit: func(b []byte, _, _ int64) { out = append(out, string(b)) }}
	now := time.Unix(0, 0)
	for i, l := range lines {
		j.add([]byte(l), 0, int64(i), now)
	}
	j.tick(now.Add(500 * time.Millisecond))
	if len(out) > 0 && j.pending() && lines[len(lines)-1] == "" {
		t.Fatal("pending after blank")
	}
	j.tick(now.Add(time.Second))
	return out
}

func TestMultiline(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  []string
	}{
		{"java", []string{
			"2024-01-01 ERROR boom",
			"java.lang.IllegalStateException: x",
			"\tat com.example.A.f(A.java:10)",
			"\tat com.example.B.g(B.java:20)",
			"Caused by: java.io.IOException: y",
			"\t... 3 more",
			"2024-01-01 INFO next",
		}, []string{
			"2024-01-01 ERROR boom",
			"java.lang.IllegalStateException: x\n\tat com.example.A.f(A.java:10)\n\tat com.example.B.g(B.java:20)\nCaused by: java.io.IOException: y\n\t... 3 more",
			"2024-01-01 INFO next",
		}},
		{"go panic", []string{
			"panic: runtime error: invalid memory address or nil pointer dereference",
			"[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a6]",
			"",
			"goroutine 1 [running]:",
			"main.(*Server).handle(0x0, {0x4c2f20, 0xc000012345})",
			"\t/app/server.go:42 +0x26",
			"main.main()",
			"\t/app/main.go:12 +0x1d",
			"exit status 2",
			"listening again",
		}, []string{
			"panic: runtime error: invalid memory address or nil pointer dereference\n[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x48f4a6]\n\ngoroutine 1 [running]:\nmain.(*Server).handle(0x0, {0x4c2f20, 0xc000012345})\n\t/app/server.go:42 +0x26\nmain.main()\n\t/app/main.go:12 +0x1d\nexit status 2",
			"listening again",
		}},
		{"node", []string{
			"TypeError: Cannot read properties of undefined (reading 'id')",
			"    at handler (/app/index.js:10:5)",
			"    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
			"server up",
		}, []string{
			"TypeError: Cannot read properties of undefined (reading 'id')\n    at handler (/app/index.js:10:5)\n    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
			"server up",
		}},
		{"python", []string{
			"Traceback (most recent call last):",
			`  File "/app/main.py", line 3, in <module>`,
			"    main()",
			"ValueError: bad",
			"INFO after",
		}, []string{
			"Traceback (most recent call last):\n  File \"/app/main.py\", line 3, in <module>\n    main()\nValueError: bad",
			"INFO after",
		}},
		{"blank lines dropped", []string{"a", "", "b"}, []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := join(t, tc.lines, 100)
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
	t.Run("max lines", func(t *testing.T) {
		got := join(t, []string{"a", " 1", " 2", " 3", " 4"}, 3)
		if want := []string{"a\n 1\n 2", " 3\n 4"}; strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("got %q, want %q", got, want)
		}
	})
	t.Run("flush timeout", func(t *testing.T) {
		var out []string
		j := joiner{maxLines: 10, timeout: time.Second, emit: func(b []byte, _, _ int64) { out = append(out, string(b)) }}
		t0 := time.Unix(100, 0)
		j.add([]byte("single"), 0, 7, t0)
		j.tick(t0.Add(999 * time.Millisecond))
		if len(out) != 0 {
			t.Fatalf("flushed before the timeout: %q", out)
		}
		j.tick(t0.Add(time.Second))
		if len(out) != 1 || out[0] != "single" {
			t.Fatalf("after the timeout: %q", out)
		}
	})
}

func TestApplyConfigPatterns(t *testing.T) {
	cfg := logs.DefaultConfig()
	cfg.Patterns = []logs.PatternConfig{{Name: "old", Regex: "old"}}
	h := newHarness(t, cfg)
	src := h.c.pipeline.Source("s")
	process := func(line string) {
		e := logs.Entry{Line: line}
		src.Process(&e)
	}
	bad := cfg
	bad.Patterns = []logs.PatternConfig{{Name: "new", Regex: "("}}
	if err := h.c.ApplyConfig(bad); err == nil {
		t.Fatal("a bad regexp was applied")
	}
	process("old new")
	good := cfg
	good.Patterns = []logs.PatternConfig{{Name: "new", Regex: "new"}}
	if err := h.c.ApplyConfig(good); err != nil {
		t.Fatal(err)
	}
	process("old new")
	for name, want := range map[string]float64{"old": 1, "new": 1} {
		if got := testutil.ToFloat64(h.c.metrics.matches.WithLabelValues(name, "", "s")); got != want {
			t.Errorf("%s matches = %v, want %v", name, got, want)
		}
	}
}

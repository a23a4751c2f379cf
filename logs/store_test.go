package logs

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/config"
)

func openTestStore(t *testing.T, now func() time.Time) *Store {
	t.Helper()
	s, err := OpenStore(context.Background(), StoreOptions{
		Path: filepath.Join(t.TempDir(), "logs.db"), Now: now,
		Retention: RetentionConfig{MaxAge: config.Duration(time.Hour), MaxSize: DefaultMaxSize},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func sel(t *testing.T, s *Store, query string, start, end time.Time, limit int) []string {
	t.Helper()
	q, err := ParseQuery(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	hits, err := s.Select(context.Background(), Selection{Matchers: q.Matchers, Start: start.UnixNano(), End: end.UnixNano(),
		Contains: q.Contains(), Limit: limit}, q.Keep)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, h := range hits {
		out = append(out, h.Line)
	}
	return out
}

func TestStoreSelect(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	s := openTestStore(t, func() time.Time { return t0.Add(time.Hour) })
	api := labels.FromStrings("source", "api", "container", "api-1")
	db := labels.FromStrings("source", "db")
	var entries []Entry
	for i := range 10 {
		entries = append(entries, Entry{Labels: api, Level: LevelInfo, TS: t0.Add(time.Duration(i) * time.Minute).UnixNano(),
			Line: fmt.Sprintf(`level=info msg="served" status=%d n=%d`, 200+i*40, i)})
	}
	entries = append(entries,
		Entry{Labels: api, Level: LevelError, TS: t0.Add(30 * time.Second).UnixNano(), Line: `{"level":"error","msg":"boom","user":{"id":7}}`},
		Entry{Labels: db, Level: LevelCritical, TS: t0.Add(90 * time.Second).UnixNano(), Line: `FATAL:  password authentication failed for user "app" postgres://app:s3cret@db:5432/x?token=abc`},
	)
	if err := s.Append(context.Background(), entries, map[string]string{"file:1:2": "x"}); err != nil {
		t.Fatal(err)
	}
	end := t0.Add(time.Hour)
	for _, tc := range []struct {
		q    string
		want string
	}{
		{`{source="api", level="error"}`, `{"level":"error","msg":"boom","user":{"id":7}}`},
		{`{source="api"} |= "n=3"`, `level=info msg="served" status=320 n=3`},
		{`{source=~"a.*"} | logfmt | status >= 500 | n != 9`, `level=info msg="served" status=520 n=8`},
		{`{source="api"} | json | user_id = "7"`, `{"level":"error","msg":"boom","user":{"id":7}}`},
		{`{source!="api", level=~"crit.*"} |~ "pass\\w+" != "nothing"`, `FATAL:  password authentication failed for user "app" postgres://app:s3cret@db:5432/x?token=abc`},
		{`{container="api-1"} !~ "served|boom"`, ``},
	} {
		got := sel(t, s, tc.q, t0, end, 2)
		if strings.Join(got, "|") != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.q, got, tc.want)
		}
	}
	// limits across streams, both directions
	q, _ := ParseQuery(`{source=~"api|db"}`)
	for _, fwd := range []bool{false, true} {
		hits, err := s.Select(context.Background(), Selection{Matchers: q.Matchers, Start: t0.UnixNano(), End: end.UnixNano(), Limit: 3, Forward: fwd}, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, h := range hits {
			got = append(got, h.Line[len(h.Line)-3:])
		}
		want := "n=9 n=8 n=7"
		if fwd {
			want = "n=0 7}} n=1"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("forward=%v: %q, want %s", fwd, got, want)
		}
	}
	// time range: [t0+2m, t0+4m) holds n=2 and n=3, newest first
	if got := sel(t, s, `{source="api",level="info"}`, t0.Add(2*time.Minute), t0.Add(4*time.Minute), 100); len(got) != 2 || !strings.HasSuffix(got[0], "n=3") {
		t.Errorf("range: %q", got)
	}
	if got := s.LabelNames(t0.UnixNano(), end.UnixNano()); strings.Join(got, ",") != "container,level,source" {
		t.Errorf("label names %v", got)
	}
	if got := s.LabelValues("level", t0.UnixNano(), end.UnixNano()); strings.Join(got, ",") != "critical,error,info" {
		t.Errorf("level values %v", got)
	}
	if c, ok, err := s.Cursor(context.Background(), "file:1:2"); err != nil || !ok || c != "x" {
		t.Errorf("cursor %q %v %v", c, ok, err)
	}
	lines := s.Lines(context.Background(), map[string]string{"alertname": "PostgresConnectionErrors", "source": "db"}, 5)
	if len(lines) != 1 || strings.Contains(lines[0], "s3cret") || strings.Contains(lines[0], "abc") || !strings.Contains(lines[0], "postgres://xxxxx:xxxxx@db:5432/x?token=xxxxx") {
		t.Errorf("Lines = %q", lines)
	}
	if lines := s.Lines(context.Background(), map[string]string{"alertname": "HostDown"}, 5); lines != nil {
		t.Errorf("Lines without log labels = %q", lines)
	}
}

func TestRetention(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	s := openTestStore(t, func() time.Time { return now })
	ls := labels.FromStrings("source", "x")
	line := strings.Repeat("y", 200)
	var entries []Entry
	for i := range 20000 {
		entries = append(entries, Entry{Labels: ls, TS: now.Add(-2*time.Hour + time.Duration(i)*time.Second/2).UnixNano(), Line: line})
	}
	if err := s.Append(context.Background(), entries, nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	var oldest int64
	_ = s.db.QueryRow(`SELECT count(*), min(ts) FROM log_lines`).Scan(&n, &oldest)
	if n != 12800 || oldest < now.Add(-time.Hour).UnixNano() { // lines at t-2h ... t+46m40s, 2 per second
		t.Errorf("after age retention: %d lines, oldest %v", n, time.Unix(0, oldest))
	}
	used, _ := s.UsedBytes(ctx)
	s.SetRetention(RetentionConfig{MaxSize: ByteSize(used / 2)})
	if err := s.EnforceRetention(ctx); err != nil {
		t.Fatal(err)
	}
	after, _ := s.UsedBytes(ctx)
	var oldest2 int64
	_ = s.db.QueryRow(`SELECT count(*), min(ts) FROM log_lines`).Scan(&n, &oldest2)
	if after > used/2 || n == 0 || oldest2 <= oldest {
		t.Errorf("after size retention: %d bytes (limit %d), %d lines", after, used/2, n)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for q, want := range map[string]string{
		`rate({app="x"}[5m])`:                           "metric queries",
		`sum by (level) (count_over_time({a="b"}[1m]))`: "metric queries",
		`{app="x"} | line_format "{{.msg}}"`:            "| line_format is not supported",
		`{app="x"} | json foo="bar"`:                    "parameters of | json",
		`{app=""}`:                                      "at least one matcher",
		`{app="x"} |= "a" or "b"`:                       "unexpected",
		`{app="x"} | status > 5 and level="x"`:          "combining label filters",
		`{app="x"} | status > "5"`:                      "only numbers",
		`{app="x"`:                                      "expected",
		`{app=~"("}`:                                    "parse error",
	} {
		_, err := ParseQuery(q)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to contain %q", q, err, want)
		}
	}
}

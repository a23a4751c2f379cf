//go:build sqlite_fts5

package logs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/vigie-dev/vigie/storage"
)

// TestFTS5Figures measures what SQLite FTS5 (trigram tokenizer, the one
// that answers substring searches like |=) would cost and give, for the
// decision in docs/logs.md:
// VIGIE_LOGS_FIGURES=1000000 go test -tags sqlite_fts5 ./logs -run FTS5Figures -v
func TestFTS5Figures(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("VIGIE_LOGS_FIGURES"))
	if n == 0 {
		t.Skip("set VIGIE_LOGS_FIGURES=<lines>")
	}
	ctx := context.Background()
	st, err := storage.OpenState(ctx, filepath.Join(t.TempDir(), "fts.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.DB.Exec(`CREATE VIRTUAL TABLE f USING fts5(line, tokenize='trigram', content='')`); err != nil {
		t.Fatal(err)
	}
	formats := []string{
		`{"time":"2026-12-02T00:00:00Z","level":"info","msg":"request served","path":"/api/v1/items/%d","duration_ms":12}`,
		`ts=2026-12-02T00:00:00Z level=warn msg="slow query" id=%d duration=1.2s`,
		`2026-12-02 00:00:00.000 UTC [%d] LOG:  checkpoint complete: wrote 12 buffers`,
		`10.0.0.1 - - [02/Dec/2026:00:00:00 +0000] "GET /index.html?id=%d HTTP/1.1" 200 5120 "-" "Mozilla/5.0"`,
	}
	start := time.Now()
	for i := 0; i < n; {
		tx, _ := st.DB.Begin()
		stmt, _ := tx.Prepare(`INSERT INTO f (rowid, line) VALUES (?, ?)`)
		for j := 0; j < 10000 && i < n; j, i = j+1, i+1 {
			line := fmt.Sprintf(formats[i%len(formats)], i)
			if i%1_000_003 == 500_000 {
				line += " needle-xyzzy"
			}
			if _, err := stmt.Exec(i+1, line); err != nil {
				t.Fatal(err)
			}
		}
		_ = stmt.Close()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	insert := time.Since(start)
	var pages, size int64
	_ = st.DB.QueryRow(`PRAGMA page_count`).Scan(&pages)
	_ = st.DB.QueryRow(`PRAGMA page_size`).Scan(&size)
	start = time.Now()
	var hits int
	if err := st.DB.QueryRow(`SELECT count(*) FROM f WHERE f MATCH '"needle-xyzzy"'`).Scan(&hits); err != nil {
		t.Fatal(err)
	}
	t.Logf("FTS5 trigram index (contentless, detail=full) of %d lines: %.1f bytes a line on top of the lines; %.0f lines/s indexed; rare-term search: %d hits in %v",
		n, float64(pages*size)/float64(n), float64(n)/insert.Seconds(), hits, time.Since(start))
}

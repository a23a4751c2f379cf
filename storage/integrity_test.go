package storage

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeDB creates a real state database with enough rows to span many pages.
func writeDB(t *testing.T, path string) {
	t.Helper()
	ctx := context.Background()
	st, err := OpenState(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(ctx, "test", []string{`CREATE TABLE things (id INTEGER PRIMARY KEY, name TEXT NOT NULL); CREATE INDEX things_name ON things(name)`}); err != nil {
		t.Fatal(err)
	}
	tx, err := st.DB.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if _, err := tx.Exec(`INSERT INTO things (name) VALUES (?)`, strings.Repeat("n", i%100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil { // checkpoints the WAL into the file
		t.Fatal(err)
	}
}

func corrupt(t *testing.T, path string, offset int64, n int) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	garbage := make([]byte, n)
	for i := range garbage {
		garbage[i] = byte(i*7 + 13)
	}
	if _, err := f.WriteAt(garbage, offset); err != nil {
		t.Fatal(err)
	}
}

func TestDamagedStateDatabaseIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset int64
		n      int
	}{
		{"garbage in b-tree pages", 3 * 4096, 4 * 4096},
		{"garbage over the header", 0, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "vigie.db")
			writeDB(t, path)
			// The intact file opens.
			st, err := OpenState(context.Background(), path)
			if err != nil {
				t.Fatalf("intact database refused: %v", err)
			}
			_ = st.Close()
			corrupt(t, path, tc.offset, tc.n)
			st, err = OpenState(context.Background(), path)
			if err == nil {
				_ = st.Close()
				t.Fatal("damaged database opened")
			}
			t.Log(err)
			var ce *CorruptError
			if !errors.As(err, &ce) || ce.Path != path {
				t.Fatalf("error %T %v, want a CorruptError naming %s", err, err, path)
			}
			for _, want := range []string{path, "docs/operations.md", ".recover"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

package status

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkBuild is one uncached snapshot of the fixture's four
// components (95 days of checks every 30 min, heartbeat history).
func BenchmarkBuild(b *testing.B) {
	f := newFixture(b)
	ctx := context.Background()
	for b.Loop() {
		if _, _, err := f.page.build(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPageCached is GET /status served from the cached snapshot.
func BenchmarkPageCached(b *testing.B) {
	f := newFixture(b)
	for b.Loop() {
		resp, err := http.Get(f.srv.URL + "/status")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}

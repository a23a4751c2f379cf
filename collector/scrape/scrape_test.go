package scrape

import (
	"testing"
	"time"
)

func TestLoopbackTargetsAreScrapedUncompressed(t *testing.T) {
	cfg := Config{
		{JobName: "local", Targets: []string{"127.0.0.1:9100", "localhost:9101", "[::1]:9102"}},
		{JobName: "mixed", Targets: []string{"127.0.0.1:9100", "192.0.2.1:9100"}},
		{JobName: "remote", Targets: []string{"db.example:9187"}},
	}
	pc, _, err := prometheusConfig(cfg, 15*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"local": false, "mixed": true, "remote": true}
	for _, sc := range pc.ScrapeConfigs {
		if sc.EnableCompression != want[sc.JobName] {
			t.Errorf("job %s: enable_compression = %v, want %v", sc.JobName, sc.EnableCompression, want[sc.JobName])
		}
	}
	if len(pc.ScrapeConfigs) != len(want) {
		t.Fatalf("got %d scrape configs, want %d", len(pc.ScrapeConfigs), len(want))
	}
}

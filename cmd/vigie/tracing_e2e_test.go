package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/vigie-dev/vigie/internal/vigietest"
)

// otlpReceiver is a local OTLP/HTTP traces endpoint keeping the spans it gets.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	srv   *httptest.Server
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		var msg coltrace.ExportTraceServiceRequest
		if err == nil {
			err = proto.Unmarshal(body, &msg)
		}
		if err != nil || req.URL.Path != "/v1/traces" {
			http.Error(w, fmt.Sprintf("bad export to %s: %v", req.URL.Path, err), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range msg.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltrace.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// find returns the spans named name for which ok holds.
func (r *otlpReceiver) find(name string, ok func(*tracepb.Span) bool) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if s.Name == name && (ok == nil || ok(s)) {
			out = append(out, s)
		}
	}
	return out
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v := kv.Value.GetStringValue(); v != "" {
				return v
			}
			return fmt.Sprint(kv.Value.GetIntValue())
		}
	}
	return ""
}

// TestTracesOfCollectionScrapeRulesAndDelivery: with tracing.endpoint set,
// vigie sends spans for its collection rounds, scrapes, rule group
// evaluations and notification deliveries to a real OTLP/HTTP endpoint, and
// the log of a failed delivery carries its trace id.
func TestTracesOfCollectionScrapeRulesAndDelivery(t *testing.T) {
	otlp := startOTLPReceiver(t)
	failing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down for the test", http.StatusBadRequest)
	}))
	t.Cleanup(failing.Close)
	rulesFile := filepath.Join(t.TempDir(), "rules.yml")
	if err := os.WriteFile(rulesFile, []byte("groups:\n  - name: traced\n    rules:\n      - alert: AlwaysFiring\n        expr: vector(1)\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := vigietest.FreeAddr(t)
	p := vigietest.Start(t, vigietest.Options{Addr: addr, Config: fmt.Sprintf(`tracing:
  endpoint: %s
collect:
  interval: 1s
  docker: {enabled: false}
  scrape:
    - job_name: self
      targets: [%q]
rules:
  evaluation_interval: 1s
  files: [%q]
  builtin: {enabled: false}
notify:
  route: {receiver: hook, group_wait: 0s}
  receivers:
    - name: hook
      webhook_configs: [{url: %q}]
`, otlp.srv.URL, addr, rulesFile, failing.URL)})
	_ = p
	for _, name := range []string{"collect", "scrape", "rule group", "notify.deliver"} {
		vigietest.Eventually(t, 30*time.Second, "a "+name+" span", func() bool {
			return len(otlp.find(name, nil)) > 0
		})
	}
	// The failed delivery: an error span, and its trace id in the log.
	var failed []*tracepb.Span
	vigietest.Eventually(t, 30*time.Second, "a failed delivery span", func() bool {
		failed = otlp.find("notify.deliver", func(s *tracepb.Span) bool {
			return s.Status.GetCode() == tracepb.Status_STATUS_CODE_ERROR && spanAttr(s, "receiver") == "hook"
		})
		return len(failed) > 0
	})
	id := fmt.Sprintf("%x", failed[0].TraceId)
	if !strings.Contains(p.Log(), "trace_id="+id) {
		t.Fatalf("no log line with trace_id=%s:\n%s", id, p.Log())
	}
	if got := spanAttr(failed[0], "outcome"); got != "failed" {
		t.Errorf("failed delivery outcome = %q, want failed (a 400 is not retried)", got)
	}
	if c := otlp.find("collect", nil)[0]; spanAttr(c, "samples") == "0" {
		t.Errorf("collect span without samples: %v", c.Attributes)
	}
}

package tracing

import (
	"context"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{DefaultConfig(), ""},
		{Config{Endpoint: "http://otel:4318", SampleRatio: 0.5}, ""},
		{Config{Endpoint: "otel:4318", SampleRatio: 1}, `endpoint: invalid URL "otel:4318"`},
		{Config{SampleRatio: 2}, "sample_ratio: must be between 0 and 1, got 2"},
	} {
		err := tc.cfg.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("Validate(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// Off, the provider is a no-op one: spans record nothing, carry no trace
// id and cost one small allocation.
func TestOffIsNoop(t *testing.T) {
	p, err := New(DefaultConfig(), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if p.Enabled() {
		t.Fatal("a provider without endpoint is enabled")
	}
	ctx, span := p.Tracer("t").Start(context.Background(), "x")
	defer span.End()
	if span.IsRecording() || TraceID(ctx) != "" {
		t.Fatalf("no-op span records (%v) or has a trace id (%q)", span.IsRecording(), TraceID(ctx))
	}
	tr := p.Tracer("t")
	allocs := testing.AllocsPerRun(100, func() {
		_, s := tr.Start(context.Background(), "x")
		s.End()
	})
	// The one allocation is the context carrying the (shared) no-op span.
	if allocs > 1 {
		t.Errorf("a span costs %v allocations with tracing off, want at most 1", allocs)
	}
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOnHasTraceIDs(t *testing.T) {
	p, err := New(Config{Endpoint: "http://127.0.0.1:1", SampleRatio: 1}, Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	ctx, span := p.Tracer("t").Start(context.Background(), "x")
	defer span.End()
	if !p.Enabled() || len(TraceID(ctx)) != 32 {
		t.Fatalf("enabled=%v trace id %q", p.Enabled(), TraceID(ctx))
	}
}

package api

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"

	remoteapi "github.com/prometheus/client_golang/exp/api/remote"
	"github.com/prometheus/client_golang/prometheus"
	promconfig "github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote"

	"github.com/vigie-dev/vigie/internal/web"
)

// ReceiverOptions configure the push receivers: Prometheus remote write
// and OTLP metrics over HTTP.
type ReceiverOptions struct {
	// Appendable is where received samples go (the TSDB).
	Appendable storage.Appendable
	// AppendableV2 is the same storage for the OTLP translator.
	AppendableV2 storage.AppendableV2
	Logger       *slog.Logger
	Registerer   prometheus.Registerer
	// MaxBodyBytes caps a compressed request body (default 32 MiB); a
	// larger one gets 413.
	MaxBodyBytes int64
	// LookbackDelta spaces target_info samples as the OTLP receiver of
	// Prometheus does (default 5m).
	LookbackDelta time.Duration
}

// ReceiverRoutes serves `POST /api/v1/write` (remote write 1.0 and 2.0,
// protobuf and snappy) and `POST /otlp/v1/metrics` (OTLP/HTTP, protobuf or
// JSON) with Prometheus's own handlers, so status codes are Prometheus's:
// 400 for a bad body or out-of-order samples, 204/200 when written, 5xx
// when storage fails and a retry may succeed. Both change state: Admin
// (agents push with a token once access control is on).
func ReceiverRoutes(o ReceiverOptions) []web.Route {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 32 << 20
	}
	if o.LookbackDelta <= 0 {
		o.LookbackDelta = 5 * time.Minute
	}
	write := remote.NewWriteHandler(o.Logger.With("component", "remote_write_receiver"), o.Registerer, o.Appendable,
		remoteapi.MessageTypes{remoteapi.WriteV1MessageType, remoteapi.WriteV2MessageType}, false, false, false)
	// The OTLP translator reads its naming rules from Prometheus's
	// configuration; the defaults are Prometheus's (underscore escaping
	// with unit and type suffixes).
	cfg := promconfig.DefaultConfig
	otlp := remote.NewOTLPWriteHandler(o.Logger.With("component", "otlp_receiver"), o.Registerer, o.AppendableV2,
		func() promconfig.Config { return cfg }, remote.OTLPOptions{LookbackDelta: o.LookbackDelta})
	return []web.Route{
		{Pattern: "POST /api/v1/write", Access: web.Admin, Handler: capBody(write, o.MaxBodyBytes)},
		{Pattern: "POST /otlp/v1/metrics", Access: web.Admin, Handler: capBody(otlp, o.MaxBodyBytes)},
	}
}

// capBody refuses a body over max with 413 naming the cap: up front when
// Content-Length says so, and through http.MaxBytesReader otherwise (the
// handler then fails to read it and answers 400).
func capBody(h http.Handler, max int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > max {
			http.Error(w, fmt.Sprintf("request body of %d bytes exceeds the %d-byte limit", r.ContentLength, max), http.StatusRequestEntityTooLarge)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, max)
		h.ServeHTTP(w, r)
	})
}

package logs

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/internal/web"
)

// PushSink takes the entries of one push (collector/logs' pipeline: level,
// patterns, counters, then the store).
type PushSink interface {
	Push(ctx context.Context, entries []Entry) error
}

// maxDecodedRatio bounds a snappy body's decoded size against max_body_size.
const maxDecodedRatio = 8

// PushHandler is the Loki push receiver: POST /loki/api/v1/push with
// protobuf+snappy (promtail, Alloy, Docker's Loki driver) or JSON.
type PushHandler struct {
	sink PushSink
	cfg  atomic.Pointer[PushConfig]
}

// NewPushHandler returns a receiver that hands entries to sink.
func NewPushHandler(sink PushSink, cfg PushConfig) *PushHandler {
	h := &PushHandler{sink: sink}
	h.SetConfig(cfg)
	return h
}

// SetConfig changes the limits (on reload).
func (h *PushHandler) SetConfig(cfg PushConfig) { h.cfg.Store(&cfg) }

// Routes is the push route. It is Admin: agents push with an admin token
// until access control has an ingest role.
func (h *PushHandler) Routes() []web.Route {
	return []web.Route{web.R("POST /loki/api/v1/push", web.Admin, h.ServeHTTP)}
}

type pushError struct {
	code int
	msg  string
}

func (e *pushError) Error() string { return e.msg }

func perr(code int, format string, args ...any) error {
	return &pushError{code: code, msg: fmt.Sprintf(format, args...)}
}

func (h *PushHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cfg := h.cfg.Load()
	entries, err := decodePush(r, cfg)
	if err == nil {
		err = h.sink.Push(r.Context(), entries)
	}
	var pe *pushError
	switch {
	case err == nil:
		w.WriteHeader(http.StatusNoContent)
	case errors.As(err, &pe):
		http.Error(w, pe.msg, pe.code)
	default:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

// decodePush reads a push body into entries, or returns a *pushError.
func decodePush(r *http.Request, cfg *PushConfig) ([]Entry, error) {
	body, err := readBody(r, int64(cfg.MaxBodySize))
	if err != nil {
		return nil, err
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var req push.PushRequest
	switch ct {
	case "application/json":
		if err := decodeJSONPush(body, &req); err != nil {
			return nil, err
		}
	case "", "application/x-protobuf":
		n, err := snappy.DecodedLen(body)
		if err != nil {
			return nil, perr(http.StatusBadRequest, "malformed push: snappy: %v", err)
		}
		if n > int(cfg.MaxBodySize)*maxDecodedRatio {
			return nil, perr(http.StatusRequestEntityTooLarge, "push body decodes to %d bytes, over %d", n, int(cfg.MaxBodySize)*maxDecodedRatio)
		}
		raw, err := snappy.Decode(nil, body)
		if err != nil {
			return nil, perr(http.StatusBadRequest, "malformed push: snappy: %v", err)
		}
		if err := req.Unmarshal(raw); err != nil {
			return nil, perr(http.StatusBadRequest, "malformed push: protobuf: %v", err)
		}
	default:
		return nil, perr(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: use application/x-protobuf (snappy) or application/json", ct)
	}
	if len(req.Streams) > cfg.MaxStreams {
		return nil, perr(http.StatusTooManyRequests, "push has %d streams, over the limit of %d per request", len(req.Streams), cfg.MaxStreams)
	}
	var entries []Entry
	for i, s := range req.Streams {
		ls, err := parseStreamLabels(s.Labels)
		if err != nil {
			return nil, perr(http.StatusBadRequest, "malformed push: stream %d labels %q: %v", i, s.Labels, err)
		}
		for _, e := range s.Entries {
			entries = append(entries, Entry{Labels: ls, TS: e.Timestamp.UnixNano(), Line: e.Line})
		}
	}
	return entries, nil
}

func readBody(r *http.Request, limit int64) ([]byte, error) {
	var rd io.Reader = io.LimitReader(r.Body, limit+1)
	if r.Header.Get("Content-Encoding") == "gzip" {
		gz, err := gzip.NewReader(rd)
		if err != nil {
			return nil, perr(http.StatusBadRequest, "malformed push: gzip: %v", err)
		}
		rd = io.LimitReader(gz, limit*maxDecodedRatio+1)
		limit *= maxDecodedRatio
	}
	body, err := io.ReadAll(rd)
	if err != nil {
		return nil, perr(http.StatusBadRequest, "malformed push: read body: %v", err)
	}
	if int64(len(body)) > limit {
		return nil, perr(http.StatusRequestEntityTooLarge, "push body over the limit of %d bytes", limit)
	}
	return body, nil
}

// decodeJSONPush reads Loki's JSON push shape:
// {"streams":[{"stream":{"k":"v"},"values":[["<unix ns>","line"(, {metadata})]]}]}.
func decodeJSONPush(body []byte, req *push.PushRequest) error {
	var in struct {
		Streams []struct {
			Stream map[string]string   `json:"stream"`
			Values [][]json.RawMessage `json:"values"`
		} `json:"streams"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return perr(http.StatusBadRequest, "malformed push: JSON: %v", err)
	}
	for i, s := range in.Streams {
		st := push.Stream{Labels: labels.FromMap(s.Stream).String()}
		for j, v := range s.Values {
			var ts, line string
			if len(v) < 2 || json.Unmarshal(v[0], &ts) != nil || json.Unmarshal(v[1], &line) != nil {
				return perr(http.StatusBadRequest, "malformed push: streams[%d].values[%d]: want [\"<unix ns>\", \"line\"]", i, j)
			}
			ns, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return perr(http.StatusBadRequest, "malformed push: streams[%d].values[%d]: timestamp %q is not Unix nanoseconds", i, j, ts)
			}
			st.Entries = append(st.Entries, push.Entry{Timestamp: time.Unix(0, ns), Line: line})
		}
		req.Streams = append(req.Streams, st)
	}
	return nil
}

// parseStreamLabels reads {a="b", c="d"}.
func parseStreamLabels(s string) (labels.Labels, error) {
	ms, err := ParseSelector(s)
	if err != nil {
		return labels.EmptyLabels(), err
	}
	b := labels.NewScratchBuilder(len(ms))
	for _, m := range ms {
		if m.Type != labels.MatchEqual {
			return labels.EmptyLabels(), fmt.Errorf("label %s: only = is allowed in stream labels", m.Name)
		}
		if !model.LegacyValidation.IsValidLabelName(m.Name) {
			return labels.EmptyLabels(), fmt.Errorf("invalid label name %q", m.Name)
		}
		b.Add(m.Name, m.Value)
	}
	b.Sort()
	return b.Labels(), nil
}

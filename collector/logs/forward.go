package logs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/golang/snappy"
	"github.com/grafana/loki/pkg/push"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/vigie-dev/vigie/logs"
)

// Forwarding limits.
const (
	forwardBatchEntries = 1000
	forwardBatchBytes   = 1 << 20
	forwardFlush        = time.Second
	forwardTimeout      = 30 * time.Second
	forwardMaxBackoff   = 5 * time.Minute
)

// Backoff says how long to wait after the n-th consecutive failure (n >= 1).
type Backoff func(n int) time.Duration

// DefaultBackoff doubles from 500 ms up to 5 minutes.
func DefaultBackoff(n int) time.Duration {
	d := 500 * time.Millisecond << min(n-1, 20)
	return min(d, forwardMaxBackoff)
}

// Forwarder sends entries to one external Loki: entries are batched in
// memory for up to a second, queued on disk (bounded), and pushed in
// order as protobuf+snappy, retried with backoff while Loki fails (5xx,
// 429, network); a batch Loki refuses with another 4xx is dropped.
type Forwarder struct {
	cfg     logs.ForwardConfig
	label   string // the URL with any credentials masked
	store   *logs.Store
	client  *http.Client
	m       *Metrics
	logger  *slog.Logger
	backoff Backoff
	sleep   func(ctx context.Context, d time.Duration) bool

	mu      sync.Mutex
	pending []logs.Entry
	size    int
	wake    chan struct{}
}

func newForwarder(cfg logs.ForwardConfig, store *logs.Store, m *Metrics, logger *slog.Logger, backoff Backoff) *Forwarder {
	if cfg.BufferSize == 0 {
		cfg.BufferSize = logs.DefaultForwardBuffer
	}
	if backoff == nil {
		backoff = DefaultBackoff
	}
	label := logs.MaskSecrets(cfg.URL)
	return &Forwarder{cfg: cfg, label: label, store: store, client: &http.Client{Timeout: forwardTimeout}, m: m,
		logger: logger.With("forward", label), backoff: backoff, sleep: sleepCtx, wake: make(chan struct{}, 1)}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (f *Forwarder) target() string { return f.cfg.URL + "|" + f.cfg.Tenant }

// Add takes stored entries (copied: the caller reuses its slice).
func (f *Forwarder) Add(entries []logs.Entry) {
	f.mu.Lock()
	for _, e := range entries {
		f.pending = append(f.pending, e)
		f.size += len(e.Line)
	}
	full := len(f.pending) >= forwardBatchEntries || f.size >= forwardBatchBytes
	f.mu.Unlock()
	if full {
		select {
		case f.wake <- struct{}{}:
		default:
		}
	}
}

// Run seals batches and sends them until ctx ends; what is pending is
// queued on the way out.
func (f *Forwarder) Run(ctx context.Context) {
	tick := time.NewTicker(forwardFlush)
	defer tick.Stop()
	defer f.seal(context.WithoutCancel(ctx))
	failures := 0
	for {
		f.seal(ctx)
		for ctx.Err() == nil {
			sent, retry := f.sendOne(ctx)
			if !sent && !retry {
				break // queue empty
			}
			if retry {
				failures++
				if !f.sleep(ctx, f.backoff(failures)) {
					return
				}
				f.seal(ctx)
				continue
			}
			failures = 0
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-f.wake:
		}
	}
}

// seal encodes the pending entries into batches on the disk queue.
func (f *Forwarder) seal(ctx context.Context) {
	f.mu.Lock()
	entries := f.pending
	f.pending, f.size = nil, 0
	f.mu.Unlock()
	for len(entries) > 0 {
		n := min(len(entries), forwardBatchEntries)
		body, err := encodePush(entries[:n])
		if err == nil {
			var dropped int
			dropped, err = f.store.Enqueue(ctx, f.target(), body, n, int64(f.cfg.BufferSize))
			if dropped > 0 {
				f.m.dropped.WithLabelValues("forward_buffer_full").Add(float64(dropped))
			}
		}
		if err != nil {
			f.m.dropped.WithLabelValues("forward_error").Add(float64(n))
			f.logger.Warn("queue log lines for forwarding", "err", err)
		}
		entries = entries[n:]
	}
}

// sendOne pushes the oldest queued batch: sent when Loki took it (or
// refused it for good), retry when Loki or the network failed.
func (f *Forwarder) sendOne(ctx context.Context) (sent, retry bool) {
	id, body, n, ok, err := f.store.Peek(ctx, f.target())
	if err != nil || !ok {
		return false, err != nil
	}
	code, err := f.post(ctx, body)
	switch {
	case err != nil || code == http.StatusTooManyRequests || code >= 500:
		f.m.forwardFailures.WithLabelValues(f.label).Inc()
		f.logger.Debug("forward to Loki failed; retrying", "status", code, "err", err)
		return false, true
	case code >= 400:
		f.m.dropped.WithLabelValues("forward_rejected").Add(float64(n))
		f.logger.Warn("Loki refused a batch; dropped", "status", code, "entries", n)
	default:
		f.m.forwarded.WithLabelValues(f.label).Add(float64(n))
	}
	if err := f.store.Dequeue(ctx, id); err != nil {
		return false, true
	}
	return true, false
}

func (f *Forwarder) post(ctx context.Context, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, f.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", "vigie")
	if f.cfg.Tenant != "" {
		req.Header.Set("X-Scope-OrgID", f.cfg.Tenant)
	}
	if f.cfg.Username != "" {
		req.SetBasicAuth(f.cfg.Username, f.cfg.Password.Value())
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// encodePush builds Loki's protobuf+snappy body, one stream per label set
// (the level is a label, as in the store).
func encodePush(entries []logs.Entry) ([]byte, error) {
	index := map[string]int{}
	var req push.PushRequest
	for _, e := range entries {
		b := labels.NewBuilder(e.Labels)
		b.Set(logs.LevelLabel, e.Level.String())
		key := b.Labels().String()
		i, ok := index[key]
		if !ok {
			i = len(req.Streams)
			index[key] = i
			req.Streams = append(req.Streams, push.Stream{Labels: key})
		}
		req.Streams[i].Entries = append(req.Streams[i].Entries, push.Entry{Timestamp: time.Unix(0, e.TS), Line: e.Line})
	}
	pb, err := req.Marshal()
	if err != nil {
		return nil, fmt.Errorf("encode push: %w", err)
	}
	return snappy.Encode(nil, pb), nil
}

type runningForwarder struct {
	f      *Forwarder
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{} // nil when not sending
}

// forwardingStore is the store as sources see it: what is stored is also
// handed to the forwarders.
type forwardingStore struct {
	*logs.Store
	c *Collector
}

func (s *forwardingStore) Append(ctx context.Context, entries []logs.Entry, cursors map[string]string) error {
	if err := s.Store.Append(ctx, entries, cursors); err != nil {
		return err
	}
	s.c.forward(entries)
	return nil
}

func (c *Collector) forward(entries []logs.Entry) {
	if len(entries) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rf := range c.forwarders {
		rf.f.Add(entries)
	}
}

// setForwarders makes the forwarders match the configuration: new ones
// take entries at once (Run starts sending), removed ones stop (their
// queues stay on disk).
func (c *Collector) setForwarders(cfgs []logs.ForwardConfig) {
	want := map[string]logs.ForwardConfig{}
	for _, fc := range cfgs {
		want[fmt.Sprint(fc.URL, "\x00", fc.Tenant, "\x00", fc.Username, "\x00", fc.Password.Value(), "\x00", fc.BufferSize)] = fc
	}
	c.mu.Lock()
	var stop []*runningForwarder
	for k, rf := range c.forwarders {
		if _, ok := want[k]; !ok {
			stop = append(stop, rf)
			delete(c.forwarders, k)
		}
	}
	for k, fc := range want {
		if _, ok := c.forwarders[k]; !ok {
			c.forwarders[k] = &runningForwarder{f: newForwarder(fc, c.store, c.metrics, c.logger, c.backoff)}
		}
	}
	c.mu.Unlock()
	for _, rf := range stop {
		rf.stop()
	}
}

// startForwarders starts sending for the forwarders not started yet.
func (c *Collector) startForwarders(ctx context.Context) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rf := range c.forwarders {
		rf.mu.Lock()
		if rf.done == nil {
			fctx, cancel := context.WithCancel(ctx)
			done := make(chan struct{})
			rf.cancel, rf.done = cancel, done
			go func() {
				defer close(done)
				rf.f.Run(fctx)
			}()
		}
		rf.mu.Unlock()
	}
}

func (rf *runningForwarder) stop() {
	rf.mu.Lock()
	cancel, done := rf.cancel, rf.done
	rf.done = nil
	rf.mu.Unlock()
	if done != nil {
		cancel()
		<-done
	}
}

// stopForwarders stops sending (at the end of Run); the forwarders keep
// taking entries for the next Run.
func (c *Collector) stopForwarders() {
	c.mu.Lock()
	all := make([]*runningForwarder, 0, len(c.forwarders))
	for _, rf := range c.forwarders {
		all = append(all, rf)
	}
	c.mu.Unlock()
	for _, rf := range all {
		rf.stop()
	}
}

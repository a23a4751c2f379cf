package notify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

func (n *Notifier) config() *runtimeConfig {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.rc
}

// runOutbox delivers the outbox until ctx ends. Sends use sendCtx, which
// outlives ctx for a bounded drain.
func (n *Notifier) runOutbox(ctx, sendCtx context.Context) {
	sem := make(chan struct{}, n.config().cfg.Delivery.Concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var lastCleanup time.Time
	for {
		next := n.deliverDue(ctx, sendCtx, sem)
		if now := n.now(); now.Sub(lastCleanup) > 10*time.Minute {
			lastCleanup = now
			n.cleanupOutbox(ctx, now)
		}
		n.updateQueued(ctx)
		wait := 30 * time.Second
		if !next.IsZero() {
			wait = min(wait, max(next.Sub(n.now()), time.Millisecond))
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-n.wakeOutbox:
		case <-timer.C:
		}
	}
}

// deliverDue starts a delivery for every due head of stream and returns
// when the next pending one is due (zero when none is waiting).
func (n *Notifier) deliverDue(ctx, sendCtx context.Context, sem chan struct{}) time.Time {
	rows, err := dueOutbox(ctx, n.db, 512)
	if err != nil {
		if ctx.Err() == nil {
			n.logRepeats.Error("outbox", "reading the outbox failed", err)
		}
		return n.now().Add(time.Second)
	}
	n.logRepeats.OK("outbox", "reading the outbox works again")
	var next time.Time
	now := n.now()
	for _, r := range rows {
		n.sendMu.Lock()
		busy := n.inflight[r.ID]
		n.sendMu.Unlock()
		if busy {
			continue
		}
		if r.NextAttempt.After(now) {
			if next.IsZero() || r.NextAttempt.Before(next) {
				next = r.NextAttempt
			}
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return next
		}
		n.sendMu.Lock()
		n.inflight[r.ID] = true
		n.sendMu.Unlock()
		n.sends.Add(1)
		go func() {
			defer n.sends.Done()
			defer func() { <-sem }()
			n.deliver(sendCtx, r)
			n.sendMu.Lock()
			delete(n.inflight, r.ID)
			n.sendMu.Unlock()
			n.wake(n.wakeOutbox)
		}()
	}
	return next
}

func (n *Notifier) updateQueued(ctx context.Context) {
	var c int
	if err := n.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM notify_outbox WHERE status = 'pending'`).Scan(&c); err == nil {
		n.metrics.queued.Set(float64(c))
	}
}

func (n *Notifier) cleanupOutbox(ctx context.Context, now time.Time) {
	keep := n.config().cfg.Delivery.Retention.D()
	if _, err := n.db.ExecContext(ctx, `DELETE FROM notify_outbox WHERE status != 'pending' AND done_at < ?`, ms(now.Add(-keep))); err != nil && ctx.Err() == nil {
		n.logRepeats.Error("cleanup", "cleaning the notification log failed", err)
	}
}

func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	// Jitter in [d/2, d): retries of many groups don't hit a recovering provider at once.
	return d/2 + rand.N(d/2+1)
}

// deliver makes one attempt at one outbox row and records the outcome.
func (n *Notifier) deliver(ctx context.Context, r *outboxRow) {
	rc := n.config()
	log := n.logger.With("receiver", r.Receiver, "integration", r.Integration)
	integ := rc.integration(r.Receiver, r.Integration)
	if integ == nil {
		err := fmt.Errorf("receiver %q has no integration %s any more", r.Receiver, r.Integration)
		n.metrics.failed.WithLabelValues(r.Receiver, "unknown_receiver").Inc()
		log.Warn("dropping a notification", "group", r.GroupKey, "err", err)
		n.finish(ctx, r, "failed", r.Attempts, time.Time{}, err.Error(), "", "")
		return
	}
	ctx, span := n.startDeliverySpan(ctx, r)
	defer span.End()
	thread := n.threadRef(ctx, r)
	data := n.templateData(r.Payload, n.now())
	actx, cancel := context.WithTimeout(ctx, rc.cfg.Delivery.Timeout.D())
	res, retry, err := integ.impl.Notify(actx, &Message{Data: data, ThreadRef: thread})
	cancel()
	now := n.now()
	if err == nil {
		span.SetAttributes(attribute.String("outcome", "sent"))
		n.metrics.sent.WithLabelValues(r.Receiver, r.Integration).Inc()
		n.metrics.latency.WithLabelValues(r.Receiver).Observe(now.Sub(r.CreatedAt).Seconds())
		log.Info("notification sent", "group", r.GroupKey, "status", r.NotifStatus, "alerts", len(r.Payload.Alerts), "attempts", r.Attempts+1)
		ref := res.ThreadRef
		if r.NotifStatus == "resolved" {
			ref = "-" // the incident is over: the next one starts a new thread
		}
		n.finish(ctx, r, "sent", r.Attempts+1, time.Time{}, "", res.Response, ref)
		return
	}
	if ctx.Err() != nil {
		// Shutting down: not the provider's fault, the row stays pending as it was.
		return
	}
	reason := failureReason(err, retry)
	n.metrics.failed.WithLabelValues(r.Receiver, reason).Inc()
	attempts := r.Attempts + 1
	age := now.Sub(r.CreatedAt)
	d := rc.cfg.Delivery
	status, next := "pending", now.Add(backoff(attempts, d.MinBackoff.D(), d.MaxBackoff.D()))
	if res.RetryAfter > 0 {
		next = now.Add(res.RetryAfter)
	}
	switch {
	case !retry:
		status = "failed"
	case next.Sub(r.CreatedAt) > d.MaxAge.D():
		status = "failed"
		n.metrics.failed.WithLabelValues(r.Receiver, "expired").Inc()
	}
	msg := err.Error()
	span.SetAttributes(attribute.String("outcome", status), attribute.String("reason", reason))
	span.SetStatus(codes.Error, msg)
	args := []any{"group", r.GroupKey, "attempts", attempts, "reason", reason, "err", msg}
	if sc := span.SpanContext(); sc.HasTraceID() {
		args = append(args, "trace_id", sc.TraceID().String())
	}
	switch {
	case status == "failed":
		log.Error("giving up on a notification", args...)
	case msg != r.LastError:
		log.Warn("notification failed, will retry", append(args, "retry_at", next)...)
	default:
		log.Debug("notification failed again", args...)
	}
	if fb := d.FallbackReceiver; fb != "" && fb != r.Receiver && !r.FallbackSent && (status == "failed" || age >= d.FallbackAfter.D()) {
		if err := n.enqueueFallback(ctx, rc, r, msg, now); err != nil {
			log.Error("telling the fallback receiver failed", "err", err)
		} else {
			r.FallbackSent = true
		}
	}
	if status == "failed" {
		next = time.Time{}
	}
	n.finish(ctx, r, status, attempts, next, msg, "", "")
}

// finish records an attempt's outcome, and the group's thread reference
// ("-" deletes it) in the same transaction.
func (n *Notifier) finish(ctx context.Context, r *outboxRow, status string, attempts int, next time.Time, lastErr, response, ref string) {
	now := n.now()
	done := int64(0)
	if status != "pending" {
		done = ms(now)
	}
	err := func() error {
		tx, err := n.db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback() }()
		if _, err := tx.ExecContext(ctx, `UPDATE notify_outbox SET status = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = ?,
			last_error = ?, response = ?, done_at = ?, fallback_sent = ? WHERE id = ?`,
			status, attempts, ms(next), ms(now), lastErr, response, done, r.FallbackSent, r.ID); err != nil {
			return err
		}
		switch {
		case ref == "-":
			_, err = tx.ExecContext(ctx, `DELETE FROM notify_threads WHERE receiver = ? AND integration = ? AND group_key = ?`, r.Receiver, r.Integration, r.GroupKey)
		case ref != "":
			_, err = tx.ExecContext(ctx, `INSERT OR REPLACE INTO notify_threads (receiver, integration, group_key, ref, updated_at) VALUES (?, ?, ?, ?, ?)`,
				r.Receiver, r.Integration, r.GroupKey, ref, ms(now))
		}
		if err != nil {
			return err
		}
		return tx.Commit()
	}()
	if err != nil {
		// The provider has the message but the outbox doesn't know: this is
		// the one way a duplicate can happen.
		n.logRepeats.Error("record", "recording a delivery failed", err, "receiver", r.Receiver, "id", r.ID)
	} else {
		n.logRepeats.OK("record", "")
	}
}

func (n *Notifier) threadRef(ctx context.Context, r *outboxRow) string {
	var ref string
	err := n.db.QueryRowContext(ctx, `SELECT ref FROM notify_threads WHERE receiver = ? AND integration = ? AND group_key = ?`,
		r.Receiver, r.Integration, r.GroupKey).Scan(&ref)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		n.logger.Warn("reading a thread reference failed", "err", err)
	}
	return ref
}

func (n *Notifier) enqueueFallback(ctx context.Context, rc *runtimeConfig, r *outboxRow, errMsg string, now time.Time) error {
	fb := rc.cfg.Delivery.FallbackReceiver
	tx, err := n.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	for _, integ := range rc.integrations[fb] {
		p := *r.Payload
		p.Receiver = fb
		p.Fallback = &FallbackInfo{Receiver: r.Receiver, Integration: r.Integration, Error: errMsg, Since: r.CreatedAt}
		row := &outboxRow{Receiver: fb, Integration: integ.name, GroupKey: "fallback/" + r.GroupKey, NotifStatus: r.NotifStatus,
			Firing: r.Firing, Resolved: r.Resolved, CreatedAt: now, NextAttempt: now, Payload: &p}
		if err := insertOutbox(ctx, tx, row); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE notify_outbox SET fallback_sent = 1 WHERE id = ?`, r.ID); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	n.wake(n.wakeOutbox)
	return nil
}

// templateData builds what templates see from a queued notification.
func (n *Notifier) templateData(p *payload, now time.Time) *Data {
	d := &Data{
		Receiver: p.Receiver, Status: p.Status, GroupLabels: KV(p.GroupLabels), ExternalURL: n.externalURL,
		GroupKey: p.GroupKey, Fallback: p.Fallback, Alerts: make(Alerts, 0, len(p.Alerts)),
		CommonLabels: KV{}, CommonAnnotations: KV{},
	}
	if d.GroupLabels == nil {
		d.GroupLabels = KV{}
	}
	for i, a := range p.Alerts {
		ta := TemplateAlert{Status: a.Status, Labels: KV(a.Labels), Annotations: KV(a.Annotations), StartsAt: a.StartsAt,
			GeneratorURL: a.GeneratorURL, Fingerprint: a.Fingerprint}
		if ta.Annotations == nil {
			ta.Annotations = KV{}
		}
		if a.Status == "resolved" {
			ta.EndsAt = a.EndsAt
		} else {
			ta.AckURL = n.AckURL(a.Fingerprint, now)
		}
		d.Alerts = append(d.Alerts, ta)
		if i == 0 {
			for k, v := range a.Labels {
				d.CommonLabels[k] = v
			}
			for k, v := range a.Annotations {
				d.CommonAnnotations[k] = v
			}
			continue
		}
		for k, v := range d.CommonLabels {
			if a.Labels[k] != v {
				delete(d.CommonLabels, k)
			}
		}
		for k, v := range d.CommonAnnotations {
			if a.Annotations[k] != v {
				delete(d.CommonAnnotations, k)
			}
		}
	}
	return d
}

// startDeliverySpan starts the span of one delivery attempt; without a
// tracer it is a no-op span that costs nothing.
func (n *Notifier) startDeliverySpan(ctx context.Context, r *outboxRow) (context.Context, trace.Span) {
	if n.tracer == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return n.tracer.Start(ctx, "notify.deliver", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("receiver", r.Receiver), attribute.String("integration", r.Integration),
		attribute.String("status", r.NotifStatus), attribute.Int("alerts", len(r.Payload.Alerts)),
		attribute.Int("attempt", r.Attempts+1)))
}

// Package collector defines how vigie gathers metrics from the things it
// watches (this host, containers, PostgreSQL) and runs the gathers.
//
// A Collector is the node_exporter shape: a name and an Update method that
// sends prometheus.Metrics and returns an error. A Set runs every collector
// concurrently under one deadline, reports vigie_collector_success and
// vigie_collector_duration_seconds per collector, and is itself a
// prometheus.Collector: registered once, it serves /metrics and feeds the
// collection loop that appends into storage.
package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector gathers one source of metrics.
type Collector interface {
	// Name is the collector's label value in vigie_collector_success.
	Name() string
	// Update sends the current metrics to ch. It returns when done or when
	// ctx ends. An error marks the collector failed for this gather; metrics
	// already sent are kept. A collector that has nothing to report this time
	// (a source switched off) returns ErrNoData.
	Update(ctx context.Context, ch chan<- prometheus.Metric) error
}

// ErrNoData is returned by a collector with nothing to report; it is not a failure.
var ErrNoData = errors.New("collector has no data")

var (
	successDesc = prometheus.NewDesc("vigie_collector_success",
		"Whether the collector's last gather succeeded (1) or failed (0).", []string{"collector"}, nil)
	durationDesc = prometheus.NewDesc("vigie_collector_duration_seconds",
		"Duration of the collector's last gather.", []string{"collector"}, nil)
)

// Set runs a group of collectors as one prometheus.Collector.
type Set struct {
	timeout time.Duration
	logger  *slog.Logger

	mu         sync.RWMutex
	collectors []Collector
	failing    map[string]string // collector → last error logged, to log a failure once
}

// NewSet returns a Set whose gathers end after timeout.
func NewSet(timeout time.Duration, logger *slog.Logger, cs ...Collector) *Set {
	return &Set{timeout: timeout, logger: logger, collectors: cs, failing: map[string]string{}}
}

// Replace swaps the collectors (on a configuration reload).
func (s *Set) Replace(cs ...Collector) {
	s.mu.Lock()
	s.collectors = cs
	s.mu.Unlock()
}

// SetTimeout changes the per-gather deadline.
func (s *Set) SetTimeout(d time.Duration) {
	s.mu.Lock()
	s.timeout = d
	s.mu.Unlock()
}

// Describe sends nothing: the Set is an unchecked collector, since what the
// collectors report depends on what they find.
func (s *Set) Describe(chan<- *prometheus.Desc) {}

// Collect runs every collector concurrently and forwards their metrics.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	s.mu.RLock()
	cs, timeout := s.collectors, s.timeout
	s.mu.RUnlock()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.run(ctx, c, ch)
		}()
	}
	wg.Wait()
}

func (s *Set) run(ctx context.Context, c Collector, ch chan<- prometheus.Metric) {
	name := c.Name()
	start := time.Now()
	err := s.update(ctx, c, ch)
	ch <- prometheus.MustNewConstMetric(durationDesc, prometheus.GaugeValue, time.Since(start).Seconds(), name)
	if errors.Is(err, ErrNoData) {
		return
	}
	ok := 1.0
	if err != nil {
		ok = 0
	}
	ch <- prometheus.MustNewConstMetric(successDesc, prometheus.GaugeValue, ok, name)
	s.logOutcome(name, err)
}

// update runs one collector, stopping its output when ctx ends so a late
// collector cannot write into a closed gather.
func (s *Set) update(ctx context.Context, c Collector, out chan<- prometheus.Metric) error {
	in := make(chan prometheus.Metric, 64)
	done := make(chan error, 1)
	go func() {
		defer close(in)
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("collector panicked: %v", r)
			}
		}()
		done <- c.Update(ctx, in)
	}()
	for {
		select {
		case m, ok := <-in:
			if !ok {
				return <-done
			}
			out <- m
		case <-ctx.Done():
			// Drain in the background; the collector sees ctx and returns.
			go func() {
				for range in {
				}
			}()
			return ctx.Err()
		}
	}
}

// logOutcome logs a failure when it starts or changes, and the recovery, not every gather.
func (s *Set) logOutcome(name string, err error) {
	s.mu.Lock()
	prev, wasFailing := s.failing[name]
	if err == nil {
		delete(s.failing, name)
	} else {
		s.failing[name] = err.Error()
	}
	s.mu.Unlock()
	switch {
	case err != nil && (!wasFailing || prev != err.Error()):
		s.logger.Warn("collector failed", "collector", name, "err", err)
	case err == nil && wasFailing:
		s.logger.Info("collector recovered", "collector", name)
	}
}

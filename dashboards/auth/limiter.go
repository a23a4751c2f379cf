package auth

import (
	"sync"
	"time"
)

// limiter counts failed logins per key (a client address, a user name) in
// a sliding window: once a key has max failures within window, further
// attempts are refused until the oldest failure leaves the window.
// Hand-written because golang.org/x/time/rate's token bucket refills
// continuously, while "10 wrong passwords per minute" is a window count.
type limiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time
}

func newLimiter(max int, window time.Duration, now func() time.Time) *limiter {
	return &limiter{max: max, window: window, now: now, failures: map[string][]time.Time{}}
}

// prune drops the failures of key older than the window. Called with mu held.
func (l *limiter) prune(key string, now time.Time) []time.Time {
	f := l.failures[key]
	i := 0
	for i < len(f) && now.Sub(f[i]) >= l.window {
		i++
	}
	f = f[i:]
	if len(f) == 0 {
		delete(l.failures, key)
		return nil
	}
	l.failures[key] = f
	return f
}

// Allow reports whether every key may attempt now, and if not, how long
// until one may.
func (l *limiter) Allow(keys ...string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for _, k := range keys {
		if f := l.prune(k, now); len(f) >= l.max {
			wait = max(wait, l.window-now.Sub(f[len(f)-l.max]))
		}
	}
	return wait == 0, wait
}

// Fail records a failure for every key.
func (l *limiter) Fail(keys ...string) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		f := l.prune(k, now)
		if len(f) >= 4*l.max { // bound memory under a flood
			f = f[1:]
		}
		l.failures[k] = append(f, now)
	}
	// Forget idle keys now and then so the map does not grow forever.
	if len(l.failures) > 10000 {
		for k := range l.failures {
			l.prune(k, now)
		}
	}
}

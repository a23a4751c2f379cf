// Package logonce keeps a repeated identical error from flooding the log:
// the first occurrence is logged at warn, the repeats at debug and counted
// in a metric, and the recovery at info. A loop that fails every second
// with "no space left on device" logs one warning, not 86,400 a day.
package logonce

import (
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// Logger remembers, per key (one failing thing: "outbox", "collector=docker"),
// the text of its last error.
type Logger struct {
	logger  *slog.Logger
	repeats prometheus.Counter

	mu   sync.Mutex
	last map[string]*state
}

type state struct {
	text    string
	repeats int
}

// New returns a Logger writing to logger. repeats, if not nil, counts the
// occurrences logged at debug because they repeated the previous one
// (register it on the owner's registry, e.g. vigie_log_repeated_errors_total
// with a constant component label).
func New(logger *slog.Logger, repeats prometheus.Counter) *Logger {
	if logger == nil {
		logger = slog.Default()
	}
	return &Logger{logger: logger, repeats: repeats, last: map[string]*state{}}
}

// Error logs msg with err for key: at warn when err's text differs from
// key's previous error, at debug (with the repeat count) while it repeats.
// It reports whether it logged at warn.
func (l *Logger) Error(key, msg string, err error, args ...any) bool {
	text := err.Error()
	l.mu.Lock()
	s := l.last[key]
	if s != nil && s.text == text {
		s.repeats++
		n := s.repeats
		l.mu.Unlock()
		if l.repeats != nil {
			l.repeats.Inc()
		}
		l.logger.Debug(msg, append(args, "err", text, "repeats", n)...)
		return false
	}
	l.last[key] = &state{text: text}
	l.mu.Unlock()
	l.logger.Warn(msg, append(args, "err", text)...)
	return true
}

// OK ends key's repetition: its next error is logged at warn again. If key
// was failing, msg is logged at info with how many times the error repeated.
func (l *Logger) OK(key, msg string, args ...any) {
	l.mu.Lock()
	s := l.last[key]
	delete(l.last, key)
	l.mu.Unlock()
	if s != nil && msg != "" {
		l.logger.Info(msg, append(args, "last_err", s.text, "repeats", s.repeats)...)
	}
}

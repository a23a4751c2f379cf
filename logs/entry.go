// Package logs keeps log lines: a bounded on-disk store searchable by
// label, level, time range and text; a LogQL subset over it served in
// Loki's HTTP shapes; and a receiver of Loki pushes.
//
// Lines come from the sources and pipeline of collector/logs (and from the
// push receiver through the same pipeline); this package imports neither.
package logs

import (
	"context"

	"github.com/prometheus/prometheus/model/labels"
)

// Level is the severity the pipeline detected in a line.
type Level uint8

// Levels, named as Grafana's detected_level.
const (
	LevelUnknown Level = iota
	LevelTrace
	LevelDebug
	LevelInfo
	LevelWarn
	LevelError
	LevelCritical
	NumLevels
)

var levelNames = [NumLevels]string{"unknown", "trace", "debug", "info", "warn", "error", "critical"}

func (l Level) String() string {
	if l < NumLevels {
		return levelNames[l]
	}
	return "unknown"
}

// LevelLabel is the stream label that carries an entry's level.
const LevelLabel = "level"

// Entry is one log entry (one line, or several joined by the pipeline).
type Entry struct {
	// Labels name the stream, without the level.
	Labels labels.Labels
	Level  Level
	// TS is the entry's time in Unix nanoseconds.
	TS   int64
	Line string
}

// Appender takes processed entries and, in the same transaction, the
// sources' read positions (cursors) that they reach, so a restart resumes
// exactly after the last stored entry. *Store implements it.
type Appender interface {
	Append(ctx context.Context, entries []Entry, cursors map[string]string) error
}

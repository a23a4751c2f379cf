package logs

import (
	"context"
	"math"
	"regexp"
	"slices"
	"time"

	"github.com/prometheus/prometheus/model/labels"
)

// LinesLabels are the alert labels Lines matches stream labels on; the
// others (alertname, severity...) say nothing about where lines come from.
var LinesLabels = []string{"source", "container", "compose_project", "compose_service",
	"swarm_service", "swarm_task", "service", "job", "filename", "level"}

// Max figures of Lines.
const (
	MaxLines      = 20
	MaxLineLength = 500
	linesLookback = 24 * time.Hour
)

// Lines returns the last n (at most MaxLines) lines, oldest first, of the
// streams whose labels equal the alert labels named in LinesLabels, with
// credentials in URLs and token parameters masked. It returns nil when the
// labels name no log stream. Notifications carry these lines.
func (s *Store) Lines(ctx context.Context, alert map[string]string, n int) []string {
	var ms []*labels.Matcher
	for _, name := range LinesLabels {
		if v, ok := alert[name]; ok && v != "" {
			ms = append(ms, labels.MustNewMatcher(labels.MatchEqual, name, v))
		}
	}
	if len(ms) == 0 || n <= 0 {
		return nil
	}
	n = min(n, MaxLines)
	now := s.now()
	hits, err := s.Select(ctx, Selection{
		Matchers: ms, Start: now.Add(-linesLookback).UnixNano(), End: math.MaxInt64, Limit: n,
	}, nil)
	if err != nil {
		s.logger.Warn("log lines for a notification", "err", err)
		return nil
	}
	out := make([]string, 0, len(hits))
	for _, h := range slices.Backward(hits) {
		line := MaskSecrets(h.Line)
		if len(line) > MaxLineLength {
			line = line[:MaxLineLength] + "…"
		}
		out = append(out, line)
	}
	return out
}

var (
	urlUserinfo = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://)[^/\s:@]+:[^/\s@]+@`)
	secretParam = regexp.MustCompile(`(?i)([?&;](?:token|access_token|api_key|apikey|key|password|passwd|secret|sig|signature)=)[^&\s"']+`)
)

// MaskSecrets masks user:password@ in URLs and token-like query parameters.
func MaskSecrets(line string) string {
	line = urlUserinfo.ReplaceAllString(line, "${1}xxxxx:xxxxx@")
	return secretParam.ReplaceAllString(line, "${1}xxxxx")
}

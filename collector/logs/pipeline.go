package logs

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigie-dev/vigie/logs"
)

// Pipeline gives each entry its level, matches it against the patterns
// and counts it. Sources get a *Source once and call Process per entry.
type Pipeline struct {
	m        *Metrics
	patterns atomic.Pointer[[]Pattern]

	mu      sync.Mutex
	sources map[string]*Source
}

// NewPipeline returns a pipeline with the built-in patterns and user's.
func NewPipeline(m *Metrics, user []logs.PatternConfig) (*Pipeline, error) {
	p := &Pipeline{m: m, sources: map[string]*Source{}}
	if err := p.SetPatterns(user); err != nil {
		return nil, err
	}
	return p, nil
}

// SetPatterns replaces the user patterns (on reload); all or nothing.
func (p *Pipeline) SetPatterns(user []logs.PatternConfig) error {
	pats := BuiltinPatterns()
	for i, pc := range user {
		up, err := UserPattern(pc)
		if err != nil {
			return fmt.Errorf("patterns[%d] %s: %w", i, pc.Name, err)
		}
		pats = append(pats, up)
	}
	p.patterns.Store(&pats)
	return nil
}

// Source is the pipeline bound to one source name (the source label).
type Source struct {
	p     *Pipeline
	name  string
	lines [logs.NumLevels]prometheus.Counter
}

// Source returns the processor of the named source.
func (p *Pipeline) Source(name string) *Source {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sources[name]; ok {
		return s
	}
	s := &Source{p: p, name: name}
	for l := range logs.NumLevels {
		s.lines[l] = p.m.lines.WithLabelValues(name, l.String())
	}
	p.sources[name] = s
	return s
}

// Process sets e.Level (unless already set) and counts e.
func (s *Source) Process(e *logs.Entry) {
	if e.Level == logs.LevelUnknown {
		e.Level = DetectLevel(e.Line)
	}
	for _, pat := range *s.p.patterns.Load() {
		reason, ok := pat.Match(e.Line)
		if !ok {
			continue
		}
		s.p.m.matches.WithLabelValues(pat.Name, reason, s.name).Inc()
		if pat.Error && e.Level == logs.LevelUnknown {
			e.Level = logs.LevelError
		}
	}
	s.lines[e.Level].Inc()
}

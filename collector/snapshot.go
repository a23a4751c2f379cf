package collector

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Snapshot is a Gatherer that remembers what it gathered last. The
// collection loop gathers through it every interval; /metrics serves
// Last(), the families of that round, so an external Prometheus scraping
// vigie gets exactly the samples vigie stored, at no extra cost: a scrape
// reads no /proc file, cgroup or database, and several scrapers cost no
// more than one. The samples are at most one collection interval old.
type Snapshot struct {
	g  prometheus.Gatherer
	mu sync.RWMutex
	// families of the last round (never modified once stored: the
	// encoders and the ingester only read them)
	mfs []*dto.MetricFamily
	err error
	ok  bool
}

// NewSnapshot wraps g.
func NewSnapshot(g prometheus.Gatherer) *Snapshot { return &Snapshot{g: g} }

// Gather gathers from the wrapped Gatherer and remembers the result.
func (s *Snapshot) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := s.g.Gather()
	s.mu.Lock()
	s.mfs, s.err, s.ok = mfs, err, true
	s.mu.Unlock()
	return mfs, err
}

// Last is a Gatherer serving the last gathered families; before the first
// round it gathers.
func (s *Snapshot) Last() prometheus.Gatherer {
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		s.mu.RLock()
		mfs, err, ok := s.mfs, s.err, s.ok
		s.mu.RUnlock()
		if !ok {
			return s.Gather()
		}
		return mfs, err
	})
}

package status

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// openIncidentsDesc is vigie_status_incidents_open{impact}.
var openIncidentsDesc = prometheus.NewDesc("vigie_status_incidents_open",
	"Incidents open on the status page, by impact.", []string{"impact"}, nil)

// metricsTimeout bounds the query of one scrape.
const metricsTimeout = 5 * time.Second

// Describe implements prometheus.Collector: the root registers the Page.
func (p *Page) Describe(ch chan<- *prometheus.Desc) { ch <- openIncidentsDesc }

// Collect reports the open incidents; a failed query reports nothing.
func (p *Page) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), metricsTimeout)
	defer cancel()
	counts := map[string]float64{ImpactMinor: 0, ImpactMajor: 0}
	rows, err := p.incidents.db.QueryContext(ctx, `SELECT impact, COUNT(*) FROM status_incidents WHERE resolved_ms IS NULL GROUP BY impact`)
	if err != nil {
		p.logger.Warn("counting open incidents failed", "err", err)
		return
	}
	defer rows.Close()
	for rows.Next() {
		var impact string
		var n float64
		if err := rows.Scan(&impact, &n); err != nil {
			p.logger.Warn("counting open incidents failed", "err", err)
			return
		}
		counts[impact] = n
	}
	if rows.Err() != nil {
		return
	}
	for impact, n := range counts {
		ch <- prometheus.MustNewConstMetric(openIncidentsDesc, prometheus.GaugeValue, n, impact)
	}
}

package status

import (
	"embed"
	"fmt"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/vigie-dev/vigie/uptime"
)

//go:embed assets/status.css assets/page.html
var assets embed.FS

// pageTemplate is parsed once: the templates are part of the binary.
var pageTemplate = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"overallText": overallText,
	"stateText":   stateText,
	"barClass":    barClass,
	"dayTitle":    dayTitle,
	"pct":         pct,
	"chart":       chartSVG,
	"fmtTime":     fmtTime,
	"rfc3339":     func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"join":        strings.Join,
}).ParseFS(assets, "assets/page.html"))

// pageData is the template's input.
type pageData struct {
	*Snapshot
	Base string // the external URL's path, "" at the root
}

func overallText(s string) string {
	switch s {
	case StateOperational:
		return "All systems operational"
	case StateDegraded:
		return "Degraded performance"
	case StatePartialOutage:
		return "Partial outage"
	case StateMajorOutage:
		return "Major outage"
	case StateMaintenance:
		return "Scheduled maintenance in progress"
	}
	return s
}

func stateText(s string) string {
	switch s {
	case StateOperational:
		return "Operational"
	case StateDegraded:
		return "Degraded"
	case StateDown:
		return "Outage"
	case StateMaintenance:
		return "Maintenance"
	}
	return "No data"
}

// barClass colours a day: full uptime green, above 99 % amber, below red.
func barClass(d Day) string {
	switch {
	case d.Uptime < 0:
		return "none"
	case d.Uptime >= 1 && d.Outages == 0 && len(d.Incidents) == 0:
		return "ok"
	case d.Uptime >= 0.99:
		return "minor"
	}
	return "major"
}

// dayTitle is the bar's tooltip (a title attribute: no JavaScript).
func dayTitle(d Day) string {
	t, err := time.Parse(time.DateOnly, d.Date)
	date := d.Date
	if err == nil {
		date = t.Format("Mon 2 Jan 2006")
	}
	if d.Uptime < 0 {
		return date + ": no data"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s uptime", date, pct(d.Uptime))
	switch d.Outages {
	case 0:
	case 1:
		b.WriteString(", 1 outage")
	default:
		fmt.Fprintf(&b, ", %d outages", d.Outages)
	}
	if n := len(d.Incidents); n > 0 {
		fmt.Fprintf(&b, "; incident%s: %s", map[bool]string{true: "s", false: ""}[n > 1], strings.Join(d.Incidents, "; "))
	}
	return b.String()
}

// pct prints a ratio as a percentage with two decimals, never rounding up
// to 100 % (99.999 % shows 99.99 %); "—" without data.
func pct(r float64) string {
	if r < 0 {
		return "—"
	}
	v := math.Floor(r*10000) / 100
	return fmt.Sprintf("%.2f%%", v)
}

func fmtTime(v any) string {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case *time.Time:
		if x == nil {
			return ""
		}
		t = *x
	default:
		return fmt.Sprint(v)
	}
	return t.UTC().Format("2 Jan 2006 15:04 MST")
}

// Chart geometry, in the SVG's own units (it scales to its box).
const (
	chartW = 600.0
	chartH = 100.0
)

// chartSVG draws the last 24 h of response times as a line: a gap in the
// points (no checks) breaks the line. Only numbers go into the markup.
func chartSVG(points []uptime.Point) template.HTML {
	if len(points) == 0 {
		return ""
	}
	start := points[len(points)-1].Time.Add(-24 * time.Hour)
	maxS := 0.0
	for _, pt := range points {
		maxS = max(maxS, pt.Seconds)
	}
	if maxS <= 0 {
		maxS = 0.001
	}
	maxS *= 1.15
	var d strings.Builder
	step := 30 * time.Minute
	for i, pt := range points {
		x := chartW * float64(pt.Time.Sub(start)) / float64(24*time.Hour)
		y := chartH - chartH*pt.Seconds/maxS
		cmd := "L"
		if i == 0 || pt.Time.Sub(points[i-1].Time) > step {
			cmd = "M"
		}
		fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, max(x, 0), y)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg viewBox="0 0 %.0f %.0f" preserveAspectRatio="none" role="img" aria-label="Response time, last 24 hours, up to %s">`,
		chartW, chartH, msText(maxS/1.15))
	fmt.Fprintf(&b, `<line class="axis" x1="0" y1="%.0f" x2="%.0f" y2="%.0f"/>`, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<path class="line" d="%s"/>`, strings.TrimSpace(d.String()))
	b.WriteString(`</svg>`)
	fmt.Fprintf(&b, `<div class="chart-legend"><span>Response time, 24 h</span><span>max %s</span></div>`, msText(maxS/1.15))
	return template.HTML(b.String()) //nolint:gosec // numbers only
}

func msText(seconds float64) string {
	if seconds >= 1 {
		return fmt.Sprintf("%.2f s", seconds)
	}
	return fmt.Sprintf("%.0f ms", seconds*1000)
}

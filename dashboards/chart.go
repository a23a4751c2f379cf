package dashboards

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
)

// Charts are drawn here, on the server, as SVG: a polyline per series,
// a few gridlines and labels. Hand-written rather than with
// github.com/wcharczuk/go-chart/v2 (the one pure-Go SVG chart library the
// module proxy serves): its last release is from 2024, it writes fixed
// colours into style attributes (no dark mode through CSS), and it links
// a TrueType rasteriser to measure text; the whole need here is a
// polyline, which takes fewer lines than adapting it. See docs/ui.md.

// Chart geometry, in SVG user units (the SVG scales to its box).
const (
	chartW, chartH = 600.0, 180.0
	padL, padR     = 66.0, 22.0
	padT, padB     = 8.0, 20.0
	maxSeries      = 12
)

// Chart is what the chart template draws.
type Chart struct {
	Title  string
	Expr   string
	Unit   string
	Lines  []Line
	YTicks []Tick
	XTicks []Tick
	Error  string
	Empty  bool
	// Max is the chart's top value, before formatting.
	Max float64
	W   float64
	H   float64
	// X0 and X1 are the plot's left and right edges.
	X0, X1 float64
}

// Line is one series.
type Line struct {
	Points string // "x,y x,y …"
	Label  string
	Class  string // s0…s7: the colour
	Last   string
}

// Tick is a gridline and its label.
type Tick struct {
	Pos   float64
	Label string
}

// newChart lays out a matrix from start to end.
func newChart(title, expr, unit string, m promql.Matrix, start, end time.Time) Chart {
	c := Chart{Title: title, Expr: expr, Unit: unit, W: chartW, H: chartH, X0: padL, X1: chartW - padR}
	if len(m) == 0 {
		c.Empty = true
		return c
	}
	sort.Slice(m, func(i, j int) bool { return labels.Compare(m[i].Metric, m[j].Metric) < 0 })
	if len(m) > maxSeries {
		m = m[:maxSeries]
	}
	lo, hi := 0.0, math.Inf(-1)
	for _, s := range m {
		for _, p := range s.Floats {
			if !math.IsNaN(p.F) && !math.IsInf(p.F, 0) {
				hi = max(hi, p.F)
				lo = min(lo, p.F)
			}
		}
	}
	if math.IsInf(hi, -1) {
		c.Empty = true
		return c
	}
	if hi <= lo {
		hi = lo + 1
	}
	hi = niceCeil(hi)
	c.Max = hi
	t0, t1 := start.UnixMilli(), end.UnixMilli()
	x := func(t int64) float64 { return padL + (chartW-padL-padR)*float64(t-t0)/float64(max(t1-t0, 1)) }
	y := func(v float64) float64 { return padT + (chartH-padT-padB)*(1-(v-lo)/(hi-lo)) }
	for i, s := range m {
		var b strings.Builder
		for _, p := range s.Floats {
			if math.IsNaN(p.F) || math.IsInf(p.F, 0) {
				continue
			}
			fmt.Fprintf(&b, "%.1f,%.1f ", x(p.T), y(p.F))
		}
		last := ""
		if n := len(s.Floats); n > 0 {
			last = formatValue(s.Floats[n-1].F, unit)
		}
		c.Lines = append(c.Lines, Line{Points: strings.TrimSpace(b.String()), Label: seriesLabel(s.Metric), Class: "s" + strconv.Itoa(i%8), Last: last})
	}
	for i := 0; i <= 4; i++ {
		v := lo + (hi-lo)*float64(i)/4
		c.YTicks = append(c.YTicks, Tick{Pos: y(v), Label: formatValue(v, unit)})
	}
	layout := "15:04"
	if end.Sub(start) > 36*time.Hour {
		layout = "Jan 2"
	}
	for i := 0; i <= 4; i++ {
		t := t0 + (t1-t0)*int64(i)/4
		c.XTicks = append(c.XTicks, Tick{Pos: x(t), Label: time.UnixMilli(t).UTC().Format(layout)})
	}
	return c
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if v <= 0 {
		return v
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

// seriesLabel names a series by its most telling labels.
func seriesLabel(ls labels.Labels) string {
	for _, k := range []string{"name", "service", "state", "mode", "device", "mountpoint", "datname", "instance", "job"} {
		if v := ls.Get(k); v != "" {
			return v
		}
	}
	if ls.Len() == 0 {
		return "value"
	}
	return ls.String()
}

// formatValue prints v in unit: bytes, percent, seconds or plain.
func formatValue(v float64, unit string) string {
	switch unit {
	case "bytes", "bytes/s":
		suffix := ""
		if unit == "bytes/s" {
			suffix = "/s"
		}
		units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
		i := 0
		for math.Abs(v) >= 1024 && i < len(units)-1 {
			v /= 1024
			i++
		}
		return strconv.FormatFloat(v, 'f', decimals(v), 64) + " " + units[i] + suffix
	case "percent":
		return strconv.FormatFloat(v, 'f', decimals(v), 64) + "%"
	case "seconds":
		return strconv.FormatFloat(v, 'f', decimals(v), 64) + "s"
	}
	return strconv.FormatFloat(v, 'g', 4, 64)
}

func decimals(v float64) int {
	switch a := math.Abs(v); {
	case a == 0 || a >= 100:
		return 0
	case a >= 10:
		return 1
	}
	return 2
}

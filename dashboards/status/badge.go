package status

import (
	"encoding/xml"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Badge colours, as shields.io's flat badges use them.
const (
	colorGreen  = "#4c1"
	colorYellow = "#dfb317"
	colorRed    = "#e05d44"
	colorBlue   = "#007ec6"
	colorGrey   = "#9f9f9f"
)

// badgeState is a state badge's text and colour.
func badgeState(state string) (string, string) {
	switch state {
	case StateOperational:
		return "up", colorGreen
	case StateDegraded:
		return "degraded", colorYellow
	case StateDown:
		return "down", colorRed
	case StateMaintenance:
		return "maintenance", colorBlue
	}
	return "no data", colorGrey
}

// badgeUptime is an uptime badge's text and colour.
func badgeUptime(r float64) (string, string) {
	switch {
	case r < 0:
		return "no data", colorGrey
	case r >= 0.999:
		return pct(r), colorGreen
	case r >= 0.99:
		return pct(r), colorYellow
	}
	return pct(r), colorRed
}

// windowOf parses ?window= (24h, 7d, 30d, 90d).
func windowOf(s string) (time.Duration, bool) {
	if s == "" {
		s = "30d"
	}
	for _, w := range Windows {
		if w.Name == s {
			return w.D, true
		}
	}
	return 0, false
}

// badgeSVG draws a flat two-part badge. Text widths are estimated at 7 px
// per character of Verdana 11 px (hand-written: a font metrics library
// would be heavier than the badge; shields.io estimates widths too).
func badgeSVG(label, value, color string) []byte {
	esc := func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	}
	lw := 10 + 7*utf8.RuneCountInString(label)
	vw := 10 + 7*utf8.RuneCountInString(value)
	w := lw + vw
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`+
		`<title>%s: %s</title>`+
		`<linearGradient id="s" x2="0" y2="100%%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>`+
		`<clipPath id="r"><rect width="%d" height="20" rx="3" fill="#fff"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%d" height="20" fill="#555"/><rect x="%d" width="%d" height="20" fill="%s"/><rect width="%d" height="20" fill="url(#s)"/></g>`+
		`<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" font-size="11">`+
		`<text x="%d" y="14">%s</text><text x="%d" y="14">%s</text></g></svg>`,
		w, esc(label), esc(value), esc(label), esc(value),
		w, lw, lw, vw, color, w,
		lw/2, esc(label), lw+vw/2, esc(value))
}

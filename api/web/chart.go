package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
	"time"
)

// chartSeries is one stacked layer of a bar chart: a value per day.
type chartSeries struct {
	Name   string
	Values []int64 // same length as the chart's days
}

// Chart geometry, in SVG user units.
const (
	chartWidth  = 720
	chartHeight = 260
	chartLeft   = 64 // room for the y-axis labels
	chartRight  = 8
	chartTop    = 12
	chartBottom = 28 // room for the x-axis labels
	legendRow   = 20
)

// chartColors are distinguishable on white and for the common colour
// deficiencies (Okabe–Ito); series beyond them repeat the cycle.
var chartColors = []string{"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"}

// stackedBars draws one bar per day, stacked by series, as inline SVG: no
// script and no external resource, so it renders under the pages' CSP and
// without JavaScript. Every bar segment has a <title> with its exact value
// (shown on hover, read by screen readers). Names are escaped here; the
// result is safe to embed.
func stackedBars(days []time.Time, series []chartSeries, unit string) template.HTML {
	var totals = make([]int64, len(days))
	for _, s := range series {
		for i, v := range s.Values {
			totals[i] += v
		}
	}
	var peak int64
	for _, t := range totals {
		peak = max(peak, t)
	}
	top, step := axisScale(peak)
	legendRows := (len(series) + 3) / 4
	height := chartHeight + legendRows*legendRow
	plotW := float64(chartWidth - chartLeft - chartRight)
	plotH := float64(chartHeight - chartTop - chartBottom)
	y := func(v int64) float64 { return chartTop + plotH - plotH*float64(v)/float64(top) }

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 %d %d" width="100%%" class="chart">`, chartWidth, height)
	fmt.Fprintf(&b, `<title>%s per day</title>`, html.EscapeString(unit))
	// Horizontal grid lines with their values.
	for v := int64(0); v <= top; v += step {
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/>`, chartLeft, chartWidth-chartRight, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#555">%s</text>`, chartLeft-6, y(v)+4, compact(v))
	}
	if len(days) > 0 {
		slot := plotW / float64(len(days))
		barW := slot * 0.75
		for i, day := range days {
			x := chartLeft + slot*float64(i) + (slot-barW)/2
			var base int64
			for si, s := range series {
				v := s.Values[i]
				if v == 0 {
					continue
				}
				fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" data-day="%s" data-series="%s" data-value="%d"><title>%s, %s: %d %s</title></rect>`,
					x, y(base+v), barW, y(base)-y(base+v), chartColors[si%len(chartColors)],
					day.Format(time.DateOnly), html.EscapeString(s.Name), v,
					html.EscapeString(s.Name), day.Format("2 Jan"), v, html.EscapeString(unit))
				base += v
			}
			// A label on the first day and every fifth, so they never overlap.
			if i == 0 || (i+1)%5 == 0 {
				fmt.Fprintf(&b, `<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#555">%s</text>`,
					x+barW/2, chartHeight-chartBottom+16, day.Format("2 Jan"))
			}
		}
	}
	for si, s := range series {
		lx := chartLeft + (si%4)*((chartWidth-chartLeft)/4)
		ly := chartHeight + (si/4)*legendRow
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d" font-size="12">%s</text>`,
			lx, ly, chartColors[si%len(chartColors)], lx+16, ly+10, html.EscapeString(truncate(s.Name, 28)))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) // every interpolated name is escaped above
}

// axisScale picks the axis top and a step of 1, 2 or 5 × 10ⁿ so that the
// axis has at most five steps and the peak fits.
func axisScale(peak int64) (top, step int64) {
	if peak <= 0 {
		return 1, 1
	}
	for magnitude := int64(1); ; magnitude *= 10 {
		for _, m := range []int64{1, 2, 5} {
			step = m * magnitude
			if step*5 >= peak {
				top = (peak + step - 1) / step * step
				return top, step
			}
		}
	}
}

// compact writes 1200 as 1.2k and 3500000 as 3.5M for axis labels.
func compact(v int64) string {
	switch {
	case v >= 1_000_000:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(v)/1e6), ".0") + "M"
	case v >= 1_000:
		return strings.TrimSuffix(fmt.Sprintf("%.1f", float64(v)/1e3), ".0") + "k"
	}
	return fmt.Sprint(v)
}

func truncate(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

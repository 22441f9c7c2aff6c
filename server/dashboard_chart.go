package server

import (
	"bytes"
	"fmt"
	"html"
	"time"

	"github.com/x402-mcp/x402-mcp/payments"
)

// Chart geometry, in SVG user units (the image scales to its box).
const (
	chartW, chartH                = 480, 200
	chartLeft, chartRight         = 8, 8
	chartTop, chartBottom         = 28, 28
	chartPlotW                    = chartW - chartLeft - chartRight
	chartPlotH                    = chartH - chartTop - chartBottom
	chartFont                     = `font-family="system-ui, sans-serif" font-size="15"`
	chartTicks                    = 3 // time labels under the bars, besides the first
	chartGap              float64 = 0.15
)

// renderChart draws a chart's bars, stacked per bucket in legend order, as
// SVG: no script, no style sheet, every text escaped. The scale's top is the
// tallest bar, written exactly in the chart's asset; the floats only place
// the bars.
func renderChart(c SpendChart, win dashWindow) []byte {
	var b bytes.Buffer
	cur := currencyOf(c.cur)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" role="img">`, chartW, chartH, chartW, chartH)
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(fmt.Sprintf("Counted %s in %s, a bar per %s", c.Title, cur.Symbol, win.per)))
	buckets := c.buckets
	// The tallest bar, exactly, then as a float for drawing.
	var top payments.Amount
	for _, bk := range buckets {
		var t payments.Amount
		for _, v := range bk.counts {
			t += v
		}
		top = max(top, t)
	}
	fmt.Fprintf(&b, `<text x="%d" y="18" fill="#6b7280" %s>max %s per bar</text>`, chartLeft, chartFont, html.EscapeString(cur.Format(top)))
	base := chartTop + chartPlotH
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#9ca3af" stroke-width="1"/>`, chartLeft, base, chartLeft+chartPlotW, base)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#e5e7eb" stroke-width="1" stroke-dasharray="4 4"/>`, chartLeft, chartTop, chartLeft+chartPlotW, chartTop)
	n := len(buckets)
	slot := float64(chartPlotW) / float64(max(n, 1))
	barW := slot * (1 - chartGap)
	topF := toFloat(top)
	for i, bk := range buckets {
		x := float64(chartLeft) + float64(i)*slot + slot*chartGap/2
		y := float64(base)
		for k, v := range bk.counts {
			if v == 0 || topF == 0 {
				continue
			}
			h := toFloat(v) / topF * chartPlotH
			y -= h
			color, label := otherColor, "other"
			if k < len(c.Keys) {
				color, label = c.Keys[k].Color, c.Keys[k].Label
			}
			fmt.Fprintf(&b, `<rect x="%.2f" y="%.2f" width="%.2f" height="%.2f" fill="%s"><title>%s</title></rect>`,
				x, y, barW, h, color, html.EscapeString(fmt.Sprintf("%s, %s: %s", bk.start.UTC().Format("2006-01-02 15:04 UTC"), label, cur.Format(v))))
		}
	}
	// Time labels: the first bar, a few between, and the last.
	layout := "15:04"
	if win.bucket >= 24*time.Hour {
		layout = "Jan 2"
	} else if win.span > 24*time.Hour {
		layout = "Jan 2 15h"
	}
	for t := 0; t <= chartTicks && n > 0; t++ {
		i := t * (n - 1) / chartTicks
		x := float64(chartLeft) + (float64(i)+0.5)*slot
		anchor := "middle"
		switch t {
		case 0:
			anchor, x = "start", float64(chartLeft)
		case chartTicks:
			anchor, x = "end", float64(chartLeft+chartPlotW)
		}
		fmt.Fprintf(&b, `<text x="%.2f" y="%d" fill="#6b7280" text-anchor="%s" %s>%s</text>`, x, base+18, anchor, chartFont,
			html.EscapeString(buckets[i].start.UTC().Format(layout)))
	}
	b.WriteString(`</svg>`)
	return b.Bytes()
}

// toFloat is an amount as a float, for drawing only.
func toFloat(a payments.Amount) float64 { return float64(a) }

package web

import (
	"fmt"
	"strconv"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
)

// The chart's drawing area, in SVG user units; the SVG scales to the
// page's width.
const (
	chartWidth  = 640
	chartHeight = 240
	chartLeft   = 100 // room for the cost axis
	chartBottom = 28  // room for the time axis
	chartTop    = 10
	// chartKeys is how many keys get their own colour; the rest are
	// drawn together as "others".
	chartKeys = 8
	// A chart has room for at least this many hourly or daily bars, the
	// latest at the right, so a short history is a few narrow bars.
	minHourSlots = 24
	minDaySlots  = 14
)

// palette holds distinguishable colours, one per key, then the others'.
var palette = [chartKeys + 1]string{"#4a74d9", "#e0803a", "#3aa876", "#c24d7c", "#8a63d2", "#c9a227", "#2aa6b8", "#7d8597", "#b0b6c3"}

// othersKey names the keys beyond chartKeys in the legend.
const othersKey = "others"

// chart is a stacked bar chart of a cost series, ready to draw.
type chart struct {
	Label  string
	Width  int
	Height int
	Bars   []rect
	Ticks  []tick // the cost axis
	Times  []tick // the time axis
	Legend []legendEntry
	// PlotLeft, PlotRight and PlotBottom frame the bars.
	PlotLeft, PlotRight, PlotBottom int
	Step                            string
	Total                           string
}

type rect struct {
	X, Y, W, H string
	Fill       string
	Title      string
}

type tick struct {
	Pos    string
	Label  string
	Anchor string
}

type legendEntry struct {
	Key  string
	Fill string
	Cost string
}

// keyLabel is how a series key is shown: usage with no cluster is a
// schedule's worker.
func keyLabel(by, k string) string {
	if k == "" && by == "cluster" {
		return "(schedule workers)"
	}
	return k
}

func num(f float64) string { return strconv.FormatFloat(f, 'f', 2, 64) }

// newChart lays out s: a bar per bucket, stacked by key in legend order,
// heights in proportion to the exact micro-dollar sums (the tallest
// bucket fills the plot).
func newChart(label string, s cost.Series) chart {
	c := chart{Label: label, Width: chartWidth, Height: chartHeight, PlotLeft: chartLeft, PlotRight: chartWidth - 4,
		PlotBottom: chartHeight - chartBottom, Total: s.Total.String(), Step: "day"}
	if s.Step < 24*time.Hour {
		c.Step = "hour"
	}
	fill := map[string]string{}
	var others cost.Micros
	for i, k := range s.Keys {
		if i < chartKeys {
			fill[k] = palette[i]
			c.Legend = append(c.Legend, legendEntry{Key: keyLabel(s.By, k), Fill: palette[i], Cost: s.Totals[k].String()})
		} else {
			others += s.Totals[k]
		}
	}
	if len(s.Keys) > chartKeys {
		c.Legend = append(c.Legend, legendEntry{Key: othersKey, Fill: palette[chartKeys], Cost: others.String()})
	}
	var top cost.Micros
	for _, b := range s.Buckets {
		top = max(top, b.Total)
	}
	plotH := float64(c.PlotBottom - chartTop)
	plotW := float64(c.PlotRight - c.PlotLeft)
	n := len(s.Buckets)
	slots := max(n, minDaySlots)
	if c.Step == "hour" {
		slots = max(n, minHourSlots)
	}
	slot := plotW / float64(slots)
	gap := min(slot*0.2, 4)
	// left is where bucket i's slot starts.
	left := func(i int) float64 { return float64(c.PlotLeft) + slot*float64(slots-n+i) }
	y := func(m cost.Micros) float64 {
		if top == 0 {
			return float64(c.PlotBottom)
		}
		return float64(c.PlotBottom) - plotH*float64(m)/float64(top)
	}
	format := "Jan 2"
	if c.Step == "hour" {
		format = "Jan 2 15:04"
	}
	for i, b := range s.Buckets {
		x := left(i) + gap/2
		var cum cost.Micros
		draw := func(key string, m cost.Micros, fillColour string) {
			if m == 0 {
				return
			}
			lo, hi := y(cum), y(cum+m)
			cum += m
			c.Bars = append(c.Bars, rect{X: num(x), Y: num(hi), W: num(slot - gap), H: num(lo - hi), Fill: fillColour,
				Title: fmt.Sprintf("%s, %s UTC: $%s", key, b.Start.Truncate(s.Step).Format(format), m)})
		}
		var rest cost.Micros
		for _, k := range s.Keys {
			if f, ok := fill[k]; ok {
				draw(keyLabel(s.By, k), b.Cost[k], f)
			} else {
				rest += b.Cost[k]
			}
		}
		draw(othersKey, rest, palette[chartKeys])
	}
	c.Ticks = []tick{{Pos: num(y(0)), Label: "$0"}}
	if top > 0 {
		c.Ticks = append(c.Ticks, tick{Pos: num(y(top / 2)), Label: "$" + (top / 2).String()}, tick{Pos: num(y(top)), Label: "$" + top.String()})
	}
	// The time axis: the first bucket, the middle one and the last, each
	// under its bar.
	timeTick := func(i int, anchor string) tick {
		pos := left(i) + slot/2
		switch anchor {
		case "start":
			pos = left(i)
		case "end":
			pos = left(i) + slot
		}
		return tick{Pos: num(pos), Label: s.Buckets[i].Start.Truncate(s.Step).Format(format), Anchor: anchor}
	}
	switch {
	case n == 1:
		c.Times = append(c.Times, timeTick(0, "end"))
	case n > 1:
		c.Times = append(c.Times, timeTick(0, "start"))
		if n > 4 {
			c.Times = append(c.Times, timeTick(n/2, "middle"))
		}
		c.Times = append(c.Times, timeTick(n-1, "end"))
	}
	return c
}

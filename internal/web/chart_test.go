package web

import (
	"strconv"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
)

// The bars stack by key in legend order; the tallest bucket fills the
// plot and the others are in proportion to their exact sums; keys beyond
// chartKeys are drawn together as others.
func TestNewChart_StacksAndScales(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	s := cost.Series{By: "cluster", Since: t0, Until: t0.Add(2 * time.Hour), Step: time.Hour,
		Totals: map[string]cost.Micros{}, Buckets: []cost.Bucket{
			{Start: t0, End: t0.Add(time.Hour), Cost: map[string]cost.Micros{}},
			{Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour), Cost: map[string]cost.Micros{}},
		}}
	// k0 costs most; k0..k9: ten keys, two beyond the palette.
	for i := range 10 {
		k := "k" + strconv.Itoa(i)
		s.Keys = append(s.Keys, k)
		s.Buckets[0].Cost[k] = cost.Micros(1000 * (10 - i))
		s.Buckets[0].Total += s.Buckets[0].Cost[k]
		s.Totals[k] = s.Buckets[0].Cost[k]
		s.Total += s.Totals[k]
	}
	s.Buckets[1].Cost["k0"] = s.Buckets[0].Total / 4
	s.Buckets[1].Total = s.Buckets[0].Total / 4
	s.Totals["k0"] += s.Buckets[1].Total
	s.Total += s.Buckets[1].Total

	c := newChart("by cluster", s)
	if len(c.Legend) != chartKeys+1 || c.Legend[0].Key != "k0" || c.Legend[chartKeys].Key != othersKey || c.Legend[chartKeys].Cost != (cost.Micros(2000)+1000).String() {
		t.Errorf("legend %+v, want k0..k7 and others at $0.003", c.Legend)
	}
	// Bucket 0: 9 rects (8 keys + others), bucket 1: one.
	if len(c.Bars) != 10 {
		t.Fatalf("%d bars, want 10", len(c.Bars))
	}
	f := func(s string) float64 {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	bottom, plotH := float64(c.PlotBottom), float64(c.PlotBottom-chartTop)
	if y := f(c.Bars[0].Y) + f(c.Bars[0].H); y != bottom {
		t.Errorf("first key's bar ends at %v, want the bottom %v", y, bottom)
	}
	if top := f(c.Bars[8].Y); top != chartTop {
		t.Errorf("the tallest stack reaches %v, want the plot's top %d", top, chartTop)
	}
	for i := 1; i < 9; i++ {
		if prev, cur := f(c.Bars[i-1].Y), f(c.Bars[i].Y)+f(c.Bars[i].H); abs(prev-cur) > 0.011 {
			t.Errorf("bar %d does not sit on bar %d: %v vs %v", i, i-1, cur, prev)
		}
	}
	if h := f(c.Bars[9].H); abs(h-plotH/4) > 0.011 {
		t.Errorf("second bucket's height %v, want a quarter of %v", h, plotH)
	}
	if c.Bars[8].Fill != palette[chartKeys] || c.Bars[9].Fill != palette[0] {
		t.Errorf("fills %s, %s: want the others' colour and k0's", c.Bars[8].Fill, c.Bars[9].Fill)
	}
	if c.Step != "hour" || len(c.Times) != 2 || c.Times[0].Label != "May 1 00:00" {
		t.Errorf("step %s, times %+v", c.Step, c.Times)
	}
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

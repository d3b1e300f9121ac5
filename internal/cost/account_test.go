package cost

import (
	"testing"
	"time"
)

var h0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

// Bills computed by hand for both billing models.
func TestPeriod_AccruedAt(t *testing.T) {
	c5 := Micros(85000) // c5.large $0.085/h
	tests := []struct {
		name string
		p    Period
		at   time.Time
		b    Billing
		want Accrued
	}{
		{
			name: "per second: closed 2h15m period",
			p:    Period{Running: true, Start: h0, End: h0.Add(135 * time.Minute), PriceMicros: c5},
			at:   h0.Add(10 * time.Hour), b: PerSecond,
			// 85000 × 2.25 = 191250
			want: Accrued{Cost: 191250, Running: 135 * time.Minute, Billed: 135 * time.Minute},
		},
		{
			name: "per hour: the same period bills 3 hours",
			p:    Period{Running: true, Start: h0, End: h0.Add(135 * time.Minute), PriceMicros: c5},
			at:   h0.Add(10 * time.Hour), b: PerHour,
			want: Accrued{Cost: 255000, Running: 135 * time.Minute, Billed: 3 * time.Hour},
		},
		{
			name: "per second: open period, 30 s in, owes the minute",
			p:    Period{Running: true, Start: h0, PriceMicros: c5},
			at:   h0.Add(30 * time.Second), b: PerSecond,
			// 85000 / 60 = 1416.67 → 1417
			want: Accrued{Cost: 1417, Running: 30 * time.Second, Billed: time.Minute},
		},
		{
			name: "stopped: disk only",
			p:    Period{Running: false, Start: h0, End: h0.Add(24 * time.Hour), VolumeGB: 30},
			at:   h0.Add(48 * time.Hour), b: PerSecond,
			// 30 GB × 80000 / 30 days = 80000 per day
			want: Accrued{Cost: 80000, Stopped: 24 * time.Hour},
		},
		{
			name: "not started yet",
			p:    Period{Running: true, Start: h0, PriceMicros: c5},
			at:   h0.Add(-time.Hour), b: PerSecond,
			want: Accrued{},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.p.AccruedAt(tc.at, tc.b, 80000); got != tc.want {
				t.Errorf("AccruedAt = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPeriod_BetweenSplitsExactly(t *testing.T) {
	p := Period{Running: true, Start: h0, End: h0.Add(150 * time.Minute), PriceMicros: 133000}
	for _, b := range []Billing{PerSecond, PerHour} {
		whole := p.AccruedAt(h0.Add(5*time.Hour), b, 80000)
		mid := h0.Add(70 * time.Minute)
		first := p.Between(h0, mid, b, 80000)
		second := p.Between(mid, h0.Add(5*time.Hour), b, 80000)
		if first.Cost+second.Cost != whole.Cost {
			t.Errorf("%s: %d + %d != %d", b.Name, first.Cost, second.Cost, whole.Cost)
		}
	}
	// Per hour: by 70 minutes in, two started hours are owed.
	if got := p.Between(h0, h0.Add(70*time.Minute), PerHour, 0).Cost; got != 266000 {
		t.Errorf("per hour, first 70 min = %d, want 266000", got)
	}
}

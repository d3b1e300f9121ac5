package schedule

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/store"
)

func day(h, m int) time.Time { return time.Date(2030, 1, 1, h, m, 0, 0, time.UTC) }

func mustCron(t *testing.T, expr, tz string) Cron {
	t.Helper()
	loc, err := ParseTimezone(tz)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseCron(expr, loc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPlan(t *testing.T) {
	sixHourly := mustCron(t, "30 0,6,12,18 * * *", "UTC")
	regions := []string{"r1", "r2", "r3"}
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{
			name: "NothingDueBeforeTheFirstTick",
			in:   Input{Since: day(0, 0), Now: day(0, 29)},
			want: Decision{Since: day(0, 0), Next: day(0, 30)},
		},
		{
			name: "TickOnTimeStartsARun",
			in:   Input{Since: day(0, 0), Now: day(0, 30)},
			want: Decision{Since: day(0, 30), Next: day(6, 30),
				Run: &Start{Tick: day(0, 30), Trigger: store.TriggerTick, Region: "r1", NextRegion: 1}},
		},
		{
			name: "TickSeenWithinGraceIsOnTime",
			in:   Input{Since: day(0, 0), Now: day(0, 31), NextRegion: 2},
			want: Decision{Since: day(0, 30), Next: day(6, 30),
				Run: &Start{Tick: day(0, 30), Trigger: store.TriggerTick, Region: "r3", NextRegion: 0}},
		},
		{
			name: "TickDealtWithIsNotDueAgain",
			in:   Input{Since: day(0, 30), Now: day(0, 45)},
			want: Decision{Since: day(0, 30), Next: day(6, 30)},
		},
		{
			name: "TickWhileARunGoesIsSkipped",
			in:   Input{Since: day(0, 30), Now: day(6, 30), Busy: true},
			want: Decision{Since: day(6, 30), Next: day(12, 30), Skipped: []time.Time{day(6, 30)}},
		},
		{
			name: "TicksMissedWhileDownMakeOneCatchUpRun",
			in:   Input{Since: day(0, 30), Now: day(13, 0), NextRegion: 1},
			want: Decision{Since: day(12, 30), Next: day(18, 30), Missed: []time.Time{day(6, 30), day(12, 30)},
				Run: &Start{Tick: day(12, 30), Trigger: store.TriggerCatchUp, Region: "r2", NextRegion: 2}},
		},
		{
			name: "MissedTicksAndOneOnTimeRunOnTimeWithoutCatchUp",
			in:   Input{Since: day(0, 30), Now: day(12, 30)},
			want: Decision{Since: day(12, 30), Next: day(18, 30), Missed: []time.Time{day(6, 30)},
				Run: &Start{Tick: day(12, 30), Trigger: store.TriggerTick, Region: "r1", NextRegion: 1}},
		},
		{
			name: "MissedWhileBusyAreMissedNotRun",
			in:   Input{Since: day(0, 30), Now: day(13, 0), Busy: true},
			want: Decision{Since: day(12, 30), Next: day(18, 30), Missed: []time.Time{day(6, 30), day(12, 30)}},
		},
		{
			name: "ManyMissedAreListedUpToTheBoundAndCounted",
			in:   Input{Since: day(0, 30), Now: day(0, 30).Add(10*24*time.Hour + time.Hour), MaxListed: 3},
			want: Decision{
				Since: day(0, 30).Add(10 * 24 * time.Hour), Next: day(6, 30).Add(10 * 24 * time.Hour),
				Missed: []time.Time{
					day(12, 30).Add(9 * 24 * time.Hour), day(18, 30).Add(9 * 24 * time.Hour), day(0, 30).Add(10 * 24 * time.Hour),
				},
				// 40 ticks in (Since, Now]: the 3 latest listed, 37 counted.
				Unlisted: 37,
				Run:      &Start{Tick: day(0, 30).Add(10 * 24 * time.Hour), Trigger: store.TriggerCatchUp, Region: "r1", NextRegion: 1},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := tc.in
			in.Cron = sixHourly
			in.Regions = regions
			in.Grace = time.Minute
			if in.MaxListed == 0 {
				in.MaxListed = 10
			}
			got := Plan(in)
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("Plan (-want +got):\n%s", d)
			}
		})
	}
}

// TestPlan_RotatesThroughRegionsOnAFakeClock drives Plan through a day of
// ticks as the controller would, on a fake clock: each run takes the next
// region, a tick while a run goes is skipped and does not use up a turn.
func TestPlan_RotatesThroughRegionsOnAFakeClock(t *testing.T) {
	c := mustCron(t, "30 0,6,12,18 * * *", "UTC")
	clk := clock.NewFake(day(0, 0))
	since, next := day(0, 0), 0
	regions := []string{"r1", "r2"}
	busyAt := map[time.Time]bool{day(12, 30): true}
	var got []string
	for i := 0; i < 12*36; i++ { // a day and a half in 5-minute passes
		clk.Advance(5 * time.Minute)
		d := Plan(Input{Cron: c, Since: since, Now: clk.Now(), Busy: busyAt[clk.Now()], Grace: time.Minute, Regions: regions, NextRegion: next, MaxListed: 10})
		if len(d.Missed) > 0 {
			t.Fatalf("at %v: missed %v with a pass every 5 minutes", clk.Now(), d.Missed)
		}
		for range d.Skipped {
			got = append(got, "skip")
		}
		if d.Run != nil {
			got = append(got, d.Run.Region)
			next = d.Run.NextRegion
		}
		since = d.Since
	}
	want := []string{"r1", "r2", "skip", "r1", "r2", "r1"}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("runs (-want +got):\n%s", d)
	}
}

func TestPlan_TimezoneAndDST(t *testing.T) {
	// 02:30 every day in Paris: on the day clocks go forward (2030-03-31)
	// 02:30 does not exist, and the tick is the next day's.
	c := mustCron(t, "30 2 * * *", "Europe/Paris")
	paris, _ := time.LoadLocation("Europe/Paris")
	d := Plan(Input{Cron: c, Since: time.Date(2030, 1, 1, 0, 0, 0, 0, paris), Now: time.Date(2030, 1, 1, 2, 30, 0, 0, paris), Grace: time.Minute, Regions: []string{"r"}})
	if d.Run == nil || !d.Run.Tick.Equal(time.Date(2030, 1, 1, 1, 30, 0, 0, time.UTC)) {
		t.Errorf("run = %+v, want the tick at 01:30 UTC (02:30 in Paris)", d.Run)
	}
	next := c.Next(time.Date(2030, 3, 30, 3, 0, 0, 0, paris))
	if want := time.Date(2030, 4, 1, 2, 30, 0, 0, paris); !next.Equal(want) {
		t.Errorf("tick after 30 March 03:00 = %v, want %v (31 March 02:30 does not exist)", next, want)
	}
}

func TestRegionFor(t *testing.T) {
	for _, tc := range []struct {
		next       int
		want       string
		wantNextAt int
	}{{0, "a", 1}, {1, "b", 2}, {2, "c", 0}, {5, "c", 0}, {-1, "c", 0}} {
		got, n := RegionFor([]string{"a", "b", "c"}, tc.next)
		if got != tc.want || n != tc.wantNextAt {
			t.Errorf("RegionFor(%d) = %s, %d; want %s, %d", tc.next, got, n, tc.want, tc.wantNextAt)
		}
	}
	if got, _ := RegionFor(nil, 3); got != "" {
		t.Errorf("RegionFor(nil) = %q, want empty", got)
	}
}

package schedule

import (
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// Input is what Plan decides from, for one schedule.
type Input struct {
	Cron Cron
	// Since is the latest tick already dealt with (or, before the first,
	// when the schedule was created): only later ticks are due.
	Since time.Time
	Now   time.Time
	// Busy is set while a run of the schedule is pending or running.
	Busy bool
	// Grace is how late a tick may be seen and still be on time; a tick
	// seen later passed while no controller looked (the control plane
	// was down, or the clock jumped) and is missed.
	Grace time.Duration
	// Regions are the schedule's regions, taken in turn from NextRegion.
	Regions    []string
	NextRegion int
	// MaxListed bounds the missed ticks listed one by one; earlier ones
	// are only counted.
	MaxListed int
}

// Decision is what to do for one schedule now.
type Decision struct {
	// Run is the run to start now, if any.
	Run *Start
	// Skipped are ticks that came on time while a run was going.
	Skipped []time.Time
	// Missed are ticks that passed unseen (the latest MaxListed of them);
	// Unlisted counts the earlier ones.
	Missed   []time.Time
	Unlisted int
	// Since is the schedule's new latest tick dealt with.
	Since time.Time
	// Next is the first tick after Now (zero if there is none).
	Next time.Time
}

// Start is a run to start.
type Start struct {
	// Tick is the tick the run is for; Trigger is store.TriggerTick for a
	// tick on time, store.TriggerCatchUp for the one run made for ticks
	// missed.
	Tick    time.Time
	Trigger string
	// Region is where it runs; NextRegion is the schedule's next index
	// after it.
	Region     string
	NextRegion int
}

// maxTicks bounds how many ticks Plan walks through: a year and more of a
// minutely schedule. Ticks beyond it are counted as unlisted.
const maxTicks = 1 << 20

// Plan decides what to do for a schedule at in.Now: which ticks are due
// since in.Since, whether they are on time, skipped (a run is going) or
// missed, and whether to start a run — for the tick on time, or one
// catch-up run for ticks missed. It is a pure function of its input.
func Plan(in Input) Decision {
	d := Decision{Since: in.Since}
	keep := max(in.MaxListed, 0) + 1
	var due []time.Time // the latest keep due ticks
	count := 0
	t := in.Cron.Next(in.Since)
	for !t.IsZero() && !t.After(in.Now) {
		count++
		due = append(due, t)
		if len(due) > keep {
			due = due[1:]
		}
		if count >= maxTicks {
			t = in.Cron.Next(in.Now)
			count++ // at least one more was passed over
			break
		}
		t = in.Cron.Next(t)
	}
	d.Next = t
	if count == 0 {
		return d
	}
	latest := due[len(due)-1]
	d.Since = latest
	onTime := in.Now.Sub(latest) <= in.Grace
	late := due[:len(due)-1]
	if !onTime {
		late = due
	}
	if len(late) > in.MaxListed {
		late = late[len(late)-max(in.MaxListed, 0):]
	}
	d.Missed = append([]time.Time(nil), late...)
	d.Unlisted = count - len(d.Missed)
	if onTime {
		d.Unlisted--
	}
	if in.Busy {
		if onTime {
			d.Skipped = []time.Time{latest}
		}
		return d
	}
	trigger := store.TriggerTick
	if !onTime {
		trigger = store.TriggerCatchUp
	}
	region, next := RegionFor(in.Regions, in.NextRegion)
	d.Run = &Start{Tick: latest, Trigger: trigger, Region: region, NextRegion: next}
	return d
}

// RegionFor returns the region a run takes from regions at index next (in
// turn, wrapping around) and the index after it.
func RegionFor(regions []string, next int) (string, int) {
	if len(regions) == 0 {
		return "", 0
	}
	i := next % len(regions)
	if i < 0 {
		i += len(regions)
	}
	return regions[i], (i + 1) % len(regions)
}

package cost

import (
	"fmt"
	"time"
)

// Billing is a provider's billing model for running instances: each run
// (from a start of the instance to its stop or termination) is billed in
// whole Units, and at least Minimum. A run split into several usage
// periods, as a spot price change splits it, owes the minimum once
// (Period.RunStart, RunStarts).
type Billing struct {
	// Name is "second" or "hour".
	Name    string        `json:"name"`
	Unit    time.Duration `json:"unit"`
	Minimum time.Duration `json:"minimum"`
}

// The billing models stratus knows.
var (
	// PerSecond is AWS's model for Linux on-demand and spot instances:
	// per second, with a minimum of 60 seconds each time the instance
	// starts.
	PerSecond = Billing{Name: "second", Unit: time.Second, Minimum: time.Minute}
	// PerHour bills every started hour in full.
	PerHour = Billing{Name: "hour", Unit: time.Hour, Minimum: time.Hour}
)

// ParseBilling returns the model called name ("second" or "hour").
func ParseBilling(name string) (Billing, error) {
	switch name {
	case "second", "per-second":
		return PerSecond, nil
	case "hour", "per-hour":
		return PerHour, nil
	}
	return Billing{}, fmt.Errorf("unknown billing model %q: use second or hour", name)
}

// Billed returns the billed length of a run that lasted d:
// d rounded up to whole units, and at least the minimum.
func (b Billing) Billed(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	unit := b.Unit
	if unit <= 0 {
		unit = time.Nanosecond
	}
	billed := (d + unit - 1) / unit * unit
	return max(billed, b.Minimum)
}

// PaidUntil returns when the time already paid for, by a run
// that started at start, runs out if the instance keeps running at now:
// the end of the current unit, or of the minimum.
func (b Billing) PaidUntil(start, now time.Time) time.Time {
	return start.Add(b.Billed(max(now.Sub(start), time.Nanosecond)))
}

// Charge returns the cost of a run of length d at an hourly
// price, billed by this model: exact to the micro-dollar, rounded half up.
func (b Billing) Charge(hourly Micros, d time.Duration) Micros {
	return prorate(int64(hourly), b.Billed(d), time.Hour)
}

// StorageCharge returns the cost of gb gigabytes of disk kept for d at a
// monthly price per GB (a month is 30 days), billed per second, rounded
// half up to the micro-dollar.
func StorageCharge(gb int, perGBMonth Micros, d time.Duration) Micros {
	if d <= 0 || gb <= 0 {
		return 0
	}
	return prorate(int64(gb)*int64(perGBMonth), d.Truncate(time.Second), 30*24*time.Hour)
}

// prorate returns amount × d / per, rounded half up, without overflow for
// any amount and duration stratus handles (it splits d into whole pers and
// the rest).
func prorate(amount int64, d, per time.Duration) Micros {
	if d <= 0 || amount == 0 {
		return 0
	}
	whole := int64(d / per)
	rest := int64(d % per)
	// amount × rest / per, rounded half up; rest < per, and both are
	// nanoseconds, so work in seconds to keep the product in range.
	restSec := rest / int64(time.Second)
	perSec := int64(per / time.Second)
	frac := (amount*restSec*2 + perSec) / (2 * perSec)
	return Micros(amount*whole + frac)
}

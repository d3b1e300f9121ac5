package cost

import "time"

// Period is one billing period of an instance: running (billed by its
// hourly price and the billing model) or stopped (its disk billed by the
// storage price), from Start to End (zero End: still open).
type Period struct {
	Running     bool
	Start, End  time.Time
	PriceMicros Micros // hourly price while running
	VolumeGB    int
}

// Accrued is what periods cost up to a time.
type Accrued struct {
	Cost    Micros
	Running time.Duration
	Billed  time.Duration
	Stopped time.Duration
}

// Add adds b to a.
func (a *Accrued) Add(b Accrued) {
	a.Cost += b.Cost
	a.Running += b.Running
	a.Billed += b.Billed
	a.Stopped += b.Stopped
}

// Sub returns a minus b.
func (a Accrued) Sub(b Accrued) Accrued {
	return Accrued{Cost: a.Cost - b.Cost, Running: a.Running - b.Running, Billed: a.Billed - b.Billed, Stopped: a.Stopped - b.Stopped}
}

// AccruedAt returns what p has cost by time t under billing b with disks at
// storage per GB-month. A running period is charged by the model as soon as
// a unit starts (a started hour is owed in full; the 60-second minimum is
// owed at once), so the cost within a window [s, u) is AccruedAt(u) minus
// AccruedAt(s), exact to the micro-dollar.
func (p Period) AccruedAt(t time.Time, b Billing, storage Micros) Accrued {
	end := p.End
	if end.IsZero() || end.After(t) {
		end = t
	}
	d := end.Sub(p.Start)
	if d <= 0 {
		return Accrued{}
	}
	if !p.Running {
		return Accrued{Cost: StorageCharge(p.VolumeGB, storage, d), Stopped: d}
	}
	return Accrued{Cost: b.Charge(p.PriceMicros, d), Running: d, Billed: b.Billed(d)}
}

// Between returns what p cost in the window [since, until).
func (p Period) Between(since, until time.Time, b Billing, storage Micros) Accrued {
	return p.AccruedAt(until, b, storage).Sub(p.AccruedAt(since, b, storage))
}

package cost

import (
	"sort"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// Period is one billing period of an instance: running (billed by its
// hourly price and the billing model) or stopped (its disk billed by the
// storage price), from Start to End (zero End: still open).
//
// A running instance whose price changes (a spot market price) has one
// running period per price, each starting where the previous one ended;
// together they are one run. RunStart, set on the periods after the first,
// is when that run began: the billing model applies to the run as a whole
// (one minimum, units counted from the run's start), and each period pays
// its own price for the billed time that falls in it.
type Period struct {
	Running     bool
	Start, End  time.Time
	PriceMicros Micros // hourly price while running
	VolumeGB    int
	// RunStart is when the run this running period continues began; zero
	// (or not before Start): the run begins with this period.
	RunStart time.Time
	// Billing, if set (a non-zero Unit), is the model this period is
	// billed by whatever model the caller passes: the one in force when it
	// was recorded.
	Billing Billing
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

// AccruedAt returns what p has cost by time t under billing b (unless p
// carries its own) with disks at storage per GB-month. A running period is charged by the model as soon as
// a unit starts (a started hour is owed in full; the 60-second minimum is
// owed at once), so the cost within a window [s, u) is AccruedAt(u) minus
// AccruedAt(s), exact to the micro-dollar.
func (p Period) AccruedAt(t time.Time, b Billing, storage Micros) Accrued {
	if p.Billing.Unit > 0 {
		b = p.Billing
	}
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
	if p.RunStart.IsZero() || !p.RunStart.Before(p.Start) {
		return Accrued{Cost: b.Charge(p.PriceMicros, d), Running: d, Billed: b.Billed(d)}
	}
	// A continued run: what the run owes by end minus what it owed when
	// this period began, at this period's price.
	before := p.Start.Sub(p.RunStart)
	return Accrued{
		Cost:    b.Charge(p.PriceMicros, before+d) - b.Charge(p.PriceMicros, before),
		Running: d,
		Billed:  b.Billed(before+d) - b.Billed(before),
	}
}

// Between returns what p cost in the window [since, until).
func (p Period) Between(since, until time.Time, b Billing, storage Micros) Accrued {
	return p.AccruedAt(until, b, storage).Sub(p.AccruedAt(since, b, storage))
}

// RunStarts returns the RunStart of each running usage period that
// continues a run, by usage ID: a running period of an instance that starts
// exactly where the previous running period of the same instance ended,
// under the same billing model, continues that period's run. Periods absent from usage are not known:
// pass every period of the instances concerned that ends at or after the
// earliest start of interest.
func RunStarts(usage []*store.Usage) map[int64]time.Time {
	byInst := map[string][]*store.Usage{}
	for _, u := range usage {
		byInst[u.InstanceID] = append(byInst[u.InstanceID], u)
	}
	out := map[int64]time.Time{}
	for _, us := range byInst {
		sort.Slice(us, func(i, j int) bool {
			if !us[i].Start.Equal(us[j].Start) {
				return us[i].Start.Before(us[j].Start)
			}
			return us[i].ID < us[j].ID
		})
		var runStart, runEnd time.Time // runEnd zero: no run to continue
		var runBilling string
		for _, u := range us {
			if u.State != "running" {
				runEnd = time.Time{}
				continue
			}
			// A period under another billing model starts a new run.
			if !runEnd.IsZero() && u.Start.Equal(runEnd) && u.Billing == runBilling {
				if runStart.Before(u.Start) {
					out[u.ID] = runStart
				}
			} else {
				runStart = u.Start
			}
			runEnd, runBilling = u.End, u.Billing
		}
	}
	return out
}

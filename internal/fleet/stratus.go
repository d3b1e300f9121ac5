package fleet

import (
	"time"
)

// The stratus policy (ScaleDownStratus; docs/autoscaling.md explains it).
//
// It predicts near-term demand from the jobs submitted in the last
// window: how many arrived, and how wide they were. From that it derives
// how many idle nodes are worth having: the k-th idle node (counting the
// most valuable first) is used by every arrival at least k nodes wide, and
// it lets an arrival exactly k wide start at once when nodes 1…k-1 are
// there too. An idle node costs its idle time; a reuse saves a billed boot
// (the launch latency) and a start without waiting is worth
// stratusParams.hit of node time. The best number of nodes is the prefix
// 1…m with the largest total value per window minus cost.
//
//   - Idle nodes up to that number are kept; the rest are removed, except
//     that time already paid for is never given back (per-hour billing: an
//     idle node stays until the last minute of its paid hour, like
//     billing-hour, and is renewed for another hour only if it is within
//     the number).
//   - When fewer nodes are idle (or booting, or about to be freed by jobs
//     whose time limit ends within the launch latency) than the warm-pool
//     number, which counts only the value of starting at once, nodes are
//     launched ahead of demand.
//   - Demand that busy nodes will serve before a new node could boot (their
//     jobs' time limits end within the launch latency) launches nothing.
//
// Safety when the prediction is wrong: the numbers come only from real
// arrivals of the last window, so with no arrivals they fall to zero within
// one window; a node is never kept idle longer than maxIdle (per-second
// billing) or renewed for a second paid unit without being used (per-hour
// billing).

// stratusParams tune the stratus policy.
type stratusParams struct {
	// window is how far back arrivals are counted.
	window time.Duration
	// hit is what starting a job at once is worth, in idle node time,
	// when deciding to keep an idle node; warm when deciding to launch one
	// ahead of demand (0: never).
	hit, warm time.Duration
	// reuse says whether a reused idle node saves a billed boot (per-second
	// billing) or not (per-hour billing: a renewed hour costs about what a
	// fresh node's first hour does).
	reuse bool
	// maxIdle bounds how long a node stays idle when its paid time has run
	// out (for per-hour billing it is one unit: renewed at most once).
	maxIdle time.Duration
}

// stratusFor returns the tuning for a billing model (docs/autoscaling.md
// has the benchmark behind these numbers).
func stratusFor(p Policy) stratusParams {
	if p.Billing.Unit >= time.Hour {
		return stratusHourly
	}
	return stratusSecondly
}

var (
	// Per-second billing: keeping an idle node costs its idle time and a
	// reuse saves a billed boot; nodes are also launched ahead of demand.
	stratusSecondly = stratusParams{window: time.Hour, hit: 2 * time.Hour, warm: 2 * time.Hour, reuse: true, maxIdle: 30 * time.Minute}
	// Per-hour billing: idle time already paid for is free, a renewed hour
	// is a sure cost, and a node launched ahead of demand costs a whole
	// hour, so none is.
	stratusHourly = stratusParams{window: 45 * time.Minute, hit: 150 * time.Minute, maxIdle: time.Hour}
)

// demandForecast is what the recent arrivals say about the next window.
type demandForecast struct {
	window time.Duration
	// atLeast[k] and exactly[k] count the arrivals of the window that are
	// at least and exactly k nodes wide (k ≥ 1).
	atLeast, exactly []int
	// changes is when the oldest arrival leaves the window (zero if none).
	changes time.Time
}

// forecast counts the arrivals of the last window, widths up to limit.
func (pl *planner) forecast(window time.Duration, limit int) demandForecast {
	f := demandForecast{window: window, atLeast: make([]int, limit+1), exactly: make([]int, limit+1)}
	from := pl.now.Add(-window)
	for _, a := range pl.in.Recent {
		if !a.At.After(from) || a.At.After(pl.now) {
			continue
		}
		if f.changes.IsZero() || a.At.Add(window).Before(f.changes) {
			f.changes = a.At.Add(window)
		}
		w := max(a.Nodes, 1)
		for k := 1; k <= min(w, limit); k++ {
			f.atLeast[k]++
		}
		if w <= limit {
			f.exactly[w]++
		}
	}
	return f
}

// worth returns how many idle nodes are worth having when a reuse saves
// reuse of node time (the boot) and a start without waiting is worth hit:
// the m whose nodes 1…m have the largest total value minus idle cost over
// the window.
func (f demandForecast) worth(reuse, hit time.Duration) int {
	w := f.window.Seconds()
	best, bestM, sum := 0.0, 0, 0.0
	for k := 1; k < len(f.atLeast); k++ {
		v := (reuse.Seconds()*float64(f.atLeast[k]) + hit.Seconds()*float64(f.exactly[k])) / w
		sum += v - 1
		if sum > best {
			best, bestM = sum, k
		}
	}
	return bestM
}

// widest returns the width of the widest arrival of the last window.
func (pl *planner) widest(window time.Duration) int {
	w := 0
	from := pl.now.Add(-window)
	for _, a := range pl.in.Recent {
		if a.At.After(from) && !a.At.After(pl.now) {
			w = max(w, a.Nodes)
		}
	}
	return w
}

// keepStratus decides which idle nodes the stratus policy keeps.
func (pl *planner) keepStratus(cands []Node) []keepUntil {
	sp := stratusFor(pl.p)
	ks := make([]keepUntil, len(cands))
	f := pl.forecast(sp.window, len(cands))
	var reuse time.Duration
	if sp.reuse {
		reuse = pl.p.LaunchLatency
	}
	m := f.worth(reuse, sp.hit)
	kept := 0
	// Most valuable first: the end of the removal order.
	for i := len(cands) - 1; i >= 0; i-- {
		n := cands[i]
		if check := pl.paidCheck(n); check.After(pl.now) {
			ks[i] = keepUntil{keep: true, until: check, paid: true}
			kept++
			continue
		}
		if kept >= m {
			continue
		}
		limit := n.IdleSince.Add(sp.maxIdle)
		if !limit.After(pl.now) {
			continue
		}
		until := limit
		if !f.changes.IsZero() && f.changes.Before(until) {
			until = f.changes
		}
		ks[i] = keepUntil{keep: true, until: until}
		kept++
	}
	return ks
}

// warmLaunch returns how many nodes the stratus policy launches ahead of
// demand.
func (pl *planner) warmLaunch() int {
	sp := stratusFor(pl.p)
	if sp.warm <= 0 {
		return 0
	}
	f := pl.forecast(sp.window, min(pl.p.Max, pl.widest(sp.window)))
	m := f.worth(0, sp.warm)
	if m > 0 {
		// Fewer arrivals can only lower m: look again when one leaves.
		pl.wake(f.changes)
	}
	spare := max(0, len(pl.idle)+pl.booting-pl.demandNodes) + pl.freeSoon()
	return max(0, m-spare)
}

// freeSoon counts the busy nodes whose jobs' time limits end within the
// launch latency: they will be free before a node launched now is ready.
// The decision changes when one of them passes its limit still busy.
func (pl *planner) freeSoon() int {
	soon := pl.now.Add(pl.p.LaunchLatency)
	c := 0
	for _, n := range pl.in.Nodes {
		if n.Ready && n.Busy && n.BusyUntil.After(pl.now) && !n.BusyUntil.After(soon) {
			c++
			pl.wake(n.BusyUntil)
		}
	}
	return c
}

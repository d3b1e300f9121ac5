package fleet

import (
	"slices"
	"time"
)

// stratusParams tune the stratus policy.
type stratusParams struct {
	window  time.Duration // arrivals counted over this past window
	theta   float64       // keep the k-th node if arrivals of width ≥ k in window ≥ theta
	maxIdle time.Duration // never keep a node idle longer
	minIdle time.Duration // always keep a node at least this long
	maxKeep int           // keep at most this many idle nodes (0: no bound)
}

var stratus = stratusParams{window: time.Hour, theta: 12, maxIdle: 30 * time.Minute}

// keepStratus is the stratus policy (docs/autoscaling.md).
func (pl *planner) keepStratus(cands []Node) []keepUntil {
	sp := stratus
	ks := make([]keepUntil, len(cands))
	from := pl.now.Add(-sp.window)
	var recent []Arrival
	for _, a := range pl.in.Recent {
		if a.At.After(from) && !a.At.After(pl.now) {
			recent = append(recent, a)
		}
	}
	k := 0
	for i := len(cands) - 1; i >= 0; i-- {
		n := cands[i]
		cap := n.IdleSince.Add(sp.maxIdle)
		if !cap.After(pl.now) {
			continue
		}
		if floor := n.IdleSince.Add(sp.minIdle); floor.After(pl.now) {
			ks[i] = keepUntil{true, floor}
			k++
			continue
		}
		k++
		if sp.maxKeep > 0 && k > sp.maxKeep {
			k--
			continue
		}
		// arrivals of width >= k, oldest first
		var at []time.Time
		for _, a := range recent {
			if max(a.Nodes, 1) >= k {
				at = append(at, a.At)
			}
		}
		need := int(sp.theta + 0.999999)
		if len(at) < need {
			k--
			continue
		}
		slices.SortFunc(at, func(a, b time.Time) int { return a.Compare(b) })
		drop := at[len(at)-need].Add(sp.window)
		ks[i] = keepUntil{true, minTime(drop, cap)}
	}
	return ks
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

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
	mode    int
	mu      time.Duration // worth of a hit in node-time
	muL     time.Duration // worth of a hit for launching
	delay   time.Duration // refill delay after the last arrival
}

var stratus = stratusParams{window: time.Hour, theta: 12, maxIdle: 30 * time.Minute}

// keepStratus is the stratus policy (docs/autoscaling.md).
func (pl *planner) keepStratus(cands []Node) []keepUntil {
	sp := stratus
	if sp.mode == 2 {
		return pl.keepValue(cands)
	}
	if sp.mode == 3 {
		return pl.keepPool(cands)
	}
	if sp.mode == 9 {
		return pl.keepOracle(cands)
	}
	if sp.mode == 4 {
		ks := pl.keepValue(cands)
		m := pl.dayPool()
		r := 0
		for i := len(cands) - 1; i >= 0 && r < m; i-- {
			ks[i] = keepUntil{true, pl.now.Add(10 * time.Minute)}
			r++
		}
		return ks
	}
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
		if need <= 0 {
			ks[i] = keepUntil{true, cap}
			continue
		}
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

func (pl *planner) keepValue(cands []Node) []keepUntil {
	sp := stratus
	ks := make([]keepUntil, len(cands))
	from := pl.now.Add(-sp.window)
	var widths []int
	var oldest time.Time
	for _, a := range pl.in.Recent {
		if a.At.After(from) && !a.At.After(pl.now) {
			widths = append(widths, max(a.Nodes, 1))
			if oldest.IsZero() {
				oldest = a.At
			}
		}
	}
	// pool candidates: not past maxIdle, most valuable first
	var pool []int
	for i := len(cands) - 1; i >= 0; i-- {
		if cands[i].IdleSince.Add(sp.maxIdle).After(pl.now) {
			pool = append(pool, i)
		}
	}
	if sp.maxKeep > 0 && len(pool) > sp.maxKeep {
		pool = pool[:sp.maxKeep]
	}
	ge := make([]int, len(pool)+2)
	eq := make([]int, len(pool)+2)
	for _, w := range widths {
		for k := 1; k <= min(w, len(pool)); k++ {
			ge[k]++
		}
		if w <= len(pool) {
			eq[w]++
		}
	}
	L := pl.p.LaunchLatency.Seconds()
	W := sp.window.Seconds()
	best, bestM, sum := 0.0, 0, 0.0
	for k := 1; k <= len(pool); k++ {
		v := (L*float64(ge[k]) + sp.mu.Seconds()*float64(eq[k])) / W
		sum += v - 1
		if sum > best {
			best, bestM = sum, k
		}
	}
	var next time.Time
	if !oldest.IsZero() {
		next = oldest.Add(sp.window)
	}
	for r := 0; r < bestM; r++ {
		i := pool[r]
		until := cands[i].IdleSince.Add(sp.maxIdle)
		if !next.IsZero() {
			until = minTime(until, next)
		}
		ks[i] = keepUntil{true, until}
	}
	return ks
}

// poolTarget returns the number of idle nodes worth having, from the
// arrivals of the window: node k is worth bootSave×(arrivals of width ≥ k) +
// mu×(arrivals of width k) per window; the best prefix is kept.
func (pl *planner) poolTarget(bootSave bool, limit int) (int, time.Time) {
	sp := stratus
	from := pl.now.Add(-sp.window)
	ge := make([]int, limit+2)
	eq := make([]int, limit+2)
	var oldest time.Time
	for _, a := range pl.in.Recent {
		if !a.At.After(from) || a.At.After(pl.now) {
			continue
		}
		if oldest.IsZero() {
			oldest = a.At
		}
		w := max(a.Nodes, 1)
		for k := 1; k <= min(w, limit); k++ {
			ge[k]++
		}
		if w <= limit {
			eq[w]++
		}
	}
	L := 0.0
	mu := sp.muL.Seconds()
	if bootSave {
		L = pl.p.LaunchLatency.Seconds()
		mu = sp.mu.Seconds()
	}
	W := sp.window.Seconds()
	best, bestM, sum := 0.0, 0, 0.0
	for k := 1; k <= limit; k++ {
		v := (L*float64(ge[k]) + mu*float64(eq[k])) / W
		sum += v - 1
		if sum > best {
			best, bestM = sum, k
		}
	}
	var next time.Time
	if !oldest.IsZero() {
		next = oldest.Add(sp.window)
	}
	return bestM, next
}

func (pl *planner) keepPool(cands []Node) []keepUntil {
	sp := stratus
	ks := make([]keepUntil, len(cands))
	m, next := pl.poolTarget(true, len(cands))
	if sp.maxKeep > 0 {
		m = min(m, sp.maxKeep)
	}
	r := 0
	for i := len(cands) - 1; i >= 0 && r < m; i-- {
		ks[i] = keepUntil{true, next}
		r++
	}
	return ks
}

// poolLaunch returns how many nodes to launch to fill the warm pool.
func (pl *planner) poolLaunch() int {
	sp := stratus
	if sp.mode == 9 {
		return pl.launchOracle()
	}
	if sp.mode == 4 {
		pl.wake(pl.now.Add(10 * time.Minute))
		spare := len(pl.idle) + pl.booting - pl.demandNodes
		if n := len(pl.in.Recent); n > 0 && sp.delay > 0 {
			if t := pl.in.Recent[n-1].At.Add(sp.delay); t.After(pl.now) {
				pl.wake(t)
				return 0
			}
		}
		return pl.dayPool() - spare
	}
	if sp.mode != 3 {
		return 0
	}
	limit := 64
	m, next := pl.poolTarget(false, limit)
	if sp.maxKeep > 0 {
		m = min(m, sp.maxKeep)
	}
	pl.wake(next)
	spare := len(pl.idle) + pl.booting - pl.demandNodes
	if m-spare <= 0 {
		return 0
	}
	if n := len(pl.in.Recent); n > 0 && sp.delay > 0 {
		if t := pl.in.Recent[n-1].At.Add(sp.delay); t.After(pl.now) {
			pl.wake(t)
			return 0
		}
	}
	return m - spare
}

func (pl *planner) oracleNeed(h time.Duration) (int, time.Time) {
	need := 0
	var next time.Time
	for _, a := range pl.in.Recent {
		if a.At.After(pl.now) && !a.At.After(pl.now.Add(h)) {
			need += a.Nodes
		}
		if a.At.After(pl.now) && next.IsZero() {
			next = a.At
		}
	}
	return need, next
}

func (pl *planner) keepOracle(cands []Node) []keepUntil {
	ks := make([]keepUntil, len(cands))
	need, _ := pl.oracleNeed(stratus.window)
	r := 0
	for i := len(cands) - 1; i >= 0 && r < need; i-- {
		ks[i] = keepUntil{true, pl.now.Add(time.Minute)}
		r++
	}
	return ks
}

func (pl *planner) launchOracle() int {
	h := pl.p.LaunchLatency + stratus.delay
	need, next := pl.oracleNeed(h)
	if !next.IsZero() {
		pl.wake(next.Add(-h))
	}
	pl.wake(pl.now.Add(time.Minute))
	spare := len(pl.idle) + pl.booting - pl.demandNodes
	if stratus.maxKeep > 0 {
		need = min(need, stratus.maxKeep)
	}
	return need - spare
}

func (pl *planner) dayPool() int {
	t := pl.now
	if t.Weekday() == time.Saturday || t.Weekday() == time.Sunday || t.Hour() < 8 || t.Hour() >= 18 {
		return 0
	}
	return stratus.maxKeep
}

package fleet

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
)

// Plan decides what to launch and which idle nodes to remove. It is pure:
// the same input always gives the same decision, and the input is not
// modified.
//
// Scale-up: the queued demand that the idle and booting nodes cannot serve
// is launched for once the oldest such demand is Policy.BatchWindow old,
// never above Max (booting nodes count), and the fleet is always launched
// up to Min (and Input.Initial). Demand wider than Max is ignored: no fleet could run it. The
// type launched is the first of Policy.Types that is not unavailable at
// Now; if all are, nothing is launched and the reason says so.
//
// Scale-down: only idle nodes not needed for queued demand are candidates,
// taken in the order their paid time runs out (then longest idle first);
// Policy.ScaleDown decides which of them go, never below Min. Busy and
// booting nodes are never removed. With Autoscaling false the fleet is kept
// at exactly Min; ScaleDownStatic keeps it at Max. Max below Min is read as
// Max = Min.
func Plan(in Input) Decision {
	pl := newPlanner(in)
	pl.scaleUp()
	if len(pl.d.Launch) == 0 {
		pl.scaleDown()
	}
	pl.summary()
	pl.capacityNote()
	pl.d.Reason = strings.Join(pl.reasons, "; ")
	pl.d.NextCheck = pl.next
	return pl.d
}

// planner holds one Plan call's view of the fleet.
type planner struct {
	in  Input
	now time.Time
	p   Policy

	total   int    // nodes that exist, booting included
	idle    []Node // ready and running nothing, in removal order
	busy    int
	booting int

	demandJobs  int // queued jobs that a fleet of Max could run
	demandNodes int // nodes they need
	tooWide     int // queued jobs wider than Max
	unserved    int // nodes needed beyond the idle and booting ones
	unservedJob int // queued jobs not (fully) served
	oldest      time.Time
	claimed     int // idle nodes kept for queued demand

	d       Decision
	next    time.Time
	reasons []string
	// capacitySaid: a reason already names the types out of capacity.
	capacitySaid bool
}

func newPlanner(in Input) *planner {
	pl := &planner{in: in, now: in.Now, p: in.Policy}
	pl.p.Min = max(pl.p.Min, 0)
	pl.p.Max = max(pl.p.Max, pl.p.Min)
	if pl.p.ScaleDown == "" {
		pl.p.ScaleDown = ScaleDownStratus
	}
	pl.total = len(in.Nodes)
	for _, n := range in.Nodes {
		switch {
		case !n.Ready:
			pl.booting++
		case n.Busy:
			pl.busy++
		default:
			pl.idle = append(pl.idle, n)
		}
	}
	slices.SortFunc(pl.idle, func(a, b Node) int {
		return pl.removalOrder(a, b)
	})

	avail := len(pl.idle) + pl.booting
	if pl.stratus() {
		avail += pl.freeSoon()
	}
	for _, q := range in.Queue {
		need := max(q.Nodes, 1)
		if need > pl.p.Max {
			pl.tooWide++
			continue
		}
		pl.demandJobs++
		pl.demandNodes += need
		if need <= avail {
			avail -= need
			continue
		}
		if pl.unservedJob == 0 {
			pl.oldest = q.SubmittedAt
		}
		pl.unservedJob++
		pl.unserved += need - avail
		avail = 0
	}
	pl.claimed = min(len(pl.idle), pl.demandNodes)
	return pl
}

// stratus reports whether the stratus policy is scaling the fleet.
func (pl *planner) stratus() bool {
	return pl.p.Autoscaling && pl.p.ScaleDown == ScaleDownStratus
}

// removalOrder orders idle nodes: paid time running out soonest first,
// then idle longest, then by id.
func (pl *planner) removalOrder(a, b Node) int {
	b1 := pl.p.Billing.PaidUntil(a.LaunchedAt, pl.now)
	b2 := pl.p.Billing.PaidUntil(b.LaunchedAt, pl.now)
	if c := b1.Compare(b2); c != 0 {
		return c
	}
	if c := a.IdleSince.Compare(b.IdleSince); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

// wake records t as a time the decision may change, if it is in the future.
func (pl *planner) wake(t time.Time) {
	if t.After(pl.now) && (pl.next.IsZero() || t.Before(pl.next)) {
		pl.next = t
	}
}

func (pl *planner) say(format string, args ...any) {
	pl.reasons = append(pl.reasons, fmt.Sprintf(format, args...))
}

// scaleUp decides the launch.
func (pl *planner) scaleUp() {
	p := pl.p
	want := 0
	why, code := "", UpFixed
	// full: queued jobs wait and the fleet is at its maximum (booting
	// nodes included), so nothing can be launched for them.
	full := false
	switch {
	case !p.Autoscaling:
		want = p.Min - pl.total
		why = fmt.Sprintf("to keep %d nodes (autoscaling off)", p.Min)
	case p.ScaleDown == ScaleDownStatic:
		want = p.Max - pl.total
		why = fmt.Sprintf("to keep the fleet at its maximum (%d)", p.Max)
	default:
		forDemand := 0
		// pending: queued jobs wait for the batch window to end; nodes
		// ahead of demand are then launched with theirs, in one decision.
		pending := false
		if pl.unserved > 0 {
			full = pl.total >= p.Max
			due := pl.oldest.Add(p.BatchWindow)
			switch {
			case full:
				// No launch is possible, whatever the window says: the
				// jobs wait for nodes that running jobs free.
				pl.say("%s waiting for running jobs", plural(pl.unservedJob, "queued job"))
			case due.After(pl.now):
				pl.say("%s waiting for the batch window (launch in %s)", plural(pl.unservedJob, "queued job"), wholeSeconds(due.Sub(pl.now)))
			}
			if due.After(pl.now) {
				pl.wake(due)
				pending = true
			} else {
				forDemand = pl.unserved
			}
		}
		ahead := 0
		if pl.stratus() && !pending {
			ahead = pl.warmLaunch()
		}
		// Nodes launched to reach Min (or the initial size) are idle, so
		// they also serve as nodes ahead of demand.
		initial := min(pl.in.Initial, p.Max)
		want = max(p.Min-pl.total, initial-pl.total, forDemand+ahead)
		switch {
		case want == p.Min-pl.total:
			why, code = fmt.Sprintf("to reach the minimum (%d)", p.Min), UpMinimum
		case want == initial-pl.total:
			why, code = fmt.Sprintf("to start with initial_nodes (%d)", initial), UpMinimum
		case forDemand > 0 && ahead > 0:
			why, code = fmt.Sprintf("for %s and %d ahead of expected demand", plural(pl.unservedJob, "queued job"), ahead), UpQueued
		case forDemand > 0:
			why, code = "for "+plural(pl.unservedJob, "queued job"), UpQueued
		default:
			why, code = "ahead of expected demand", UpAhead
		}
	}
	if room := p.Max - pl.total; want > room || full {
		want = min(want, room)
		if pl.unserved > 0 && p.Autoscaling {
			defer pl.say("max reached (%s)", plural(p.Max, "node"))
		}
	}
	if want <= 0 {
		return
	}

	typ, skipped, until := pl.pickType()
	if typ == "" {
		if len(p.Types) == 0 {
			pl.say("no compute type configured: %s not launched", plural(want, "node"))
			return
		}
		pl.wake(until)
		pl.capacitySaid = true
		pl.say("%s: %s not launched", outOfCapacity(skipped, until), plural(want, "node"))
		return
	}
	if len(skipped) > 0 {
		pl.wake(until)
		pl.capacitySaid = true
		pl.say("%s; launching %d %s %s", outOfCapacity(skipped, until), want, typ, why)
	} else {
		pl.say("%d launching %s", want, why)
	}
	pl.d.Launch = []Launch{{Type: typ, Count: want}}
	pl.d.Up = code
}

// pickType returns the first available type, the preferred ones skipped,
// and the earliest time one of those becomes available again.
func (pl *planner) pickType() (typ string, skipped []string, until time.Time) {
	for _, t := range pl.p.Types {
		u, ok := pl.in.Unavailable[t]
		if !ok || !u.After(pl.now) {
			return t, skipped, until
		}
		skipped = append(skipped, t)
		if until.IsZero() || u.Before(until) {
			until = u
		}
	}
	return "", skipped, until
}

// capacityNote says which preferred types are out of capacity, and until
// when, if no reason has said it yet: after a fallback launch the fleet's
// reason still tells why it runs another type.
func (pl *planner) capacityNote() {
	if pl.capacitySaid || len(pl.p.Types) == 0 {
		return
	}
	_, skipped, until := pl.pickType()
	if len(skipped) == 0 {
		return
	}
	pl.wake(until)
	pl.say("%s", outOfCapacity(skipped, until))
}

// outOfCapacity is the reason's words for types avoided until a time.
func outOfCapacity(types []string, until time.Time) string {
	return fmt.Sprintf("%s out of capacity until %s", strings.Join(types, ", "), until.UTC().Format(time.RFC3339))
}

// wholeSeconds rounds d up to a whole number of seconds, for reasons.
func wholeSeconds(d time.Duration) time.Duration {
	if r := d % time.Second; r > 0 {
		d += time.Second - r
	}
	return d
}

// scaleDown picks the idle nodes to remove.
func (pl *planner) scaleDown() {
	p := pl.p
	cands := pl.idle[:len(pl.idle)-pl.claimed]
	if len(cands) == 0 {
		return
	}
	// A fixed-size fleet (autoscaling off: Min; static: Max) only sheds
	// nodes above its size, when the policy changed.
	fixed, size := !p.Autoscaling, p.Min
	if p.Autoscaling && p.ScaleDown == ScaleDownStatic {
		fixed, size = true, p.Max
	}
	limit := pl.total - p.Min // removals allowed
	if fixed {
		limit = pl.total - size
	}
	limit = min(limit, len(cands))
	if limit <= 0 {
		return
	}
	if fixed {
		pl.remove(cands[:limit], DownFixed)
		pl.say("removing %s above the fleet size (%d)", plural(limit, "idle node"), size)
		return
	}
	if over := pl.total - p.Max; over > 0 {
		n := min(over, limit)
		pl.remove(cands[:n], DownAboveMax)
		pl.say("removing %s above the maximum (%d)", plural(n, "idle node"), p.Max)
		cands, limit = cands[n:], limit-n
		if limit == 0 {
			return
		}
	}

	var keep keeper
	switch p.ScaleDown {
	case ScaleDownImmediate:
		keep = perNode(keepNone)
	case ScaleDownIdle:
		keep = perNode(pl.keepIdle)
	case ScaleDownBillingHour:
		keep = perNode(pl.keepPaid)
	default:
		keep = pl.keepStratus
	}
	var removed []Node
	var kept []keepUntil // in removal order
	for i, k := range keep(cands) {
		switch {
		case k.keep:
			pl.wake(k.until)
		case len(removed) == limit:
			k = keepUntil{keep: true}
		default:
			removed = append(removed, cands[i])
			continue
		}
		kept = append(kept, k)
	}
	if len(removed) > 0 {
		pl.remove(removed, pl.downCode())
		pl.say("removing %s (%s)", plural(len(removed), "idle node"), pl.removeWhy())
	}
	pl.keptReason(kept, limit-len(removed))
}

// keptReason says why the idle nodes kept stay. Of them, in removal order,
// only the first room may ever go while the fleet is above its minimum;
// the rest are kept at the minimum whatever the policy says.
func (pl *planner) keptReason(kept []keepUntil, room int) {
	if len(kept) == 0 {
		return
	}
	free := min(len(kept), max(room, 0))
	paid := 0
	for _, k := range kept[:free] {
		if k.paid {
			paid++
		}
	}
	var parts []string
	add := func(n int, why string) {
		switch {
		case n == 0:
		case len(parts) == 0:
			parts = append(parts, plural(n, "node")+" kept "+why)
		default:
			parts = append(parts, fmt.Sprintf("%d %s", n, why))
		}
	}
	add(paid, pl.paidWhy(paid))
	add(free-paid, pl.keepWhy(free-paid))
	add(len(kept)-free, fmt.Sprintf("at minimum (%d)", pl.p.Min))
	pl.say("idle: %s", strings.Join(parts, ", "))
}

// paidWhy is the reason's words for n nodes kept for their paid time.
func (pl *planner) paidWhy(n int) string {
	if n == 1 {
		return "until its paid " + pl.unitName() + " ends"
	}
	return "until their paid " + pl.unitName() + " ends"
}

// keeper says, for idle nodes in removal order, which to keep for now and
// until when the decision holds.
type keeper func(cands []Node) []keepUntil

type keepUntil struct {
	keep  bool
	until time.Time
	// paid: kept because its paid time has not run out (stratus).
	paid bool
}

// perNode makes a keeper of a decision taken node by node.
func perNode(f func(Node) (time.Time, bool)) keeper {
	return func(cands []Node) []keepUntil {
		ks := make([]keepUntil, len(cands))
		for i, n := range cands {
			ks[i].until, ks[i].keep = f(n)
		}
		return ks
	}
}

func keepNone(Node) (time.Time, bool) { return time.Time{}, false }

func (pl *planner) keepIdle(n Node) (time.Time, bool) {
	until := n.IdleSince.Add(pl.p.IdleTimeout)
	return until, until.After(pl.now)
}

// lastMinute is how long before its paid hour runs out a node is removed
// by the billing-hour and stratus policies: enough for the termination to
// register. Under per-second billing the paid time is the minimum after a
// launch (60 s on AWS), and secondlyMargin is the margin.
const (
	lastMinute     = time.Minute
	secondlyMargin = 5 * time.Second
)

// paidCheck returns when an idle node's paid time runs out, less the
// margin the termination needs: until then keeping it costs nothing.
func (pl *planner) paidCheck(n Node) time.Time {
	margin := lastMinute
	if pl.p.Billing.Unit < time.Minute {
		margin = secondlyMargin
	}
	return pl.p.Billing.PaidUntil(n.LaunchedAt, pl.now).Add(-margin)
}

func (pl *planner) keepPaid(n Node) (time.Time, bool) {
	check := pl.paidCheck(n)
	return check, check.After(pl.now)
}

func (pl *planner) remove(nodes []Node, code string) {
	for _, n := range nodes {
		pl.d.Remove = append(pl.d.Remove, n.ID)
	}
	if len(nodes) > 0 {
		if pl.d.Down == nil {
			pl.d.Down = map[string]int{}
		}
		pl.d.Down[code] += len(nodes)
	}
}

// downCode is the Down code of the scale-down policy's removals.
func (pl *planner) downCode() string {
	switch pl.p.ScaleDown {
	case ScaleDownImmediate:
		return DownImmediate
	case ScaleDownIdle:
		return DownIdle
	case ScaleDownBillingHour:
		return DownPaidEnds
	}
	return DownNotNeeded
}

func (pl *planner) removeWhy() string {
	switch pl.p.ScaleDown {
	case ScaleDownImmediate:
		return "immediate scale-down"
	case ScaleDownIdle:
		return "idle for " + pl.p.IdleTimeout.String()
	case ScaleDownBillingHour:
		return "their paid " + pl.unitName() + " ends"
	}
	return "not expected to be needed soon"
}

// keepWhy is the reason's words for n idle nodes the policy keeps.
func (pl *planner) keepWhy(n int) string {
	switch pl.p.ScaleDown {
	case ScaleDownIdle:
		return "until idle for " + pl.p.IdleTimeout.String()
	case ScaleDownBillingHour:
		return pl.paidWhy(n)
	}
	return "for expected demand"
}

// unitName names the billing unit in reasons: "hour", else "time".
func (pl *planner) unitName() string {
	if pl.p.Billing.Unit >= time.Hour {
		return "hour"
	}
	return "time"
}

// summary adds a sentence when nothing else was said.
func (pl *planner) summary() {
	if len(pl.reasons) > 0 {
		return
	}
	switch {
	case pl.tooWide > 0:
		pl.say("%s wider than the maximum (%d) cannot run", plural(pl.tooWide, "queued job"), pl.p.Max)
	case pl.demandJobs > 0 && pl.booting > 0:
		pl.say("%s waiting for %s", plural(pl.demandJobs, "queued job"), plural(pl.booting, "booting node"))
	case pl.demandJobs > 0:
		pl.say("%s waiting for busy nodes", plural(pl.demandJobs, "queued job"))
	case pl.total <= pl.p.Min:
		pl.say("at minimum (%d)", pl.p.Min)
	case pl.p.Autoscaling && pl.p.ScaleDown == ScaleDownStatic:
		pl.say("static: kept at %s", plural(pl.total, "node"))
	default:
		pl.say("%d busy, %d idle, %d booting", pl.busy, len(pl.idle), pl.booting)
	}
}

// plural formats n things, adding an s when n is not 1.
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}

// UseOrder returns the ids of the ready idle nodes among nodes in the order
// jobs should use them, the reverse of the order Plan removes them in: the
// node whose paid time runs out last first, then the one idle for the
// shortest time. The placer (jobs.Input.Idle) takes nodes in this order, so
// the nodes left idle are those cheapest to remove.
func UseOrder(nodes []Node, now time.Time, b cost.Billing) []string {
	pl := &planner{now: now, p: Policy{Billing: b}}
	var idle []Node
	for _, n := range nodes {
		if n.Ready && !n.Busy {
			idle = append(idle, n)
		}
	}
	slices.SortFunc(idle, func(a, b Node) int { return pl.removalOrder(b, a) })
	ids := make([]string, len(idle))
	for i, n := range idle {
		ids[i] = n.ID
	}
	return ids
}

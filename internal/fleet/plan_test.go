package fleet

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stratus-cloud/stratus/internal/cost"
)

var now = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

// ago returns now minus d.
func ago(d time.Duration) time.Time { return now.Add(-d) }

// policy returns a policy with test defaults, changed by opts.
func policy(opts ...func(*Policy)) Policy {
	p := Policy{
		Min: 0, Max: 10,
		Types:         []string{"t3.small", "c5.large"},
		Autoscaling:   true,
		ScaleDown:     ScaleDownImmediate,
		IdleTimeout:   10 * time.Minute,
		LaunchLatency: 5 * time.Minute,
		Billing:       cost.PerSecond,
	}
	for _, o := range opts {
		o(&p)
	}
	return p
}

func scaleDown(s ScaleDown) func(*Policy) { return func(p *Policy) { p.ScaleDown = s } }
func hourly(p *Policy)                    { p.Billing = cost.PerHour }
func minMax(lo, hi int) func(*Policy)     { return func(p *Policy) { p.Min, p.Max = lo, hi } }

// idle is a ready node running nothing, launched and idle for the given
// durations before now.
func idle(id string, launched, idleFor time.Duration) Node {
	return Node{ID: id, Type: "t3.small", Ready: true, LaunchedAt: ago(launched), IdleSince: ago(idleFor)}
}

// busy is a ready node running a job until now+until.
func busy(id string, until time.Duration) Node {
	return Node{ID: id, Type: "t3.small", Ready: true, Busy: true, BusyUntil: now.Add(until), LaunchedAt: ago(time.Hour), IdleSince: ago(time.Hour)}
}

// booting is a node launched a minute ago, not ready yet.
func booting(id string) Node {
	return Node{ID: id, Type: "t3.small", LaunchedAt: ago(time.Minute)}
}

// demand is a queued job of n nodes submitted the given duration ago.
func demand(n int, submitted time.Duration) Demand {
	return Demand{Nodes: n, TimeLimit: time.Hour, SubmittedAt: ago(submitted)}
}

// arrivals returns n recent arrivals of width nodes, one every gap, the
// last one gap ago.
func arrivals(n, nodes int, gap time.Duration) []Arrival {
	var as []Arrival
	for i := n; i >= 1; i-- {
		as = append(as, Arrival{At: ago(time.Duration(i) * gap), Nodes: nodes, Runtime: time.Minute})
	}
	return as
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want Decision
	}{
		{
			name: "nothing to do at minimum",
			in:   Input{Now: now, Policy: policy()},
			want: Decision{Reason: "at minimum (0)"},
		},
		{
			name: "launches for unserved demand",
			in:   Input{Now: now, Policy: policy(), Queue: []Demand{demand(1, time.Minute), demand(2, time.Second)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 3}}, Reason: "3 launching for 2 queued jobs"},
		},
		{
			name: "idle and booting nodes serve demand first",
			in: Input{Now: now, Policy: policy(),
				Nodes: []Node{idle("a", time.Hour, time.Minute), booting("b")},
				Queue: []Demand{demand(3, time.Minute), demand(1, 0)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 2}}, Reason: "2 launching for 2 queued jobs"},
		},
		{
			name: "demand served by booting nodes waits",
			in: Input{Now: now, Policy: policy(),
				Nodes: []Node{booting("b"), booting("c")},
				Queue: []Demand{demand(2, time.Minute)}},
			want: Decision{Reason: "1 queued job waiting for 2 booting nodes"},
		},
		{
			name: "caps at max, booting nodes included",
			in: Input{Now: now, Policy: policy(minMax(0, 4)),
				Nodes: []Node{busy("a", time.Hour), booting("b")},
				Queue: []Demand{demand(3, time.Minute), demand(2, time.Minute)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 2}}, Reason: "2 launching for 2 queued jobs; max reached (4 nodes)"},
		},
		{
			name: "at max launches nothing",
			in: Input{Now: now, Policy: policy(minMax(0, 1)),
				Nodes: []Node{busy("a", time.Hour)},
				Queue: []Demand{demand(1, time.Minute)}},
			want: Decision{Reason: "1 queued job waiting for running jobs; max reached (1 node)"},
		},
		{
			name: "at max the batch window promises no launch",
			in: Input{Now: now, Policy: policy(minMax(0, 4), func(p *Policy) { p.BatchWindow = 10 * time.Second }),
				Nodes: []Node{busy("a", time.Hour), busy("b", time.Hour), busy("c", time.Hour), booting("d")},
				Queue: []Demand{demand(1, 2*time.Second), demand(1, 2*time.Second), demand(1, time.Second)}},
			want: Decision{Reason: "2 queued jobs waiting for running jobs; max reached (4 nodes)", NextCheck: now.Add(8 * time.Second)},
		},
		{
			name: "demand wider than max is ignored",
			in: Input{Now: now, Policy: policy(minMax(0, 4)),
				Queue: []Demand{demand(5, time.Minute)}},
			want: Decision{Reason: "1 queued job wider than the maximum (4) cannot run"},
		},
		{
			name: "launches to min without demand",
			in:   Input{Now: now, Policy: policy(minMax(2, 10)), Nodes: []Node{busy("a", time.Hour)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 1}}, Reason: "1 launching to reach the minimum (2)"},
		},
		{
			name: "min and demand: the larger launch",
			in:   Input{Now: now, Policy: policy(minMax(2, 10)), Queue: []Demand{demand(3, time.Minute)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 3}}, Reason: "3 launching for 1 queued job"},
		},
		{
			name: "batching waits for the window",
			in: Input{Now: now, Policy: policy(func(p *Policy) { p.BatchWindow = 30 * time.Second }),
				Queue: []Demand{demand(1, 10*time.Second), demand(1, 5*time.Second)}},
			want: Decision{Reason: "2 queued jobs waiting for the batch window (launch in 20s)", NextCheck: now.Add(20 * time.Second)},
		},
		{
			name: "batching launches once the oldest demand is old enough",
			in: Input{Now: now, Policy: policy(func(p *Policy) { p.BatchWindow = 30 * time.Second }),
				Queue: []Demand{demand(1, 30*time.Second), demand(1, 5*time.Second)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 2}}, Reason: "2 launching for 2 queued jobs"},
		},
		{
			name: "batching does not delay the minimum",
			in: Input{Now: now, Policy: policy(minMax(1, 10), func(p *Policy) { p.BatchWindow = time.Minute }),
				Queue: []Demand{demand(2, 0)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 1}},
				Reason: "1 queued job waiting for the batch window (launch in 1m0s); 1 launching to reach the minimum (1)", NextCheck: now.Add(time.Minute)},
		},
		{
			name: "type fallback while the preferred type cools down",
			in: Input{Now: now, Policy: policy(), Queue: []Demand{demand(2, time.Minute)},
				Unavailable: map[string]time.Time{"t3.small": now.Add(10 * time.Minute)}},
			want: Decision{Launch: []Launch{{Type: "c5.large", Count: 2}},
				Reason: "t3.small out of capacity until 2026-03-02T10:10:00Z; launching 2 c5.large for 1 queued job", NextCheck: now.Add(10 * time.Minute)},
		},
		{
			name: "after the fallback launch the reason still names the type out of capacity",
			in: Input{Now: now, Policy: policy(), Queue: []Demand{demand(2, time.Minute)},
				Nodes:       []Node{{ID: "a", Type: "c5.large", LaunchedAt: ago(time.Minute)}, {ID: "b", Type: "c5.large", LaunchedAt: ago(time.Minute)}},
				Unavailable: map[string]time.Time{"t3.small": now.Add(9 * time.Minute)}},
			want: Decision{Reason: "1 queued job waiting for 2 booting nodes; t3.small out of capacity until 2026-03-02T10:09:00Z",
				NextCheck: now.Add(9 * time.Minute)},
		},
		{
			name: "an idle fallback fleet still names the type out of capacity",
			in: Input{Now: now, Policy: policy(minMax(1, 10)),
				Nodes:       []Node{{ID: "a", Type: "c5.large", Ready: true, LaunchedAt: ago(time.Hour), IdleSince: ago(time.Hour)}},
				Unavailable: map[string]time.Time{"t3.small": now.Add(9 * time.Minute)}},
			want: Decision{Reason: "at minimum (1); t3.small out of capacity until 2026-03-02T10:09:00Z", NextCheck: now.Add(9 * time.Minute)},
		},
		{
			name: "initial nodes that got no capacity are launched in full in the fallback type",
			in: Input{Now: now, Policy: policy(minMax(1, 10)), Initial: 2,
				Unavailable: map[string]time.Time{"t3.small": now.Add(10 * time.Minute)}},
			want: Decision{Launch: []Launch{{Type: "c5.large", Count: 2}},
				Reason: "t3.small out of capacity until 2026-03-02T10:10:00Z; launching 2 c5.large to start with initial_nodes (2)", NextCheck: now.Add(10 * time.Minute)},
		},
		{
			name: "the initial size counts the nodes there are, and is capped at max",
			in:   Input{Now: now, Policy: policy(minMax(0, 3)), Initial: 5, Nodes: []Node{booting("a")}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 2}}, Reason: "2 launching to start with initial_nodes (3)"},
		},
		{
			name: "the batch window's wait is shown in whole seconds",
			in: Input{Now: now, Policy: policy(func(p *Policy) { p.BatchWindow = 10 * time.Second }),
				Queue: []Demand{demand(1, 8005101612*time.Nanosecond)}},
			want: Decision{Reason: "1 queued job waiting for the batch window (launch in 2s)", NextCheck: now.Add(1994898388 * time.Nanosecond)},
		},
		{
			name: "a cool-down in the past is over",
			in: Input{Now: now, Policy: policy(), Queue: []Demand{demand(1, time.Minute)},
				Unavailable: map[string]time.Time{"t3.small": now}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 1}}, Reason: "1 launching for 1 queued job"},
		},
		{
			name: "all types unavailable launches nothing and says so",
			in: Input{Now: now, Policy: policy(), Queue: []Demand{demand(2, time.Minute)},
				Unavailable: map[string]time.Time{"t3.small": now.Add(10 * time.Minute), "c5.large": now.Add(5 * time.Minute)}},
			want: Decision{Reason: "t3.small, c5.large out of capacity until 2026-03-02T10:05:00Z: 2 nodes not launched", NextCheck: now.Add(5 * time.Minute)},
		},
		{
			name: "no type configured",
			in:   Input{Now: now, Policy: policy(func(p *Policy) { p.Types = nil }), Queue: []Demand{demand(1, time.Minute)}},
			want: Decision{Reason: "no compute type configured: 1 node not launched"},
		},
		{
			name: "autoscaling off keeps exactly min: launches to min only",
			in: Input{Now: now, Policy: policy(minMax(2, 10), func(p *Policy) { p.Autoscaling = false }),
				Queue: []Demand{demand(5, time.Hour)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 2}}, Reason: "2 launching to keep 2 nodes (autoscaling off)"},
		},
		{
			name: "autoscaling off never removes idle nodes at min",
			in: Input{Now: now, Policy: policy(minMax(2, 10), func(p *Policy) { p.Autoscaling = false }),
				Nodes: []Node{idle("a", 5*time.Hour, 5*time.Hour), idle("b", 5*time.Hour, 5*time.Hour)}},
			want: Decision{Reason: "at minimum (2)"},
		},
		{
			name: "autoscaling off removes idle nodes above min",
			in: Input{Now: now, Policy: policy(minMax(1, 10), func(p *Policy) { p.Autoscaling = false }),
				Nodes: []Node{idle("a", 5*time.Hour, time.Minute), idle("b", 5*time.Hour, 2*time.Minute), busy("c", time.Hour)}},
			want: Decision{Remove: []string{"b", "a"}, Reason: "removing 2 idle nodes above the fleet size (1)"},
		},
		{
			name: "immediate removes idle nodes, not busy or booting ones",
			in: Input{Now: now, Policy: policy(),
				Nodes: []Node{idle("a", time.Hour, time.Second), busy("b", time.Hour), booting("c"), idle("d", time.Hour, time.Minute)}},
			want: Decision{Remove: []string{"d", "a"}, Reason: "removing 2 idle nodes (immediate scale-down)"},
		},
		{
			name: "immediate never removes below min",
			in: Input{Now: now, Policy: policy(minMax(2, 10)),
				Nodes: []Node{idle("a", time.Hour, time.Second), booting("c"), idle("d", time.Hour, time.Minute)}},
			want: Decision{Remove: []string{"d"}, Reason: "removing 1 idle node (immediate scale-down); idle: 1 node kept at minimum (2)"},
		},
		{
			name: "idle nodes needed by queued demand are kept",
			in: Input{Now: now, Policy: policy(minMax(0, 3)),
				Nodes: []Node{idle("a", time.Hour, time.Minute), idle("b", time.Hour, 2*time.Minute), busy("c", time.Hour)},
				Queue: []Demand{demand(3, time.Minute)}},
			want: Decision{Reason: "1 queued job waiting for running jobs; max reached (3 nodes)"},
		},
		{
			name: "idle timeout: kept until it expires",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownIdle)),
				Nodes: []Node{idle("a", time.Hour, 4*time.Minute), idle("b", time.Hour, 10*time.Minute), idle("c", time.Hour, 7*time.Minute)}},
			want: Decision{Remove: []string{"b"}, Reason: "removing 1 idle node (idle for 10m0s); idle: 2 nodes kept until idle for 10m0s",
				NextCheck: now.Add(3 * time.Minute)},
		},
		{
			name: "idle timeout under per-hour billing is the same",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownIdle), hourly),
				Nodes: []Node{idle("a", 50*time.Minute, 11*time.Minute), idle("b", 20*time.Minute, time.Minute)}},
			want: Decision{Remove: []string{"a"}, Reason: "removing 1 idle node (idle for 10m0s); idle: 1 node kept until idle for 10m0s",
				NextCheck: now.Add(9 * time.Minute)},
		},
		{
			name: "billing-hour per hour: removed only in the last minute of the paid hour",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownBillingHour), hourly),
				Nodes: []Node{
					idle("a", 30*time.Minute, 20*time.Minute),             // paid until +30m
					idle("b", 59*time.Minute+30*time.Second, time.Minute), // paid until +30s
					idle("c", 90*time.Minute, 80*time.Minute),             // paid until +30m (second hour)
					idle("d", 2*time.Hour, time.Minute),                   // exactly two hours: paid until now
				}},
			want: Decision{Remove: []string{"d", "b"}, Reason: "removing 2 idle nodes (their paid hour ends); idle: 2 nodes kept until their paid hour ends",
				NextCheck: now.Add(29 * time.Minute)},
		},
		{
			name: "billing-hour per second: only the 60-second minimum is paid ahead",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownBillingHour)),
				Nodes: []Node{idle("a", 30*time.Minute, 20*time.Minute), idle("b", 30*time.Second, 10*time.Second)}},
			want: Decision{Remove: []string{"a"}, Reason: "removing 1 idle node (their paid time ends); idle: 1 node kept until its paid time ends",
				NextCheck: now.Add(25 * time.Second)},
		},
		{
			name: "billing-hour removes the node whose paid hour ends soonest at min",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownBillingHour), hourly, minMax(1, 10)),
				Nodes: []Node{idle("a", 59*time.Minute+30*time.Second, time.Minute), idle("b", 119*time.Minute+50*time.Second, time.Minute)}},
			want: Decision{Remove: []string{"b"}, Reason: "removing 1 idle node (their paid hour ends); idle: 1 node kept at minimum (1)"},
		},
		{
			name: "billing-hour: a node past the minimum goes when its paid hour ends, the other stays at minimum",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownBillingHour), hourly, minMax(1, 10)),
				Nodes: []Node{idle("a", 30*time.Minute, time.Minute), idle("b", 20*time.Minute, time.Minute)}},
			want: Decision{Reason: "idle: 1 node kept until its paid hour ends, 1 at minimum (1)", NextCheck: now.Add(29 * time.Minute)},
		},
		{
			name: "static launches to max",
			in:   Input{Now: now, Policy: policy(scaleDown(ScaleDownStatic), minMax(0, 3)), Nodes: []Node{idle("a", time.Hour, time.Hour)}},
			want: Decision{Launch: []Launch{{Type: "t3.small", Count: 2}}, Reason: "2 launching to keep the fleet at its maximum (3)"},
		},
		{
			name: "static never removes idle nodes",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownStatic), minMax(0, 2)),
				Nodes: []Node{idle("a", 9*time.Hour, 9*time.Hour), idle("b", 9*time.Hour, 9*time.Hour)}},
			want: Decision{Reason: "static: kept at 2 nodes"},
		},
		{
			name: "static above max (max lowered) removes the extra idle nodes",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownStatic), minMax(0, 1)),
				Nodes: []Node{idle("a", 9*time.Hour, 2*time.Hour), idle("b", 9*time.Hour, time.Hour)}},
			want: Decision{Remove: []string{"a"}, Reason: "removing 1 idle node above the fleet size (1)"},
		},
		{
			name: "above max (max lowered) idle nodes go first, whatever the policy",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownIdle), minMax(0, 1)),
				Nodes: []Node{idle("a", 9*time.Hour, time.Minute), idle("b", 9*time.Hour, 2*time.Minute), busy("c", time.Hour)}},
			want: Decision{Remove: []string{"b", "a"}, Reason: "removing 2 idle nodes above the maximum (1)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Plan(tc.in)
			if diff := cmp.Diff(tc.want, got, ignoreCodes); diff != "" {
				t.Errorf("Plan() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// ignoreCodes leaves the metric codes out of table tests about reasons;
// TestPlan_Codes is about them.
var ignoreCodes = cmpopts.IgnoreFields(Decision{}, "Up", "Down")

func TestPlan_Codes(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		up   string
		down map[string]int
	}{
		{
			name: "queued jobs",
			in:   Input{Now: now, Policy: policy(scaleDown(ScaleDownIdle)), Queue: []Demand{demand(2, time.Hour)}},
			up:   UpQueued,
		},
		{
			name: "the minimum",
			in:   Input{Now: now, Policy: policy(scaleDown(ScaleDownIdle), minMax(2, 10))},
			up:   UpMinimum,
		},
		{
			name: "static",
			in:   Input{Now: now, Policy: policy(scaleDown(ScaleDownStatic), minMax(0, 3))},
			up:   UpFixed,
		},
		{
			name: "above max, then idle",
			in: Input{Now: now, Policy: policy(scaleDown(ScaleDownIdle), minMax(0, 2)),
				Nodes: []Node{idle("a", 9*time.Hour, time.Hour), idle("b", 9*time.Hour, time.Hour), idle("c", 9*time.Hour, time.Hour)}},
			down: map[string]int{DownAboveMax: 1, DownIdle: 2},
		},
		{
			name: "stratus: not needed",
			in:   Input{Now: now, Policy: policy(scaleDown(ScaleDownStratus)), Nodes: []Node{idle("a", 2*time.Hour, time.Minute)}},
			down: map[string]int{DownNotNeeded: 1},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Plan(tc.in)
			if got.Up != tc.up || !cmp.Equal(got.Down, tc.down, cmpopts.EquateEmpty()) {
				t.Errorf("Plan() codes up %q down %v, want %q %v (decision %+v)", got.Up, got.Down, tc.up, tc.down, got)
			}
		})
	}
}

func TestUseOrder(t *testing.T) {
	nodes := []Node{
		idle("old", 50*time.Minute, 40*time.Minute), // paid until +10m
		idle("new", 10*time.Minute, 5*time.Minute),  // paid until +50m
		busy("busy", time.Hour),
		booting("boot"),
		idle("mid", 10*time.Minute, 2*time.Minute), // paid until +50m, idle less long
	}
	got := UseOrder(nodes, now, cost.PerHour)
	want := []string{"mid", "new", "old"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("UseOrder() mismatch (-want +got):\n%s", diff)
	}
}

// randomInput makes a fleet, a queue and a policy of random shape.
func randomInput(r *rand.Rand) Input {
	policies := []ScaleDown{ScaleDownStratus, ScaleDownImmediate, ScaleDownIdle, ScaleDownBillingHour, ScaleDownStatic}
	p := policy(scaleDown(policies[r.IntN(len(policies))]))
	if r.IntN(2) == 0 {
		p.Billing = cost.PerHour
	}
	p.Min = r.IntN(4)
	p.Max = p.Min + r.IntN(8)
	p.Autoscaling = r.IntN(5) > 0
	p.BatchWindow = time.Duration(r.IntN(3)) * 20 * time.Second
	in := Input{Now: now, Policy: p}
	for i := range r.IntN(12) {
		id := fmt.Sprintf("n%02d", i)
		launched := time.Duration(r.IntN(200)) * time.Minute
		switch r.IntN(3) {
		case 0:
			in.Nodes = append(in.Nodes, booting(id))
		case 1:
			in.Nodes = append(in.Nodes, busy(id, time.Duration(r.IntN(20)-2)*time.Minute))
		default:
			in.Nodes = append(in.Nodes, idle(id, launched, time.Duration(r.IntN(int(launched/time.Minute)+1))*time.Minute))
		}
	}
	for range r.IntN(5) {
		in.Queue = append(in.Queue, demand(1+r.IntN(6), time.Duration(r.IntN(90))*time.Second))
	}
	for range r.IntN(30) {
		in.Recent = append(in.Recent, Arrival{At: ago(time.Duration(r.IntN(180)) * time.Minute), Nodes: 1 + r.IntN(4)})
	}
	slices.SortFunc(in.Recent, func(a, b Arrival) int { return a.At.Compare(b.At) })
	if r.IntN(3) == 0 {
		in.Unavailable = map[string]time.Time{"t3.small": now.Add(time.Duration(r.IntN(20)-10) * time.Minute)}
		if r.IntN(2) == 0 {
			in.Unavailable["c5.large"] = now.Add(time.Minute)
		}
	}
	return in
}

func TestPlan_Properties(t *testing.T) {
	for seed := range 5000 {
		r := rand.New(rand.NewPCG(uint64(seed), 11))
		in := randomInput(r)
		d := Plan(in)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: %s\npolicy: %+v\nnodes: %+v\nqueue: %+v\ndecision: %+v", seed, fmt.Sprintf(format, args...), in.Policy, in.Nodes, in.Queue, d)
		}
		p := in.Policy
		total := len(in.Nodes)
		launched := 0
		for _, l := range d.Launch {
			if l.Count <= 0 {
				fail("launch of %d nodes", l.Count)
			}
			if u, ok := in.Unavailable[l.Type]; ok && u.After(now) {
				fail("launches unavailable type %s", l.Type)
			}
			launched += l.Count
		}
		if launched > 0 && total+launched > p.Max {
			fail("%d nodes + %d launched is above max %d", total, launched, p.Max)
		}
		if launched > 0 && len(d.Remove) > 0 {
			fail("launches and removes at once")
		}
		byID := map[string]Node{}
		for _, n := range in.Nodes {
			byID[n.ID] = n
		}
		seen := map[string]bool{}
		for _, id := range d.Remove {
			n, ok := byID[id]
			if !ok || seen[id] {
				fail("removes unknown or repeated node %s", id)
			}
			seen[id] = true
			if !n.Ready || n.Busy {
				fail("removes busy or booting node %s", id)
			}
		}
		if len(d.Remove) > 0 && total-len(d.Remove) < p.Min {
			fail("removes %d of %d nodes, below min %d", len(d.Remove), total, p.Min)
		}
		if p.Autoscaling && p.ScaleDown == ScaleDownStatic && len(d.Remove) > max(0, total-p.Max) {
			fail("static removes %d of %d nodes (max %d)", len(d.Remove), total, p.Max)
		}
		if !p.Autoscaling && total+launched > max(p.Min, total) {
			fail("autoscaling off grows the fleet past min: %d + %d", total, launched)
		}
		if !d.NextCheck.IsZero() && !d.NextCheck.After(now) {
			fail("NextCheck %v not after now", d.NextCheck)
		}
		if d.Reason == "" {
			fail("no reason")
		}
		if total < p.Min && total+launched < p.Min && !strings.Contains(d.Reason, "out of capacity") {
			fail("below min without a capacity problem")
		}

		// Deterministic, whatever the order of the nodes.
		shuffled := in
		shuffled.Nodes = slices.Clone(in.Nodes)
		r.Shuffle(len(shuffled.Nodes), func(a, b int) { shuffled.Nodes[a], shuffled.Nodes[b] = shuffled.Nodes[b], shuffled.Nodes[a] })
		if diff := cmp.Diff(d, Plan(shuffled)); diff != "" {
			fail("not deterministic (-first +shuffled):\n%s", diff)
		}
		// The codes account for every launch and removal.
		if (d.Up != "") != (len(d.Launch) > 0) || (d.Up != "" && !slices.Contains([]string{UpQueued, UpAhead, UpMinimum, UpFixed}, d.Up)) {
			fail("Up %q for launches %v", d.Up, d.Launch)
		}
		downs := 0
		for code, n := range d.Down {
			if n <= 0 || !slices.Contains([]string{DownAboveMax, DownFixed, DownImmediate, DownIdle, DownPaidEnds, DownNotNeeded}, code) {
				fail("Down %v", d.Down)
			}
			downs += n
		}
		if downs != len(d.Remove) {
			fail("Down %v counts %d removals, Remove has %d", d.Down, downs, len(d.Remove))
		}
	}
}

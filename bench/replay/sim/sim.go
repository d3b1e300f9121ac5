// Package sim replays a job trace through the real placer (jobs.Place) and
// fleet planner (fleet.Plan) in simulated time, against a simulated
// provider whose nodes become ready a fixed launch latency after they are
// launched and are billed from launch to removal. It measures what a
// scale-down policy costs (billed against useful node-hours) and what it
// makes jobs wait.
//
// The engine is event-driven: job arrivals, job ends, nodes becoming ready
// and the planner's own NextCheck times are events; after the events of an
// instant, one pass runs placement, then the planner, and applies both.
package sim

import (
	"container/heap"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/stratus-cloud/stratus/internal/fleet"
	"github.com/stratus-cloud/stratus/internal/jobs"
)

// Job is a job of the replayed trace.
type Job struct {
	ID     int64
	Submit time.Time
	Nodes  int
	// Runtime is how long it runs once started (its recorded run time,
	// even past its limit).
	Runtime time.Duration
	// Limit is its time limit, the placer's estimate.
	Limit time.Duration
}

// Config is one replay's setup.
type Config struct {
	// Policy is the fleet's scaling policy; its LaunchLatency is also the
	// simulated provider's, and its Billing the bill's.
	Policy fleet.Policy
	// RecentWindow is how far back Input.Recent reaches
	// (fleet.RecentWindow if zero).
	RecentWindow time.Duration
	// Drain is how long after the last job ends the planner keeps running
	// (to scale down) before the remaining nodes are billed and stopped
	// (48 hours if zero).
	Drain time.Duration
}

// Result is what one replay measured.
type Result struct {
	Jobs int
	// UsefulNodeSeconds sums nodes × run time over the jobs.
	UsefulNodeSeconds int64
	// BilledNodeSeconds sums the billed length of every node's running
	// period, launch latency included.
	BilledNodeSeconds int64
	// Launches counts nodes launched.
	Launches int
	// MeanWait and P95Wait are over the jobs' waits from submission to
	// start.
	MeanWait, P95Wait time.Duration
	// PeakNodes is the largest fleet, booting nodes included.
	PeakNodes int
	// Passes counts planner passes.
	Passes int
}

// UsefulNodeHours returns the useful node-hours.
func (r Result) UsefulNodeHours() float64 { return float64(r.UsefulNodeSeconds) / 3600 }

// BilledNodeHours returns the billed node-hours.
func (r Result) BilledNodeHours() float64 { return float64(r.BilledNodeSeconds) / 3600 }

// WasteRatio returns billed ÷ useful node-hours (0 without useful work).
func (r Result) WasteRatio() float64 {
	if r.UsefulNodeSeconds == 0 {
		return 0
	}
	return float64(r.BilledNodeSeconds) / float64(r.UsefulNodeSeconds)
}

// Run replays jobs, which must be sorted by submission time, and returns
// the measurements. It fails if the planner breaks its contract (removes a
// busy or booting node, launches above Max) or a job can never start.
func Run(trace []Job, cfg Config) (Result, error) {
	if cfg.RecentWindow <= 0 {
		cfg.RecentWindow = fleet.RecentWindow
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 48 * time.Hour
	}
	s := &sim{
		cfg:     cfg,
		trace:   trace,
		byID:    map[string]*node{},
		checks:  map[int64]bool{},
		started: make([]bool, len(trace)),
		waits:   make([]time.Duration, 0, len(trace)),
	}
	for i := range trace {
		if i > 0 && trace[i].Submit.Before(trace[i-1].Submit) {
			return Result{}, fmt.Errorf("job %d submitted before job %d: sort the trace", trace[i].ID, trace[i-1].ID)
		}
		if trace[i].Nodes > cfg.Policy.Max {
			return Result{}, fmt.Errorf("job %d needs %d nodes, more than the maximum %d", trace[i].ID, trace[i].Nodes, cfg.Policy.Max)
		}
		s.push(trace[i].Submit, evArrival, i)
	}
	if err := s.loop(); err != nil {
		return Result{}, err
	}
	return s.result(), nil
}

type eventKind int

const (
	evEnd eventKind = iota
	evReady
	evArrival
	evCheck
)

type event struct {
	at   int64 // unix nanoseconds
	kind eventKind
	idx  int // job index (arrival, end)
	node *node
}

type eventHeap []event

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if h[i].at != h[j].at {
		return h[i].at < h[j].at
	}
	if h[i].kind != h[j].kind {
		return h[i].kind < h[j].kind
	}
	return h[i].idx < h[j].idx // arrivals of one instant in trace order
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(event)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	*h = old[:len(old)-1]
	return e
}

type node struct {
	fleet.Node
	job int // index of the job it runs, or -1
}

type runJob struct {
	start time.Time
	nodes []string
}

type sim struct {
	cfg   Config
	trace []Job
	now   time.Time

	events eventHeap
	checks map[int64]bool // pending check events

	nodes  []*node
	byID   map[string]*node
	nextID int

	queue    []int // waiting job indices, in submit order
	running  map[int]*runJob
	started  []bool
	recent   []fleet.Arrival // every arrival so far, in order
	recentLo int

	done    int
	lastEnd time.Time

	useful, billed int64
	launches       int
	peak           int
	passes         int
	waits          []time.Duration
}

func (s *sim) push(at time.Time, kind eventKind, idx int) {
	heap.Push(&s.events, event{at: at.UnixNano(), kind: kind, idx: idx})
}

func (s *sim) loop() error {
	s.running = map[int]*runJob{}
	var stop time.Time
	for s.events.Len() > 0 {
		at := s.events[0].at
		s.now = time.Unix(0, at).In(s.trace[0].Submit.Location())
		if s.done == len(s.trace) && s.now.After(s.lastEnd.Add(s.cfg.Drain)) {
			break
		}
		for s.events.Len() > 0 && s.events[0].at == at {
			e := heap.Pop(&s.events).(event)
			s.handle(e)
		}
		if err := s.pass(); err != nil {
			return fmt.Errorf("at %s: %w", s.now.Format(time.DateTime), err)
		}
		stop = s.now
	}
	if s.done < len(s.trace) {
		return fmt.Errorf("%d jobs never started or ended (the fleet could not run them)", len(s.trace)-s.done)
	}
	// Nodes still up are billed until the replay stops.
	for _, n := range s.nodes {
		s.bill(n, stop)
	}
	return nil
}

func (s *sim) handle(e event) {
	switch e.kind {
	case evArrival:
		j := s.trace[e.idx]
		s.queue = append(s.queue, e.idx)
		// Arrivals come in trace order, so s.recent[i] is job i's.
		s.recent = append(s.recent, fleet.Arrival{At: j.Submit, Nodes: j.Nodes})
	case evEnd:
		r := s.running[e.idx]
		delete(s.running, e.idx)
		for _, id := range r.nodes {
			n := s.byID[id]
			n.Busy, n.BusyUntil, n.IdleSince, n.job = false, time.Time{}, s.now, -1
		}
		s.recent[e.idx].Runtime = s.trace[e.idx].Runtime
		s.done++
		s.lastEnd = s.now
	case evReady:
		if n := e.node; s.byID[n.ID] == n {
			n.Ready, n.IdleSince = true, s.now
		}
	case evCheck:
		delete(s.checks, e.at)
	}
}

// pass runs placement and the planner once and applies their decisions.
func (s *sim) pass() error {
	s.passes++
	if err := s.place(); err != nil {
		return err
	}

	// Recent arrivals: the last RecentWindow of them.
	from := s.now.Add(-s.cfg.RecentWindow)
	for s.recentLo < len(s.recent) && s.recent[s.recentLo].At.Before(from) {
		s.recentLo++
	}
	in := fleet.Input{
		Now:    s.now,
		Policy: s.cfg.Policy,
		Nodes:  make([]fleet.Node, len(s.nodes)),
		Queue:  make([]fleet.Demand, len(s.queue)),
		Recent: s.recent[s.recentLo:len(s.recent):len(s.recent)],
	}
	for i, n := range s.nodes {
		in.Nodes[i] = n.Node
	}
	for i, idx := range s.queue {
		j := s.trace[idx]
		in.Queue[i] = fleet.Demand{Nodes: j.Nodes, TimeLimit: j.Limit, SubmittedAt: j.Submit}
	}
	d := fleet.Plan(in)

	for _, id := range d.Remove {
		n, ok := s.byID[id]
		if !ok {
			return fmt.Errorf("planner removes unknown node %s", id)
		}
		if !n.Ready || n.Busy {
			return fmt.Errorf("planner removes node %s that is booting or busy", id)
		}
		s.bill(n, s.now)
		delete(s.byID, id)
		s.nodes = slices.DeleteFunc(s.nodes, func(m *node) bool { return m == n })
	}
	for _, l := range d.Launch {
		for range l.Count {
			s.nextID++
			n := &node{Node: fleet.Node{ID: fmt.Sprintf("n%06d", s.nextID), Type: l.Type, LaunchedAt: s.now}, job: -1}
			s.nodes = append(s.nodes, n)
			s.byID[n.ID] = n
			s.launches++
			heap.Push(&s.events, event{at: s.now.Add(s.cfg.Policy.LaunchLatency).UnixNano(), kind: evReady, node: n})
		}
	}
	if len(s.nodes) > s.cfg.Policy.Max {
		return fmt.Errorf("fleet of %d nodes above the maximum %d", len(s.nodes), s.cfg.Policy.Max)
	}
	s.peak = max(s.peak, len(s.nodes))
	if t := d.NextCheck; !t.IsZero() {
		if !t.After(s.now) {
			return fmt.Errorf("planner asks to be checked at %s, not after now", t.Format(time.DateTime))
		}
		if at := t.UnixNano(); !s.checks[at] {
			s.checks[at] = true
			heap.Push(&s.events, event{at: at, kind: evCheck})
		}
	}
	return nil
}

// place runs jobs.Place and starts what it assigns.
func (s *sim) place() error {
	if len(s.queue) == 0 {
		return nil
	}
	fn := make([]fleet.Node, 0, len(s.nodes))
	for _, n := range s.nodes {
		if n.Ready && !n.Busy {
			fn = append(fn, n.Node)
		}
	}
	if len(fn) == 0 {
		return nil
	}
	in := jobs.Input{
		Now:   s.now,
		Queue: make([]jobs.QueuedJob, len(s.queue)),
		Idle:  fleet.UseOrder(fn, s.now, s.cfg.Policy.Billing),
	}
	for i, idx := range s.queue {
		j := s.trace[idx]
		in.Queue[i] = jobs.QueuedJob{ID: int64(idx), Nodes: j.Nodes, TimeLimit: j.Limit, SubmittedAt: j.Submit}
	}
	for idx, r := range s.running {
		in.Running = append(in.Running, jobs.RunningJob{ID: int64(idx), Nodes: r.nodes, EndsBy: r.start.Add(s.trace[idx].Limit)})
	}
	res := jobs.Place(in)
	if len(res.Assignments) == 0 {
		return nil
	}
	for _, a := range res.Assignments {
		idx := int(a.Job)
		j := s.trace[idx]
		if s.started[idx] {
			return fmt.Errorf("placer starts job %d twice", j.ID)
		}
		if len(a.Nodes) != max(j.Nodes, 1) {
			return fmt.Errorf("placer gives job %d %d nodes, it needs %d", j.ID, len(a.Nodes), j.Nodes)
		}
		for _, id := range a.Nodes {
			n, ok := s.byID[id]
			if !ok || !n.Ready || n.Busy {
				return fmt.Errorf("placer puts job %d on node %s, which is not idle", j.ID, id)
			}
			n.Busy, n.BusyUntil, n.job = true, s.now.Add(j.Limit), idx
		}
		s.started[idx] = true
		s.running[idx] = &runJob{start: s.now, nodes: a.Nodes}
		s.waits = append(s.waits, s.now.Sub(j.Submit))
		s.useful += int64(len(a.Nodes)) * int64(j.Runtime/time.Second)
		s.push(s.now.Add(j.Runtime), evEnd, idx)
	}
	s.queue = slices.DeleteFunc(s.queue, func(idx int) bool { return s.started[idx] })
	return nil
}

// bill adds node n's running period, from launch to end, to the bill.
func (s *sim) bill(n *node, end time.Time) {
	s.billed += int64(s.cfg.Policy.Billing.Billed(end.Sub(n.LaunchedAt)) / time.Second)
}

func (s *sim) result() Result {
	r := Result{
		Jobs:              len(s.trace),
		UsefulNodeSeconds: s.useful,
		BilledNodeSeconds: s.billed,
		Launches:          s.launches,
		PeakNodes:         s.peak,
		Passes:            s.passes,
	}
	if len(s.waits) > 0 {
		var sum float64
		for _, w := range s.waits {
			sum += w.Seconds()
		}
		r.MeanWait = time.Duration(sum / float64(len(s.waits)) * float64(time.Second))
		sorted := slices.Clone(s.waits)
		slices.Sort(sorted)
		// Nearest rank.
		k := int(math.Ceil(0.95*float64(len(sorted)))) - 1
		r.P95Wait = sorted[max(k, 0)]
	}
	return r
}

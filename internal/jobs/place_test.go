package jobs

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// at returns t0 plus d.
func at(d time.Duration) time.Time { return t0.Add(d) }

// nodes returns node ids prefix1 … prefixN.
func nodes(prefix string, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%d", prefix, i+1)
	}
	return ids
}

// job builds a queued job submitted in ID order.
func job(id int64, n int, limit time.Duration) QueuedJob {
	return QueuedJob{ID: id, Nodes: n, TimeLimit: limit, SubmittedAt: at(time.Duration(id) * time.Second)}
}

// running builds a running job on the given nodes ending at t0+end.
func running(id int64, end time.Duration, on ...string) RunningJob {
	return RunningJob{ID: id, Nodes: on, EndsBy: at(end)}
}

func TestPlace(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name string
		in   Input
		want Result
	}{
		{
			name: "empty queue starts nothing",
			in:   Input{Now: t0, Idle: nodes("n", 3)},
			want: Result{},
		},
		{
			name: "jobs start in submit order on idle nodes in their order",
			in: Input{Now: t0, Idle: nodes("n", 4), Queue: []QueuedJob{
				job(1, 2, h), job(2, 1, h), job(3, 1, h),
			}},
			want: Result{Assignments: []Assignment{
				{Job: 1, Nodes: []string{"n1", "n2"}},
				{Job: 2, Nodes: []string{"n3"}},
				{Job: 3, Nodes: []string{"n4"}},
			}},
		},
		{
			name: "strict submit order without a backfill opportunity",
			// Head needs 3; 2 idle + 1 freed at +1h → shadow +1h, no
			// extra nodes. Job 2 would run past the shadow time.
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1")},
				Queue:   []QueuedJob{job(1, 3, h), job(2, 1, 2*h)},
			},
			want: Result{HeadJob: 1, Reservation: at(h)},
		},
		{
			name: "backfill that ends before the shadow time",
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue:   []QueuedJob{job(1, 4, h), job(2, 2, 30*time.Minute), job(3, 1, time.Minute)},
			},
			want: Result{HeadJob: 1, Reservation: at(h), Assignments: []Assignment{
				{Job: 2, Nodes: []string{"n1", "n2"}},
			}},
		},
		{
			name: "backfill ending exactly at the shadow time is allowed",
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue:   []QueuedJob{job(1, 4, h), job(2, 2, h)},
			},
			want: Result{HeadJob: 1, Reservation: at(h), Assignments: []Assignment{
				{Job: 2, Nodes: []string{"n1", "n2"}},
			}},
		},
		{
			name: "backfill that would delay the head is refused",
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue:   []QueuedJob{job(1, 4, h), job(2, 2, h+time.Second)},
			},
			want: Result{HeadJob: 1, Reservation: at(h)},
		},
		{
			name: "backfill on extra nodes only, then before the shadow time",
			// 3 idle + 2 freed at +1h = 5 for a head of 4: one extra node.
			in: Input{Now: t0, Idle: nodes("n", 3),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue: []QueuedJob{
					job(1, 4, h),
					job(2, 1, 5*h),            // extra node
					job(3, 1, 5*h),            // no extra node left
					job(4, 2, 10*time.Minute), // ends before the shadow time
					job(5, 1, 10*time.Minute), // nothing idle left
				},
			},
			want: Result{HeadJob: 1, Reservation: at(h), Assignments: []Assignment{
				{Job: 2, Nodes: []string{"n1"}},
				{Job: 4, Nodes: []string{"n2", "n3"}},
			}},
		},
		{
			name: "multi-node jobs take consecutive idle nodes",
			in: Input{Now: t0, Idle: []string{"c", "a", "b", "e", "d"},
				Queue: []QueuedJob{job(1, 3, h), job(2, 2, h)},
			},
			want: Result{Assignments: []Assignment{
				{Job: 1, Nodes: []string{"c", "a", "b"}},
				{Job: 2, Nodes: []string{"e", "d"}},
			}},
		},
		{
			name: "zero time limit cannot backfill before a reservation",
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue:   []QueuedJob{job(1, 4, h), job(2, 1, 0)},
			},
			want: Result{HeadJob: 1, Reservation: at(h)},
		},
		{
			name: "zero time limit may use extra nodes",
			in: Input{Now: t0, Idle: nodes("n", 3),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue:   []QueuedJob{job(1, 4, h), job(2, 1, 0)},
			},
			want: Result{HeadJob: 1, Reservation: at(h), Assignments: []Assignment{
				{Job: 2, Nodes: []string{"n1"}},
			}},
		},
		{
			name: "zero time limit head still starts when it fits",
			in:   Input{Now: t0, Idle: nodes("n", 1), Queue: []QueuedJob{job(1, 1, 0)}},
			want: Result{Assignments: []Assignment{{Job: 1, Nodes: []string{"n1"}}}},
		},
		{
			name: "head wider than the fleet: no reservation, no backfill",
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1")},
				Queue:   []QueuedJob{job(1, 4, h), job(2, 1, time.Minute)},
			},
			want: Result{HeadJob: 1},
		},
		{
			name: "shadow counts every job ending at that instant",
			// Head 3: 1 idle + 2 (job 8) suffice at +1h, job 9 also ends
			// then, so 2 extra nodes.
			in: Input{Now: t0, Idle: nodes("n", 1),
				Running: []RunningJob{running(8, h, "a1", "a2"), running(9, h, "b1", "b2"), running(7, 3*h, "c1")},
				Queue:   []QueuedJob{job(1, 3, h), job(2, 1, 9*h)},
			},
			want: Result{HeadJob: 1, Reservation: at(h), Assignments: []Assignment{
				{Job: 2, Nodes: []string{"n1"}},
			}},
		},
		{
			name: "shadow is the earliest end that frees enough nodes",
			in: Input{Now: t0, Idle: nodes("n", 1),
				Running: []RunningJob{running(7, 3*h, "c1"), running(8, 2*h, "a1"), running(9, h, "b1")},
				Queue:   []QueuedJob{job(1, 3, h), job(2, 1, 2*h+time.Minute), job(3, 1, 90*time.Minute)},
			},
			want: Result{HeadJob: 1, Reservation: at(2 * h), Assignments: []Assignment{
				{Job: 3, Nodes: []string{"n1"}},
			}},
		},
		{
			name: "a running job past its end counts as ending now",
			in: Input{Now: t0, Idle: nodes("n", 1),
				Running: []RunningJob{running(9, -h, "b1")},
				Queue:   []QueuedJob{job(1, 2, h), job(2, 1, time.Minute)},
			},
			want: Result{HeadJob: 1, Reservation: t0},
		},
		{
			name: "a job asking for no nodes needs one",
			in:   Input{Now: t0, Idle: nodes("n", 1), Queue: []QueuedJob{job(1, 0, h), job(2, 1, h)}},
			want: Result{HeadJob: 2, Assignments: []Assignment{{Job: 1, Nodes: []string{"n1"}}}},
		},
		{
			name: "head after started jobs gets the reservation",
			in: Input{Now: t0, Idle: nodes("n", 2),
				Running: []RunningJob{running(9, h, "b1", "b2")},
				Queue:   []QueuedJob{job(1, 1, h), job(2, 3, h), job(3, 1, 30*time.Minute)},
			},
			want: Result{HeadJob: 2, Reservation: at(h), Assignments: []Assignment{
				{Job: 1, Nodes: []string{"n1"}},
				{Job: 3, Nodes: []string{"n2"}},
			}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := Place(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Place() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlace_Deterministic(t *testing.T) {
	h := time.Hour
	in := Input{Now: t0, Idle: nodes("n", 3),
		Running: []RunningJob{running(7, h, "a1"), running(8, h, "b1", "b2"), running(9, 2*h, "c1")},
		Queue:   []QueuedJob{job(1, 5, h), job(2, 1, 3*h), job(3, 2, 30*time.Minute)},
	}
	want := Place(in)
	for i := range 20 {
		shuffled := in
		shuffled.Running = slices.Clone(in.Running)
		rand.New(rand.NewPCG(uint64(i), 1)).Shuffle(len(shuffled.Running), func(a, b int) {
			shuffled.Running[a], shuffled.Running[b] = shuffled.Running[b], shuffled.Running[a]
		})
		if diff := cmp.Diff(want, Place(shuffled)); diff != "" {
			t.Fatalf("Place() depends on the order of running jobs (-first +shuffled):\n%s", diff)
		}
	}
}

func TestPlace_DoesNotModifyInput(t *testing.T) {
	in := Input{Now: t0, Idle: nodes("n", 3),
		Running: []RunningJob{running(9, 2*time.Hour, "b1"), running(8, time.Hour, "a1")},
		Queue:   []QueuedJob{job(1, 5, time.Hour), job(2, 1, time.Minute)},
	}
	before := Input{Now: in.Now, Idle: slices.Clone(in.Idle), Running: slices.Clone(in.Running), Queue: slices.Clone(in.Queue)}
	res := Place(in)
	if len(res.Assignments) > 0 {
		res.Assignments[0].Nodes[0] = "changed"
	}
	if diff := cmp.Diff(before, in); diff != "" {
		t.Errorf("Place() modified its input (-before +after):\n%s", diff)
	}
}

// randomInput makes a queue, running jobs and idle nodes of random shape.
func randomInput(r *rand.Rand) Input {
	in := Input{Now: t0}
	limits := []time.Duration{0, time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 10 * time.Hour}
	in.Idle = nodes("i", r.IntN(8))
	for k := range r.IntN(6) {
		var on []string
		for m := range 1 + r.IntN(4) {
			on = append(on, fmt.Sprintf("r%d-%d", k, m))
		}
		end := time.Duration(r.IntN(8)-1) * 30 * time.Minute
		in.Running = append(in.Running, running(int64(100+k), end, on...))
	}
	for k := range r.IntN(10) {
		in.Queue = append(in.Queue, job(int64(k+1), r.IntN(7), limits[r.IntN(len(limits))]))
	}
	return in
}

// shadowOf computes, independently of Place, the earliest time at which
// need nodes are free: idle now plus those of running jobs ended by then.
func shadowOf(now time.Time, need, idle int, running []RunningJob) (time.Time, bool) {
	var times []time.Time
	times = append(times, now)
	for _, r := range running {
		times = append(times, r.EndsBy)
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for _, t := range times {
		if t.Before(now) {
			continue
		}
		free := idle
		for _, r := range running {
			if !r.EndsBy.After(t) {
				free += len(r.Nodes)
			}
		}
		if free >= need {
			return t, true
		}
	}
	return time.Time{}, false
}

func TestPlace_Properties(t *testing.T) {
	forever := t0.Add(1000 * time.Hour)
	for seed := range 3000 {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		in := randomInput(r)
		res := Place(in)
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d: %s\ninput: %+v\nresult: %+v", seed, fmt.Sprintf(format, args...), in, res)
		}

		isIdle := map[string]bool{}
		for _, n := range in.Idle {
			isIdle[n] = true
		}
		byID := map[int64]QueuedJob{}
		pos := map[int64]int{}
		for i, j := range in.Queue {
			byID[j.ID] = j
			pos[j.ID] = i
		}
		used := map[string]bool{}
		started := map[int64]bool{}
		total := 0
		for _, a := range res.Assignments {
			j, ok := byID[a.Job]
			if !ok || started[a.Job] {
				fail("job %d started twice or not queued", a.Job)
			}
			started[a.Job] = true
			if len(a.Nodes) != max(j.Nodes, 1) {
				fail("job %d needs %d nodes, got %d", a.Job, j.Nodes, len(a.Nodes))
			}
			for _, n := range a.Nodes {
				if !isIdle[n] {
					fail("node %s is not idle", n)
				}
				if used[n] {
					fail("node %s assigned twice", n)
				}
				used[n] = true
			}
			total += len(a.Nodes)
		}
		if total > len(in.Idle) {
			fail("%d nodes used, %d idle", total, len(in.Idle))
		}

		// Jobs before the head all start; the head does not.
		headPos := len(in.Queue)
		if res.HeadJob != 0 {
			headPos = pos[res.HeadJob]
			if started[res.HeadJob] {
				fail("head job %d started", res.HeadJob)
			}
		}
		for i, j := range in.Queue {
			if i < headPos && !started[j.ID] {
				fail("job %d ahead of the head did not start", j.ID)
			}
		}
		if res.HeadJob == 0 {
			continue
		}

		// The head's reservation, recomputed without and with the
		// backfilled jobs, is not later with them.
		head := byID[res.HeadJob]
		freeBefore := len(in.Idle) // idle nodes once the jobs ahead of the head started
		backfilled := 0
		var after []RunningJob
		after = append(after, in.Running...)
		for _, a := range res.Assignments {
			j := byID[a.Job]
			if pos[a.Job] < headPos {
				freeBefore -= len(a.Nodes)
				continue
			}
			end := in.Now.Add(j.TimeLimit)
			if j.TimeLimit == 0 {
				end = forever
			}
			after = append(after, RunningJob{ID: j.ID, Nodes: a.Nodes, EndsBy: end})
			backfilled += len(a.Nodes)
		}
		want, ok := shadowOf(in.Now, max(head.Nodes, 1), freeBefore, in.Running)
		if !ok {
			if !res.Reservation.IsZero() || backfilled > 0 {
				fail("no reservation possible, but reservation %v and backfill", res.Reservation)
			}
			continue
		}
		if !res.Reservation.Equal(want) {
			fail("reservation %v, want %v", res.Reservation, want)
		}
		got, ok := shadowOf(in.Now, max(head.Nodes, 1), freeBefore-backfilled, after)
		if !ok || got.After(want) {
			fail("backfill delays the head: reservation %v became %v (ok=%v)", want, got, ok)
		}
	}
}

// Package jobs decides which queued job runs on which compute nodes: jobs
// go to idle nodes in submit order, with backfilling (EASY): a later job
// may start early only if it does not delay the reservation of the job at
// the head of the queue. Time limits are the estimates.
package jobs

import (
	"cmp"
	"slices"
	"time"
)

// QueuedJob is a job waiting to run, in submit order.
type QueuedJob struct {
	ID          int64
	Nodes       int
	TimeLimit   time.Duration
	SubmittedAt time.Time
}

// RunningJob is a job running now on Nodes, expected to end by EndsBy
// (its start plus its time limit).
type RunningJob struct {
	ID     int64
	Nodes  []string
	EndsBy time.Time
}

// Assignment starts job Job on Nodes (rank order).
type Assignment struct {
	Job   int64
	Nodes []string
}

// Input is what Place looks at.
type Input struct {
	Now time.Time
	// Queue holds the queued jobs in submit order (the caller sorts).
	Queue []QueuedJob
	// Running holds the jobs running now.
	Running []RunningJob
	// Idle lists the ready nodes running nothing, in the order to use them.
	Idle []string
}

// Result is what Place decided.
type Result struct {
	Assignments []Assignment
	// Reservation is when the job at the head of the queue (if it could not
	// start) is expected to start, and on how many nodes already running;
	// zero if the head started or no reservation can be made from the
	// running jobs alone.
	HeadJob     int64
	Reservation time.Time
}

// Place decides which queued jobs start now and on which idle nodes. It is
// pure: the same input always gives the same result, and the input is not
// modified.
//
// Jobs start in submit order while the next one fits in the idle nodes. The
// first job that does not fit is the head: it gets a reservation at the
// shadow time, the earliest time at which the idle nodes plus the nodes of
// running jobs ending by then (at their EndsBy; a job past its EndsBy is
// taken to end now) are enough for it. The nodes free at the shadow time
// beyond what the head needs are the extra nodes. A later job then starts
// now (backfill) if it fits in the idle nodes left and either ends, by its
// time limit, no later than the shadow time, or uses only extra nodes.
// A job with a zero time limit has an unknown end: it may use extra nodes
// but never backfills ahead of a reservation.
//
// When the idle and running nodes together are too few for the head (it
// waits for nodes not yet in the fleet), no reservation can be made and
// nothing backfills: any idle node may be needed by the head as soon as
// the fleet has grown. A job asking for fewer than one node needs one.
func Place(in Input) Result {
	var res Result
	idle := in.Idle
	next := 0 // idle[next:] are still free
	take := func(n int) []string {
		nodes := append([]string(nil), idle[next:next+n]...)
		next += n
		return nodes
	}

	i := 0
	for ; i < len(in.Queue); i++ {
		j := in.Queue[i]
		n := width(j)
		if n > len(idle)-next {
			break
		}
		res.Assignments = append(res.Assignments, Assignment{Job: j.ID, Nodes: take(n)})
	}
	if i == len(in.Queue) {
		return res
	}

	head := in.Queue[i]
	res.HeadJob = head.ID
	shadow, extra, ok := reserve(in.Now, width(head), len(idle)-next, in.Running)
	if !ok {
		return res
	}
	res.Reservation = shadow

	for _, j := range in.Queue[i+1:] {
		free := len(idle) - next
		if free == 0 {
			break
		}
		n := width(j)
		if n > free {
			continue
		}
		switch {
		case j.TimeLimit > 0 && !in.Now.Add(j.TimeLimit).After(shadow):
			// Ends before the head needs the nodes.
		case n <= extra:
			extra -= n
		default:
			continue
		}
		res.Assignments = append(res.Assignments, Assignment{Job: j.ID, Nodes: take(n)})
	}
	return res
}

// width is the number of nodes job j needs: at least one.
func width(j QueuedJob) int {
	return max(j.Nodes, 1)
}

// reserve returns the shadow time for a job needing need nodes when free
// nodes are idle now, and the extra nodes at that time: the nodes free then
// beyond need. ok is false if the idle and running nodes are too few.
func reserve(now time.Time, need, free int, running []RunningJob) (shadow time.Time, extra int, ok bool) {
	if need <= free {
		return now, free - need, true
	}
	type end struct {
		at    time.Time
		id    int64
		nodes int
	}
	ends := make([]end, 0, len(running))
	for _, r := range running {
		at := r.EndsBy
		if at.Before(now) {
			at = now
		}
		ends = append(ends, end{at, r.ID, len(r.Nodes)})
	}
	slices.SortFunc(ends, func(a, b end) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.id, b.id)
	})
	for k := 0; k < len(ends); k++ {
		free += ends[k].nodes
		if free < need {
			continue
		}
		// Every job ending at the same instant frees its nodes too.
		for k+1 < len(ends) && ends[k+1].at.Equal(ends[k].at) {
			k++
			free += ends[k].nodes
		}
		return ends[k].at, free - need, true
	}
	return time.Time{}, 0, false
}

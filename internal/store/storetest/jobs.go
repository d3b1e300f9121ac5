package storetest

import (
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/store"
)

// jobOpts compare jobs: a nil and an empty Argv or Assigned are equal;
// RankExit (a []int) is compared exactly, nil and empty included.
var jobOpts = cmp.Options{opts, cmp.Comparer(func(a, b []string) bool { return slices.Equal(a, b) })}

// jobDiff is cmp.Diff with jobOpts.
func jobDiff(want, got any) string { return cmp.Diff(want, got, jobOpts) }

// newJob returns a job with every field set, apart from ID and Version.
func newJob(cluster, owner string) *store.Job {
	return &store.Job{
		Cluster: cluster,
		Owner:   owner,
		Name:    "train 'résumé' \"model\"",
		// Shell-hostile, non-ASCII, empty and NUL-carrying arguments.
		Argv:      []string{"/usr/bin/env", "sh", "-c", `echo "$HOME" \ 'x' && exit 3`, "", "日本語 ✓", "a\x00b", "\t\n"},
		Nodes:     3,
		TimeLimit: 90*time.Minute + 1, // exact to the nanosecond
		State:     store.JobRunning,
		Reason:    "requeued: node n-7 was reclaimed",
		// A time in another zone must come back as the same instant.
		SubmittedAt:     at(0).In(time.FixedZone("UTC-7", -7*3600)),
		StartedAt:       at(time.Minute),
		EndedAt:         at(2*time.Minute + 5*time.Millisecond),
		Attempt:         2,
		Requeues:        1,
		Assigned:        []string{"n-3", "n-1", "n-2"}, // rank order, not sorted
		RankExit:        []int{-1, 0, 137},
		ExitCode:        137,
		CancelRequested: true,
		OutputBytes:     1 << 40,
		OutputTruncated: true,
	}
}

func testJobs(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGetAllFields", func(t *testing.T) {
		s := newStore(t)
		j := newJob("alpha", "ada")
		if err := s.CreateJob(ctx(t), j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		want := newJob("alpha", "ada")
		want.ID, want.Version = 1, 1
		if d := jobDiff(want, j); d != "" {
			t.Errorf("job after CreateJob (-want +got):\n%s", d)
		}
		got, err := s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(want, got); d != "" {
			t.Errorf("GetJob (-want +got):\n%s", d)
		}
		if got.TimeLimit != want.TimeLimit {
			t.Errorf("TimeLimit = %d, want exactly %d", got.TimeLimit, want.TimeLimit)
		}
	})

	t.Run("CreateAssignsIncreasingIDs", func(t *testing.T) {
		s := newStore(t)
		for i := range 4 {
			j := &store.Job{Cluster: "alpha", Owner: "ada", State: store.JobQueued, Nodes: 1}
			if i == 2 {
				j.ID = 99 // a caller's ID is ignored
			}
			if err := s.CreateJob(ctx(t), j); err != nil {
				t.Fatalf("CreateJob %d: %v", i, err)
			}
			if want := int64(i + 1); j.ID != want {
				t.Fatalf("job %d got ID %d, want %d", i, j.ID, want)
			}
			if j.Version != 1 {
				t.Errorf("job %d: Version = %d, want 1", i, j.Version)
			}
		}
		if _, err := s.GetJob(ctx(t), 99); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob(99), an ID a caller set on create: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("ConcurrentCreatesGetDistinctIDs", func(t *testing.T) {
		s := newStore(t)
		const n = 16
		ids := make(chan int64, n)
		errs := make(chan error, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				j := &store.Job{Cluster: "alpha", State: store.JobQueued}
				if err := s.CreateJob(ctx(t), j); err != nil {
					errs <- err
					return
				}
				ids <- j.ID
			})
		}
		wg.Wait()
		close(ids)
		close(errs)
		for err := range errs {
			t.Errorf("concurrent CreateJob: %v", err)
		}
		var got []int64
		for id := range ids {
			got = append(got, id)
		}
		slices.Sort(got)
		if len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("concurrent CreateJob gave IDs %v: not distinct", got)
		}
		js, err := s.ListJobs(ctx(t), store.JobFilter{})
		if err != nil {
			t.Fatalf("ListJobs: %v", err)
		}
		var listed []int64
		for _, j := range js {
			listed = append(listed, j.ID)
		}
		if !slices.Equal(listed, got) {
			t.Errorf("ListJobs IDs = %v, want %v in order", listed, got)
		}
	})

	t.Run("CreateFillsSubmittedAt", func(t *testing.T) {
		s := newStore(t)
		j := newJob("alpha", "ada")
		j.SubmittedAt = time.Time{}
		if err := s.CreateJob(ctx(t), j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		if !recent(j.SubmittedAt) {
			t.Errorf("SubmittedAt = %v, want now", j.SubmittedAt)
		}
		got, err := s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(j, got); d != "" {
			t.Errorf("GetJob (-want +got):\n%s", d)
		}
	})

	t.Run("ZeroValues", func(t *testing.T) {
		s := newStore(t)
		j := &store.Job{SubmittedAt: at(0)}
		if err := s.CreateJob(ctx(t), j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		got, err := s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(j, got); d != "" {
			t.Errorf("GetJob (-want +got):\n%s", d)
		}
		if !got.StartedAt.IsZero() || !got.EndedAt.IsZero() {
			t.Errorf("StartedAt, EndedAt = %v, %v; want zero times", got.StartedAt, got.EndedAt)
		}
		if len(got.Argv) != 0 || len(got.Assigned) != 0 || got.RankExit != nil {
			t.Errorf("Argv, Assigned, RankExit = %q, %q, %#v; want empty, empty, nil", got.Argv, got.Assigned, got.RankExit)
		}
	})

	t.Run("Lists", func(t *testing.T) {
		// Argv and Assigned: nil and empty are equivalent (either may come
		// back). RankExit comes back exactly: nil, empty, or its values.
		s := newStore(t)
		for _, tc := range []struct {
			name     string
			argv     []string
			rankExit []int
		}{
			{"nil", nil, nil},
			{"empty", []string{}, []int{}},
			{"one", []string{"true"}, []int{-1}},
			{"values", []string{"a", "", "c"}, []int{0, -1, 1, 255, -9, 1<<31 - 1, -1 << 31}},
		} {
			j := &store.Job{Cluster: "alpha", Argv: tc.argv, Assigned: tc.argv, RankExit: tc.rankExit, SubmittedAt: at(0)}
			if err := s.CreateJob(ctx(t), j); err != nil {
				t.Fatalf("%s: CreateJob: %v", tc.name, err)
			}
			got, err := s.GetJob(ctx(t), j.ID)
			if err != nil {
				t.Fatalf("%s: GetJob: %v", tc.name, err)
			}
			if !slices.Equal(got.Argv, tc.argv) || !slices.Equal(got.Assigned, tc.argv) {
				t.Errorf("%s: Argv, Assigned = %q, %q; want %q", tc.name, got.Argv, got.Assigned, tc.argv)
			}
			if d := cmp.Diff(tc.rankExit, got.RankExit); d != "" {
				t.Errorf("%s: RankExit (-want +got):\n%s", tc.name, d)
			}
		}
	})

	t.Run("ArgvInvalidUTF8", func(t *testing.T) {
		// An argument that is not UTF-8 is stored exactly or refused:
		// never altered.
		s := newStore(t)
		j := &store.Job{Cluster: "alpha", Argv: []string{"cat", "caf\xe9.txt", "\xff\xfe"}, SubmittedAt: at(0)}
		if err := s.CreateJob(ctx(t), j); err != nil {
			if j.ID != 0 || j.Version != 0 {
				t.Errorf("failed CreateJob set ID %d, Version %d", j.ID, j.Version)
			}
			if js, err := s.ListJobs(ctx(t), store.JobFilter{}); err != nil || len(js) != 0 {
				t.Errorf("ListJobs after a refused CreateJob = %d jobs, %v; want none", len(js), err)
			}
			return
		}
		got, err := s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if !slices.Equal(got.Argv, j.Argv) {
			t.Errorf("Argv = %q, want %q exactly", got.Argv, j.Argv)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetJob(ctx(t), 1); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetJob of a missing job: err = %v, want ErrNotFound", err)
		}
		j := newJob("alpha", "ada")
		j.ID, j.Version = 42, 1
		before := *j
		if err := s.UpdateJob(ctx(t), j); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateJob of a missing job: err = %v, want ErrNotFound", err)
		}
		if d := jobDiff(&before, j); d != "" {
			t.Errorf("failed UpdateJob changed its argument (-before +after):\n%s", d)
		}
		if js, err := s.ListJobs(ctx(t), store.JobFilter{}); err != nil || len(js) != 0 {
			t.Errorf("ListJobs after UpdateJob of a missing job = %d jobs, %v; want none", len(js), err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		j := &store.Job{Cluster: "alpha", Owner: "ada", Name: "train", Argv: []string{"./train"}, Nodes: 3,
			TimeLimit: time.Hour, State: store.JobQueued, SubmittedAt: at(0)}
		if err := s.CreateJob(ctx(t), j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		stale := *j

		// Change every field.
		full := newJob("bravo", "bob")
		full.ID, full.Version, full.SubmittedAt = j.ID, j.Version, j.SubmittedAt
		j = full
		if err := s.UpdateJob(ctx(t), j); err != nil {
			t.Fatalf("UpdateJob: %v", err)
		}
		if j.Version != 2 {
			t.Errorf("Version after an update = %d, want 2", j.Version)
		}
		got, err := s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(j, got); d != "" {
			t.Errorf("GetJob after UpdateJob (-want +got):\n%s", d)
		}

		// Clearing fields stores zero values again; SubmittedAt is fixed
		// at creation.
		j.StartedAt, j.EndedAt = time.Time{}, time.Time{}
		j.Assigned, j.RankExit = nil, nil
		j.CancelRequested, j.OutputTruncated = false, false
		j.State, j.ExitCode = store.JobQueued, 0
		wantSubmitted := j.SubmittedAt
		j.SubmittedAt = at(time.Hour)
		if err := s.UpdateJob(ctx(t), j); err != nil {
			t.Fatalf("UpdateJob clearing fields: %v", err)
		}
		if j.Version != 3 {
			t.Errorf("Version after a second update = %d, want 3", j.Version)
		}
		got, err = s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		j.SubmittedAt = wantSubmitted
		if d := jobDiff(j, got); d != "" {
			t.Errorf("GetJob after clearing fields (-want +got):\n%s", d)
		}

		stale.State = store.JobCancelled
		before := stale
		if err := s.UpdateJob(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("UpdateJob with a stale version: err = %v, want ErrConflict", err)
		}
		if d := jobDiff(&before, &stale); d != "" {
			t.Errorf("failed UpdateJob changed its argument (-before +after):\n%s", d)
		}
		got, err = s.GetJob(ctx(t), j.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(j, got); d != "" {
			t.Errorf("stale UpdateJob changed the record (-want +got):\n%s", d)
		}
	})

	t.Run("UpdateOnlyThatJob", func(t *testing.T) {
		s := newStore(t)
		a, b := newJob("alpha", "ada"), newJob("alpha", "ada")
		for _, j := range []*store.Job{a, b} {
			if err := s.CreateJob(ctx(t), j); err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
		}
		a.State = store.JobSucceeded
		if err := s.UpdateJob(ctx(t), a); err != nil {
			t.Fatalf("UpdateJob: %v", err)
		}
		got, err := s.GetJob(ctx(t), b.ID)
		if err != nil {
			t.Fatalf("GetJob: %v", err)
		}
		if d := jobDiff(b, got); d != "" {
			t.Errorf("UpdateJob of job %d changed job %d (-want +got):\n%s", a.ID, b.ID, d)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.ListJobs(ctx(t), store.JobFilter{}); err != nil || len(got) != 0 {
			t.Fatalf("ListJobs of an empty store = %d jobs, %v; want none", len(got), err)
		}
		var all []*store.Job
		for i, x := range []struct {
			cluster, owner string
			state          store.JobState
		}{
			{"alpha", "ada", store.JobQueued},
			{"bravo", "ada", store.JobRunning},
			{"alpha", "bob", store.JobRunning},
			{"alpha", "ada", store.JobSucceeded},
			{"bravo", "bob", store.JobQueued},
			{"alpha", "ada", store.JobTimedOut},
		} {
			// Submission times deliberately not in ID order.
			j := &store.Job{Cluster: x.cluster, Owner: x.owner, State: x.state, Nodes: 1,
				SubmittedAt: at(time.Duration(10-i) * time.Second)}
			if err := s.CreateJob(ctx(t), j); err != nil {
				t.Fatalf("CreateJob: %v", err)
			}
			all = append(all, j)
		}
		pick := func(idx ...int) []*store.Job {
			var js []*store.Job
			for _, i := range idx {
				js = append(js, all[i])
			}
			return js
		}
		for _, tc := range []struct {
			name string
			f    store.JobFilter
			want []*store.Job
		}{
			{"all", store.JobFilter{}, all},
			{"cluster", store.JobFilter{Cluster: "alpha"}, pick(0, 2, 3, 5)},
			{"owner", store.JobFilter{Owner: "bob"}, pick(2, 4)},
			{"cluster and owner", store.JobFilter{Cluster: "alpha", Owner: "ada"}, pick(0, 3, 5)},
			{"one state", store.JobFilter{States: []store.JobState{store.JobRunning}}, pick(1, 2)},
			{"states", store.JobFilter{States: []store.JobState{store.JobQueued, store.JobTimedOut}}, pick(0, 4, 5)},
			{"empty states", store.JobFilter{States: []store.JobState{}}, all},
			{"everything", store.JobFilter{Cluster: "alpha", Owner: "ada", States: []store.JobState{store.JobQueued, store.JobRunning}}, pick(0)},
			{"no such cluster", store.JobFilter{Cluster: "zulu"}, nil},
			{"no such state", store.JobFilter{States: []store.JobState{store.JobCancelled}}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListJobs(ctx(t), tc.f)
				if err != nil {
					t.Fatalf("ListJobs: %v", err)
				}
				if len(got) == 0 && len(tc.want) == 0 {
					return
				}
				if d := jobDiff(tc.want, got); d != "" {
					t.Errorf("ListJobs(%+v) (-want +got):\n%s", tc.f, d)
				}
			})
		}
	})
}

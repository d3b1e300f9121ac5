package storetest

import (
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testJobSummary(t *testing.T, newStore func(t *testing.T) store.Store) {
	s := newStore(t)
	summary := func(q store.Queries, cluster string) store.JobSummary {
		t.Helper()
		got, err := q.ClusterJobSummary(ctx(t), cluster)
		if err != nil {
			t.Fatalf("ClusterJobSummary(%q): %v", cluster, err)
		}
		return got
	}
	if got := summary(s, "demo"); got != (store.JobSummary{}) {
		t.Errorf("summary of a cluster without jobs = %+v, want the zero summary", got)
	}

	add := func(cluster string, state store.JobState, submitted, ended time.Duration) *store.Job {
		t.Helper()
		j := newJob(cluster, "ann")
		j.State, j.SubmittedAt, j.StartedAt, j.EndedAt = state, at(submitted), time.Time{}, time.Time{}
		if ended >= 0 {
			j.EndedAt = at(ended)
		}
		if err := s.CreateJob(ctx(t), j); err != nil {
			t.Fatalf("CreateJob: %v", err)
		}
		return j
	}
	// The latest submission need not be the latest job, nor the latest
	// end the last submitted job's.
	add("demo", store.JobSucceeded, 2*time.Hour, 5*time.Hour)
	add("demo", store.JobFailed, 3*time.Hour, 4*time.Hour)
	add("demo", store.JobCancelled, time.Hour, 90*time.Minute)
	// Another cluster's jobs do not count.
	add("other", store.JobRunning, 10*time.Hour, -1)
	want := store.JobSummary{LastSubmitted: at(3 * time.Hour), LastEnded: at(5 * time.Hour)}
	if d := diff(want, summary(s, "demo")); d != "" {
		t.Errorf("summary of finished jobs (-want +got):\n%s", d)
	}
	if d := diff(store.JobSummary{LastSubmitted: at(10 * time.Hour), Active: true}, summary(s, "other")); d != "" {
		t.Errorf("summary of a running job without an end (-want +got):\n%s", d)
	}

	queued := add("demo", store.JobQueued, 6*time.Hour, -1)
	want = store.JobSummary{LastSubmitted: at(6 * time.Hour), LastEnded: at(5 * time.Hour), Active: true}
	if d := diff(want, summary(s, "demo")); d != "" {
		t.Errorf("summary with a queued job (-want +got):\n%s", d)
	}
	queued.State = store.JobRunning
	if err := s.UpdateJob(ctx(t), queued); err != nil {
		t.Fatalf("UpdateJob: %v", err)
	}
	if got := summary(s, "demo"); !got.Active {
		t.Errorf("summary with a running job = %+v, want Active", got)
	}
	queued.State, queued.EndedAt = store.JobTimedOut, at(7*time.Hour)
	if err := s.UpdateJob(ctx(t), queued); err != nil {
		t.Fatalf("UpdateJob: %v", err)
	}
	// Inside a transaction too.
	err := s.WithTx(ctx(t), func(q store.Queries) error {
		want := store.JobSummary{LastSubmitted: at(6 * time.Hour), LastEnded: at(7 * time.Hour)}
		if d := diff(want, summary(q, "demo")); d != "" {
			t.Errorf("summary once every job is done, in a transaction (-want +got):\n%s", d)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("WithTx: %v", err)
	}
}

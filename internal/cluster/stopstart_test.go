package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

func newStopService(t *testing.T, state store.ClusterState) (*Service, store.Store) {
	t.Helper()
	st := sqlitetest.Open(t)
	if err := st.CreateCluster(t.Context(), &store.Cluster{Name: "c1", Owner: "ann", State: state, Spec: []byte("{}"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	return &Service{Store: st, Clock: clock.NewFake(t0), Logger: slog.New(slog.DiscardHandler)}, st
}

func TestServiceStop_RequeuesRunningJobs(t *testing.T) {
	s, st := newStopService(t, store.ClusterRunning)
	running := &store.Job{Cluster: "c1", Owner: "ann", Argv: []string{"sleep", "100"}, Nodes: 1, State: store.JobRunning,
		SubmittedAt: t0, StartedAt: t0, Attempt: 1, Assigned: []string{"n-1"}, RankExit: []int{-1}}
	queued := &store.Job{Cluster: "c1", Owner: "ann", Argv: []string{"true"}, Nodes: 1, State: store.JobQueued, SubmittedAt: t0}
	for _, j := range []*store.Job{running, queued} {
		if err := st.CreateJob(t.Context(), j); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Stop(t.Context(), Caller{User: "bob"}, "c1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Stop by another user = %v, want not found", err)
	}
	out, err := s.Stop(t.Context(), Caller{User: "ann"}, "c1")
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if out.State != "stopping" || out.Reason != "stop requested by ann" {
		t.Errorf("Stop answered %s (%q), want stopping", out.State, out.Reason)
	}
	j, err := st.GetJob(t.Context(), running.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobQueued || len(j.Assigned) != 0 || j.Requeues != 0 || !strings.Contains(j.Reason, "cluster stopped") {
		t.Errorf("running job after the stop: %s %v requeues %d %q; want queued, unassigned, not counted", j.State, j.Assigned, j.Requeues, j.Reason)
	}
	if q, _ := st.GetJob(t.Context(), queued.ID); q.State != store.JobQueued || q.Reason != "" {
		t.Errorf("queued job after the stop: %s %q, want it untouched", q.State, q.Reason)
	}
	// Repeating it changes nothing.
	before, _ := st.GetCluster(t.Context(), "c1")
	if _, err := s.Stop(t.Context(), Caller{User: "admin", Admin: true}, "c1"); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if after, _ := st.GetCluster(t.Context(), "c1"); after.Version != before.Version {
		t.Errorf("a second stop wrote the cluster again")
	}
}

func TestServiceStopStart_States(t *testing.T) {
	for _, state := range []store.ClusterState{store.ClusterCreating, store.ClusterDeleting, store.ClusterFailed} {
		s, _ := newStopService(t, state)
		if _, err := s.Stop(t.Context(), Caller{User: "ann"}, "c1"); !errors.Is(err, ErrNotReady) {
			t.Errorf("Stop of a %s cluster = %v, want ErrNotReady", state, err)
		}
		if _, err := s.Start(t.Context(), Caller{User: "ann"}, "c1"); !errors.Is(err, ErrNotReady) {
			t.Errorf("Start of a %s cluster = %v, want ErrNotReady", state, err)
		}
	}
	s, st := newStopService(t, store.ClusterStopped)
	refuse := spec.Errors{{Field: "budget", Message: "spent"}}
	s.StartPolicy = func(context.Context, string) error { return refuse }
	if _, err := s.Start(t.Context(), Caller{User: "ann"}, "c1"); !errors.As(err, new(spec.Errors)) {
		t.Errorf("Start over budget = %v, want the policy's error", err)
	}
	if cl, _ := st.GetCluster(t.Context(), "c1"); cl.State != store.ClusterStopped {
		t.Errorf("a refused start changed the state to %s", cl.State)
	}
	s.StartPolicy = nil
	out, err := s.Start(t.Context(), Caller{User: "ann"}, "c1")
	if err != nil || out.State != "starting" {
		t.Errorf("Start = %s, %v; want starting", out.State, err)
	}
	if _, err := s.Stop(t.Context(), Caller{User: "ann"}, "c1"); err != nil {
		t.Errorf("Stop of a starting cluster: %v", err)
	}
}

func TestServiceDeleteFor_DeletesAnyOwnersClusterWithTheReason(t *testing.T) {
	s, st := newStopService(t, store.ClusterRunning)
	if err := s.DeleteFor(t.Context(), "nope", "lifetime"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteFor of an unknown cluster = %v, want not found", err)
	}
	why := "cluster c1 reached its max_lifetime: it is deleted"
	if err := s.DeleteFor(t.Context(), "c1", why); err != nil {
		t.Fatalf("DeleteFor: %v", err)
	}
	if cl, _ := st.GetCluster(t.Context(), "c1"); cl.State != store.ClusterDeleting {
		t.Errorf("state after DeleteFor = %s, want deleting", cl.State)
	}
	events, err := st.ListEvents(t.Context(), store.EventFilter{Cluster: "c1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Kind != "cluster.deleting" || events[0].Message != why {
		t.Errorf("events = %+v, want one cluster.deleting saying why", events)
	}
}

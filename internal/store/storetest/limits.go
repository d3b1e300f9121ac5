package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testLimits(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("ClusterLimitsPutGetListDelete", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetClusterLimits(ctx(t), "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetClusterLimits of a missing record = %v, want ErrNotFound", err)
		}
		demo := &store.ClusterLimits{Cluster: "demo", ClusterCreated: at(0), LifetimeFrom: at(0), RunningSince: at(time.Minute)}
		other := &store.ClusterLimits{Cluster: "alpha", ClusterCreated: at(time.Hour), LifetimeFrom: at(2 * time.Hour),
			Stopped: true, LifetimeWarned: at(3 * time.Hour), LifetimeExpired: at(4 * time.Hour), IdleStopped: at(5 * time.Hour)}
		for _, l := range []*store.ClusterLimits{demo, other} {
			if err := s.PutClusterLimits(ctx(t), l); err != nil {
				t.Fatalf("PutClusterLimits: %v", err)
			}
		}
		got, err := s.GetClusterLimits(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetClusterLimits: %v", err)
		}
		if d := diff(other, got); d != "" {
			t.Errorf("GetClusterLimits (-want +got):\n%s", d)
		}
		demo.LifetimeWarned, demo.Stopped = at(30*time.Minute), true
		if err := s.PutClusterLimits(ctx(t), demo); err != nil {
			t.Fatalf("PutClusterLimits (replace): %v", err)
		}
		all, err := s.ListClusterLimits(ctx(t))
		if err != nil {
			t.Fatalf("ListClusterLimits: %v", err)
		}
		if d := diff([]*store.ClusterLimits{other, demo}, all); d != "" {
			t.Errorf("ListClusterLimits (-want +got):\n%s", d)
		}
		if err := s.PutClusterLimits(ctx(t), &store.ClusterLimits{}); err == nil {
			t.Errorf("PutClusterLimits without a cluster name succeeded")
		}
		if err := s.DeleteClusterLimits(ctx(t), "demo"); err != nil {
			t.Fatalf("DeleteClusterLimits: %v", err)
		}
		if err := s.DeleteClusterLimits(ctx(t), "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteClusterLimits = %v, want ErrNotFound", err)
		}
		if _, err := s.GetClusterLimits(ctx(t), "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetClusterLimits after delete = %v, want ErrNotFound", err)
		}
	})

	t.Run("BudgetMarksOncePerMonth", func(t *testing.T) {
		s := newStore(t)
		warn := &store.BudgetMark{User: "ann", Month: "2026-11", Kind: store.BudgetMarkWarning, Time: at(0)}
		if err := s.AddBudgetMark(ctx(t), warn); err != nil {
			t.Fatalf("AddBudgetMark: %v", err)
		}
		again := *warn
		again.Time = at(time.Hour)
		if err := s.AddBudgetMark(ctx(t), &again); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second AddBudgetMark of the same kind and month = %v, want ErrConflict", err)
		}
		exceeded := &store.BudgetMark{User: "ann", Month: "2026-11", Kind: store.BudgetMarkExceeded, Time: at(2 * time.Hour)}
		for _, m := range []*store.BudgetMark{
			exceeded,
			{User: "ann", Month: "2026-12", Kind: store.BudgetMarkWarning, Time: at(3 * time.Hour)},
			{User: "bob", Month: "2026-11", Kind: store.BudgetMarkWarning, Time: at(4 * time.Hour)},
		} {
			if err := s.AddBudgetMark(ctx(t), m); err != nil {
				t.Fatalf("AddBudgetMark %+v: %v", m, err)
			}
		}
		got, err := s.ListBudgetMarks(ctx(t), "ann", "2026-11")
		if err != nil {
			t.Fatalf("ListBudgetMarks: %v", err)
		}
		if d := diff([]*store.BudgetMark{exceeded, warn}, got); d != "" {
			t.Errorf("ListBudgetMarks (-want +got):\n%s", d)
		}
		if err := s.AddBudgetMark(ctx(t), &store.BudgetMark{User: "ann"}); err == nil {
			t.Errorf("AddBudgetMark without month and kind succeeded")
		}
	})
}

package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// newUsage returns an open usage period with every field set, apart from ID.
func newUsage(instance, cluster, owner string, start time.Time) *store.Usage {
	return &store.Usage{
		InstanceID:  instance,
		Region:      "eu-west-1",
		Cluster:     cluster,
		Owner:       owner,
		Node:        "n-" + instance,
		Type:        "c6i.large",
		Spot:        true,
		PriceMicros: 31_250,
		VolumeGB:    40,
		State:       "running",
		Start:       start,
		Billing:     "second",
	}
}

func testUsage(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("OpenAllFields", func(t *testing.T) {
		s := newStore(t)
		u := newUsage("i-1", "alpha", "ada", at(0).In(time.FixedZone("UTC+1", 3600)))
		if err := s.OpenUsage(ctx(t), u); err != nil {
			t.Fatalf("OpenUsage: %v", err)
		}
		if u.ID <= 0 {
			t.Errorf("ID = %d after OpenUsage, want > 0", u.ID)
		}
		want := newUsage("i-1", "alpha", "ada", at(0))
		want.ID = u.ID
		if d := diff(want, u); d != "" {
			t.Errorf("usage after OpenUsage (-want +got):\n%s", d)
		}
		got, err := s.ListUsage(ctx(t), store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		if d := diff([]*store.Usage{want}, got); d != "" {
			t.Errorf("ListUsage (-want +got):\n%s", d)
		}
	})

	t.Run("OpenZeroValues", func(t *testing.T) {
		s := newStore(t)
		u := &store.Usage{InstanceID: "i-1", State: "stopped", Start: at(0)}
		if err := s.OpenUsage(ctx(t), u); err != nil {
			t.Fatalf("OpenUsage: %v", err)
		}
		got, err := s.ListUsage(ctx(t), store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		if d := diff([]*store.Usage{u}, got); d != "" {
			t.Errorf("ListUsage (-want +got):\n%s", d)
		}
	})

	t.Run("OpenFillsStart", func(t *testing.T) {
		s := newStore(t)
		u := newUsage("i-1", "alpha", "ada", time.Time{})
		if err := s.OpenUsage(ctx(t), u); err != nil {
			t.Fatalf("OpenUsage: %v", err)
		}
		if !recent(u.Start) {
			t.Errorf("Start = %v, want now", u.Start)
		}
		got, err := s.ListUsage(ctx(t), store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		if d := diff([]*store.Usage{u}, got); d != "" {
			t.Errorf("ListUsage (-want +got):\n%s", d)
		}
	})

	t.Run("OpenWithEndIsAnError", func(t *testing.T) {
		s := newStore(t)
		u := newUsage("i-1", "alpha", "ada", at(0))
		u.End = at(time.Hour)
		before := *u
		if err := s.OpenUsage(ctx(t), u); err == nil {
			t.Error("OpenUsage of a period with an End succeeded, want an error")
		}
		if d := diff(&before, u); d != "" {
			t.Errorf("failed OpenUsage changed its argument (-before +after):\n%s", d)
		}
		if got, err := s.ListUsage(ctx(t), store.UsageFilter{}); err != nil || len(got) != 0 {
			t.Errorf("ListUsage after a failed OpenUsage = %d periods, %v; want none", len(got), err)
		}
	})

	t.Run("OpenAssignsIncreasingIDs", func(t *testing.T) {
		s := newStore(t)
		var last int64
		for i := range 5 {
			u := newUsage("i-1", "alpha", "ada", at(-time.Duration(i)*time.Hour))
			if err := s.OpenUsage(ctx(t), u); err != nil {
				t.Fatalf("OpenUsage: %v", err)
			}
			if u.ID <= last {
				t.Fatalf("period %d got ID %d, not above the previous %d", i, u.ID, last)
			}
			last = u.ID
		}
	})

	t.Run("Close", func(t *testing.T) {
		s := newStore(t)
		a := newUsage("i-1", "alpha", "ada", at(0))
		b := newUsage("i-2", "alpha", "ada", at(time.Second))
		for _, u := range []*store.Usage{a, b} {
			if err := s.OpenUsage(ctx(t), u); err != nil {
				t.Fatalf("OpenUsage: %v", err)
			}
		}
		end := at(90*time.Minute + 250*time.Millisecond).In(time.FixedZone("UTC-3", -3*3600))
		if err := s.CloseUsage(ctx(t), a.ID, end); err != nil {
			t.Fatalf("CloseUsage: %v", err)
		}
		a.End = end
		got, err := s.ListUsage(ctx(t), store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		// Only that period closed.
		if d := diff([]*store.Usage{a, b}, got); d != "" {
			t.Errorf("ListUsage after CloseUsage (-want +got):\n%s", d)
		}

		// A closed period cannot be closed again, nor its End moved.
		if err := s.CloseUsage(ctx(t), a.ID, at(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CloseUsage of a closed period: err = %v, want ErrNotFound", err)
		}
		if err := s.CloseUsage(ctx(t), b.ID+100, at(2*time.Hour)); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("CloseUsage of a missing period: err = %v, want ErrNotFound", err)
		}
		got, err = s.ListUsage(ctx(t), store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		if d := diff([]*store.Usage{a, b}, got); d != "" {
			t.Errorf("ListUsage after failed CloseUsage calls (-want +got):\n%s", d)
		}
	})

	t.Run("CloseBadEnd", func(t *testing.T) {
		// A zero end (it would leave the period open) and an end before the
		// start are errors, and leave the period open.
		s := newStore(t)
		u := newUsage("i-1", "alpha", "ada", at(time.Hour))
		if err := s.OpenUsage(ctx(t), u); err != nil {
			t.Fatalf("OpenUsage: %v", err)
		}
		for _, end := range []time.Time{{}, at(time.Hour - time.Millisecond)} {
			if err := s.CloseUsage(ctx(t), u.ID, end); err == nil {
				t.Errorf("CloseUsage with end %v, start %v succeeded, want an error", end, u.Start)
			}
		}
		// An end equal to the start is a period of no length: fine.
		if err := s.CloseUsage(ctx(t), u.ID, u.Start); err != nil {
			t.Errorf("CloseUsage at the start: %v", err)
		}
		u.End = u.Start
		got, err := s.ListUsage(ctx(t), store.UsageFilter{})
		if err != nil {
			t.Fatalf("ListUsage: %v", err)
		}
		if d := diff([]*store.Usage{u}, got); d != "" {
			t.Errorf("ListUsage (-want +got):\n%s", d)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.ListUsage(ctx(t), store.UsageFilter{}); err != nil || len(got) != 0 {
			t.Fatalf("ListUsage of an empty store = %d periods, %v; want none", len(got), err)
		}
		since := at(10 * time.Hour)
		type spec struct {
			instance, cluster, owner string
			start, end               time.Duration // end 0: open
		}
		// Opened in this (ID) order; the order by Start, then ID, is in
		// the comment.
		specs := []spec{
			/* 0: 4th */ {"i-1", "alpha", "ada", 5 * time.Hour, 11 * time.Hour}, // ends after since
			/* 1: 1st */ {"i-2", "alpha", "bob", 1 * time.Hour, 10 * time.Hour}, // ends at since
			/* 2: 6th */ {"i-3", "bravo", "ada", 12 * time.Hour, 0}, // open, starts after since
			/* 3: 2nd */ {"i-1", "alpha", "ada", 2 * time.Hour, 0}, // open, starts before since
			/* 4: 3rd */ {"i-4", "bravo", "bob", 2 * time.Hour, 9 * time.Hour}, // same start as 3, ends before since
			/* 5: 5th */ {"i-2", "alpha", "bob", 10 * time.Hour, 0}, // open, starts at since
		}
		var all []*store.Usage
		for _, sp := range specs {
			u := newUsage(sp.instance, sp.cluster, sp.owner, at(sp.start))
			if err := s.OpenUsage(ctx(t), u); err != nil {
				t.Fatalf("OpenUsage: %v", err)
			}
			if sp.end != 0 {
				u.End = at(sp.end)
				if err := s.CloseUsage(ctx(t), u.ID, u.End); err != nil {
					t.Fatalf("CloseUsage: %v", err)
				}
			}
			all = append(all, u)
		}
		pick := func(idx ...int) []*store.Usage {
			var us []*store.Usage
			for _, i := range idx {
				us = append(us, all[i])
			}
			return us
		}
		for _, tc := range []struct {
			name string
			f    store.UsageFilter
			want []*store.Usage
		}{
			{"all", store.UsageFilter{}, pick(1, 3, 4, 0, 5, 2)},
			{"cluster", store.UsageFilter{Cluster: "bravo"}, pick(4, 2)},
			{"owner", store.UsageFilter{Owner: "bob"}, pick(1, 4, 5)},
			{"instance", store.UsageFilter{InstanceID: "i-1"}, pick(3, 0)},
			{"open only", store.UsageFilter{OpenOnly: true}, pick(3, 5, 2)},
			{"since", store.UsageFilter{Since: since}, pick(3, 0, 5, 2)},
			{"since in another zone", store.UsageFilter{Since: since.In(time.FixedZone("UTC+2", 7200))}, pick(3, 0, 5, 2)},
			{"since just before an end", store.UsageFilter{Since: since.Add(-time.Millisecond)}, pick(1, 3, 0, 5, 2)},
			{"since after every end", store.UsageFilter{Since: at(100 * time.Hour)}, pick(3, 5, 2)},
			{"cluster and owner", store.UsageFilter{Cluster: "alpha", Owner: "bob"}, pick(1, 5)},
			{"cluster, since, open only", store.UsageFilter{Cluster: "alpha", Since: since, OpenOnly: true}, pick(3, 5)},
			{"instance and since", store.UsageFilter{InstanceID: "i-2", Since: since}, pick(5)},
			{"no such owner", store.UsageFilter{Owner: "zed"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListUsage(ctx(t), tc.f)
				if err != nil {
					t.Fatalf("ListUsage: %v", err)
				}
				if len(got) == 0 && len(tc.want) == 0 {
					return
				}
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListUsage(%+v) (-want +got):\n%s", tc.f, d)
				}
			})
		}
	})
}

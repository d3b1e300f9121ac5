package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testEvents(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("AppendSetsIncreasingIDs", func(t *testing.T) {
		s := newStore(t)
		var last int64
		for i := range 5 {
			e := &store.Event{Time: at(time.Duration(i) * time.Second), Cluster: "alpha", Kind: "cluster.created", Message: "m"}
			if err := s.AppendEvent(ctx(t), e); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
			if e.ID <= last {
				t.Fatalf("event %d got ID %d, not above the previous %d", i, e.ID, last)
			}
			last = e.ID
		}
	})

	t.Run("AppendFillsTime", func(t *testing.T) {
		s := newStore(t)
		e := &store.Event{Cluster: "alpha", Kind: "cluster.created"}
		if err := s.AppendEvent(ctx(t), e); err != nil {
			t.Fatalf("AppendEvent: %v", err)
		}
		if !recent(e.Time) {
			t.Errorf("Time = %v, want now", e.Time)
		}
		got, err := s.ListEvents(ctx(t), store.EventFilter{})
		if err != nil {
			t.Fatalf("ListEvents: %v", err)
		}
		if d := diff([]*store.Event{e}, got); d != "" {
			t.Errorf("ListEvents (-want +got):\n%s", d)
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		if got, err := s.ListEvents(ctx(t), store.EventFilter{}); err != nil || len(got) != 0 {
			t.Fatalf("ListEvents of an empty store = %d events, %v; want none", len(got), err)
		}
		var all []*store.Event // newest first
		for i, cluster := range []string{"alpha", "bravo", "alpha", "", "alpha", "bravo"} {
			e := &store.Event{
				// Times deliberately not in append order: newest means
				// appended last.
				Time:    at(time.Duration(10-i) * time.Second),
				Cluster: cluster,
				Kind:    "node.launched",
				Message: fmt.Sprintf("event %d", i),
			}
			if cluster != "" {
				e.Node = cluster + "-n-1"
			}
			if err := s.AppendEvent(ctx(t), e); err != nil {
				t.Fatalf("AppendEvent: %v", err)
			}
			all = append([]*store.Event{e}, all...)
		}
		pick := func(cluster string) []*store.Event {
			var es []*store.Event
			for _, e := range all {
				if e.Cluster == cluster {
					es = append(es, e)
				}
			}
			return es
		}
		for _, tc := range []struct {
			name   string
			filter store.EventFilter
			want   []*store.Event
		}{
			{"All", store.EventFilter{}, all},
			{"Limit", store.EventFilter{Limit: 2}, all[:2]},
			{"LimitAboveCount", store.EventFilter{Limit: 100}, all},
			{"Cluster", store.EventFilter{Cluster: "alpha"}, pick("alpha")},
			{"ClusterLimit", store.EventFilter{Cluster: "alpha", Limit: 2}, pick("alpha")[:2]},
			{"OtherCluster", store.EventFilter{Cluster: "bravo", Limit: 1}, pick("bravo")[:1]},
			{"UnknownCluster", store.EventFilter{Cluster: "zulu"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListEvents(ctx(t), tc.filter)
				if err != nil {
					t.Fatalf("ListEvents: %v", err)
				}
				if len(got) == 0 && len(tc.want) == 0 {
					return
				}
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListEvents(%+v) (-want +got):\n%s", tc.filter, d)
				}
			})
		}
		if _, err := s.ListEvents(ctx(t), store.EventFilter{Limit: -1}); err == nil {
			t.Error("ListEvents with a negative limit succeeded; want an error")
		}
	})
}

package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testNotify(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("AddDeduplicates", func(t *testing.T) {
		s := newStore(t)
		n := &store.Notification{Key: "cluster.created/demo/1", Kind: "cluster.created", User: "ann",
			Payload: json.RawMessage(`{"subject":"demo is running"}`), CreatedAt: at(0)}
		added, err := s.AddNotification(ctx(t), n)
		if err != nil || !added {
			t.Fatalf("AddNotification = %v, %v; want true, nil", added, err)
		}
		if n.ID == 0 {
			t.Fatalf("AddNotification assigned no ID")
		}
		again := &store.Notification{Key: n.Key, Kind: "cluster.created", Payload: json.RawMessage(`{}`)}
		added, err = s.AddNotification(ctx(t), again)
		if err != nil || added {
			t.Fatalf("second AddNotification with the same key = %v, %v; want false, nil", added, err)
		}
		if again.ID != 0 {
			t.Errorf("a notification not added got ID %d", again.ID)
		}
		got, err := s.GetNotification(ctx(t), n.ID)
		if err != nil {
			t.Fatalf("GetNotification: %v", err)
		}
		if d := diff(n, got); d != "" {
			t.Errorf("GetNotification (-want +got):\n%s", d)
		}
		other := &store.Notification{Key: "k2", Kind: "budget.warning"}
		if added, err := s.AddNotification(ctx(t), other); err != nil || !added {
			t.Fatalf("AddNotification: %v, %v", added, err)
		}
		if other.ID <= n.ID {
			t.Errorf("IDs do not increase: %d then %d", n.ID, other.ID)
		}
		if !recent(other.CreatedAt) {
			t.Errorf("zero CreatedAt became %v, not the current time", other.CreatedAt)
		}
		all, err := s.ListNotifications(ctx(t), store.NotificationFilter{})
		if err != nil {
			t.Fatalf("ListNotifications: %v", err)
		}
		if d := diff([]*store.Notification{n, other}, all); d != "" {
			t.Errorf("ListNotifications (-want +got):\n%s", d)
		}
		for _, bad := range []*store.Notification{{Kind: "x"}, {Key: "x"}, {Key: "y", Kind: "x", Payload: json.RawMessage(`{`)}} {
			if _, err := s.AddNotification(ctx(t), bad); err == nil {
				t.Errorf("AddNotification(%+v) succeeded", bad)
			}
		}
		if _, err := s.GetNotification(ctx(t), 999); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNotification of a missing id = %v, want ErrNotFound", err)
		}
	})

	t.Run("ExpandAndDeliver", func(t *testing.T) {
		s := newStore(t)
		n := &store.Notification{Key: "k", Kind: "cluster.deleted", CreatedAt: at(0)}
		if _, err := s.AddNotification(ctx(t), n); err != nil {
			t.Fatal(err)
		}
		un, err := s.ListNotifications(ctx(t), store.NotificationFilter{Unexpanded: true})
		if err != nil || len(un) != 1 {
			t.Fatalf("unexpanded = %v, %v; want the one added", un, err)
		}
		ds := []*store.Delivery{
			{Channel: "email", Recipient: "ops@example.org", State: store.DeliveryPending, NextAttempt: at(0)},
			{Channel: "webhook", Recipient: "http://127.0.0.1:1/hook", State: store.DeliveryPending, NextAttempt: at(time.Minute)},
		}
		if err := s.ExpandNotification(ctx(t), n.ID, ds); err != nil {
			t.Fatalf("ExpandNotification: %v", err)
		}
		for _, d := range ds {
			if d.ID == 0 || d.Notification != n.ID || d.Version != 1 {
				t.Errorf("delivery after expand: %+v; want an ID, notification %d, version 1", d, n.ID)
			}
		}
		if err := s.ExpandNotification(ctx(t), n.ID, []*store.Delivery{{Channel: "email", Recipient: "x@example.org"}}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second ExpandNotification = %v, want ErrConflict", err)
		}
		if err := s.ExpandNotification(ctx(t), 999, nil); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("ExpandNotification of a missing id = %v, want ErrNotFound", err)
		}
		un, err = s.ListNotifications(ctx(t), store.NotificationFilter{Unexpanded: true})
		if err != nil || len(un) != 0 {
			t.Errorf("unexpanded after expand = %v, %v; want none", un, err)
		}
		all, err := s.ListDeliveries(ctx(t), store.DeliveryFilter{Notification: n.ID})
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(ds, all); d != "" {
			t.Errorf("ListDeliveries (-want +got):\n%s", d)
		}
		due, err := s.ListDeliveries(ctx(t), store.DeliveryFilter{State: store.DeliveryPending, DueBy: at(time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		if d := diff(ds[:1], due); d != "" {
			t.Errorf("due deliveries (-want +got):\n%s", d)
		}

		d := *ds[0]
		d.State, d.Attempts, d.SentAt, d.LastError = store.DeliverySent, 1, at(2*time.Second), ""
		if err := s.UpdateDelivery(ctx(t), &d); err != nil {
			t.Fatalf("UpdateDelivery: %v", err)
		}
		if d.Version != 2 {
			t.Errorf("Version after update = %d, want 2", d.Version)
		}
		stale := *ds[0]
		if err := s.UpdateDelivery(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("stale UpdateDelivery = %v, want ErrConflict", err)
		}
		if stale.Version != 1 {
			t.Errorf("a failed update changed Version to %d", stale.Version)
		}
		missing := store.Delivery{ID: 999, Version: 1, State: store.DeliverySent}
		if err := s.UpdateDelivery(ctx(t), &missing); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateDelivery of a missing id = %v, want ErrNotFound", err)
		}
		sent, err := s.ListDeliveries(ctx(t), store.DeliveryFilter{State: store.DeliverySent})
		if err != nil {
			t.Fatal(err)
		}
		if df := diff([]*store.Delivery{&d}, sent); df != "" {
			t.Errorf("sent deliveries (-want +got):\n%s", df)
		}
	})

	t.Run("Prune", func(t *testing.T) {
		s := newStore(t)
		add := func(key string, created time.Duration, states ...store.DeliveryState) int64 {
			n := &store.Notification{Key: key, Kind: "cluster.deleted", CreatedAt: at(created)}
			if _, err := s.AddNotification(ctx(t), n); err != nil {
				t.Fatal(err)
			}
			var ds []*store.Delivery
			for i, st := range states {
				ds = append(ds, &store.Delivery{Channel: "email", Recipient: string(rune('a'+i)) + "@example.org", State: st})
			}
			if states != nil {
				if err := s.ExpandNotification(ctx(t), n.ID, ds); err != nil {
					t.Fatal(err)
				}
			}
			return n.ID
		}
		add("old-done", 0, store.DeliverySent, store.DeliveryGaveUp)
		pending := add("old-pending", 0, store.DeliverySent, store.DeliveryPending)
		unexpanded := add("old-unexpanded", 0)
		recent := add("recent-done", time.Hour, store.DeliverySent)
		n, err := s.PruneNotifications(ctx(t), at(time.Minute))
		if err != nil || n != 1 {
			t.Fatalf("PruneNotifications = %d, %v; want 1 (old-done)", n, err)
		}
		for _, id := range []int64{pending, unexpanded, recent} {
			if _, err := s.GetNotification(ctx(t), id); err != nil {
				t.Errorf("notification %d pruned: %v", id, err)
			}
		}
		all, err := s.ListDeliveries(ctx(t), store.DeliveryFilter{})
		if err != nil || len(all) != 3 {
			t.Errorf("deliveries after prune = %d, %v; want the 3 of the kept notifications", len(all), err)
		}
		// The key is free again.
		if added, err := s.AddNotification(ctx(t), &store.Notification{Key: "old-done", Kind: "cluster.deleted", CreatedAt: at(2 * time.Hour)}); err != nil || !added {
			t.Errorf("AddNotification of a pruned key = %v, %v; want added", added, err)
		}
	})

	t.Run("NextDeliveryDue", func(t *testing.T) {
		s := newStore(t)
		due := func() (time.Time, bool) {
			t.Helper()
			next, ok, err := s.NextDeliveryDue(ctx(t))
			if err != nil {
				t.Fatalf("NextDeliveryDue: %v", err)
			}
			return next, ok
		}
		if next, ok := due(); ok {
			t.Fatalf("NextDeliveryDue of an empty store = %v, true; want false", next)
		}
		n := &store.Notification{Key: "k", Kind: "cluster.deleted", CreatedAt: at(0)}
		if _, err := s.AddNotification(ctx(t), n); err != nil {
			t.Fatal(err)
		}
		ds := []*store.Delivery{
			{Channel: "email", Recipient: "a@example.org", State: store.DeliverySent, SentAt: at(0)},
			{Channel: "email", Recipient: "b@example.org", State: store.DeliveryPending, NextAttempt: at(time.Hour)},
			{Channel: "email", Recipient: "c@example.org", State: store.DeliveryPending, NextAttempt: at(time.Minute)},
			{Channel: "email", Recipient: "d@example.org", State: store.DeliveryGaveUp},
		}
		if err := s.ExpandNotification(ctx(t), n.ID, ds); err != nil {
			t.Fatal(err)
		}
		if next, ok := due(); !ok || !next.Equal(at(time.Minute)) {
			t.Errorf("NextDeliveryDue = %v, %v; want %v (the earliest pending), true", next, ok, at(time.Minute))
		}
		c := *ds[2]
		c.State, c.NextAttempt, c.SentAt = store.DeliverySent, time.Time{}, at(time.Minute)
		if err := s.UpdateDelivery(ctx(t), &c); err != nil {
			t.Fatal(err)
		}
		if next, ok := due(); !ok || !next.Equal(at(time.Hour)) {
			t.Errorf("NextDeliveryDue after the earliest was sent = %v, %v; want %v, true", next, ok, at(time.Hour))
		}
		b := *ds[1]
		b.NextAttempt = time.Time{}
		if err := s.UpdateDelivery(ctx(t), &b); err != nil {
			t.Fatal(err)
		}
		if next, ok := due(); !ok || !next.IsZero() {
			t.Errorf("NextDeliveryDue with a pending delivery without a time = %v, %v; want the zero time (due now), true", next, ok)
		}
		b.State, b.SentAt = store.DeliveryGaveUp, at(2*time.Hour)
		if err := s.UpdateDelivery(ctx(t), &b); err != nil {
			t.Fatal(err)
		}
		if next, ok := due(); ok {
			t.Errorf("NextDeliveryDue with nothing pending = %v, true; want false", next)
		}
	})

	t.Run("ExpandIsAtomic", func(t *testing.T) {
		s := newStore(t)
		n := &store.Notification{Key: "k", Kind: "cluster.deleted"}
		if _, err := s.AddNotification(ctx(t), n); err != nil {
			t.Fatal(err)
		}
		twice := []*store.Delivery{
			{Channel: "email", Recipient: "a@example.org", State: store.DeliveryPending},
			{Channel: "email", Recipient: "a@example.org", State: store.DeliveryPending},
		}
		if err := s.ExpandNotification(ctx(t), n.ID, twice); err == nil {
			t.Fatalf("ExpandNotification with a recipient listed twice succeeded")
		}
		if twice[0].ID != 0 {
			t.Errorf("a failed expand assigned ID %d", twice[0].ID)
		}
		ds, err := s.ListDeliveries(ctx(t), store.DeliveryFilter{})
		if err != nil || len(ds) != 0 {
			t.Errorf("deliveries after a failed expand = %v, %v; want none", ds, err)
		}
		un, err := s.ListNotifications(ctx(t), store.NotificationFilter{Unexpanded: true})
		if err != nil || len(un) != 1 {
			t.Errorf("a failed expand marked the notification expanded: %v, %v", un, err)
		}
	})
}

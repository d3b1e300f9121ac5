package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testDropbox(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGetUpdate", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetDropboxRequest(ctx(t), "home/ann/lab.cf-create", "e1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetDropboxRequest of a missing request = %v, want ErrNotFound", err)
		}
		r := &store.DropboxRequest{Key: "home/ann/lab.cf-create", ETag: "e1", User: "ann", Cluster: "lab", Kind: "create",
			Stage: store.DropboxSeen, SeenAt: at(0)}
		if err := s.CreateDropboxRequest(ctx(t), r); err != nil {
			t.Fatalf("CreateDropboxRequest: %v", err)
		}
		if r.ID == 0 || r.Version != 1 || !r.UpdatedAt.Equal(at(0)) {
			t.Errorf("after create: ID %d, Version %d, UpdatedAt %v; want an ID, version 1, UpdatedAt = SeenAt", r.ID, r.Version, r.UpdatedAt)
		}
		dup := &store.DropboxRequest{Key: r.Key, ETag: r.ETag, Kind: "create", Stage: store.DropboxSeen}
		if err := s.CreateDropboxRequest(ctx(t), dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second CreateDropboxRequest of the same key and version = %v, want ErrConflict", err)
		}
		if dup.ID != 0 || dup.Version != 0 {
			t.Errorf("a failed create changed the struct: %+v", dup)
		}
		// A new version of the same key is another request.
		r2 := &store.DropboxRequest{Key: r.Key, ETag: "e2", User: "ann", Cluster: "lab", Kind: "create", Stage: store.DropboxSeen}
		if err := s.CreateDropboxRequest(ctx(t), r2); err != nil {
			t.Fatalf("CreateDropboxRequest of a new version: %v", err)
		}
		if r2.ID <= r.ID || !recent(r2.SeenAt) {
			t.Errorf("second request: ID %d (first %d), SeenAt %v; want a higher ID and SeenAt set to now", r2.ID, r.ID, r2.SeenAt)
		}
		got, err := s.GetDropboxRequest(ctx(t), r.Key, "e1")
		if err != nil {
			t.Fatalf("GetDropboxRequest: %v", err)
		}
		if d := diff(r, got); d != "" {
			t.Errorf("GetDropboxRequest (-want +got):\n%s", d)
		}

		stale := *got
		got.Stage, got.Reason = store.DropboxRefused, "line 2: ComputeMaxNodes: must be at least 1"
		if err := s.UpdateDropboxRequest(ctx(t), got); err != nil {
			t.Fatalf("UpdateDropboxRequest: %v", err)
		}
		if got.Version != 2 || !recent(got.UpdatedAt) {
			t.Errorf("after update: Version %d, UpdatedAt %v; want 2 and now", got.Version, got.UpdatedAt)
		}
		again, err := s.GetDropboxRequest(ctx(t), r.Key, "e1")
		if err != nil {
			t.Fatalf("GetDropboxRequest: %v", err)
		}
		if d := diff(got, again); d != "" {
			t.Errorf("after update (-want +got):\n%s", d)
		}
		if err := s.UpdateDropboxRequest(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("UpdateDropboxRequest with a stale version = %v, want ErrConflict", err)
		}
		if stale.Version != 1 {
			t.Errorf("a failed update changed the version to %d", stale.Version)
		}
		gone := &store.DropboxRequest{ID: 9999, Key: "x", Version: 1, Stage: store.DropboxDone}
		if err := s.UpdateDropboxRequest(ctx(t), gone); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateDropboxRequest of a missing request = %v, want ErrNotFound", err)
		}
		if err := s.CreateDropboxRequest(ctx(t), &store.DropboxRequest{ETag: "e"}); err == nil {
			t.Errorf("CreateDropboxRequest with an empty key succeeded")
		}
	})

	t.Run("List", func(t *testing.T) {
		s := newStore(t)
		rs := []*store.DropboxRequest{
			{Key: "home/ann/a.cf-create", ETag: "1", User: "ann", Cluster: "a", Kind: "create", Stage: store.DropboxDone, SeenAt: at(0)},
			{Key: "home/bob/a.cf-create", ETag: "1", User: "bob", Cluster: "a", Kind: "create", Stage: store.DropboxWaiting, SeenAt: at(time.Second)},
			{Key: "home/ann/b.cf-delete", ETag: "1", User: "ann", Cluster: "b", Kind: "delete", Stage: store.DropboxSeen, SeenAt: at(2 * time.Second)},
			{Key: "stray.cf-create", ETag: "1", Cluster: "stray", Kind: "create", Stage: store.DropboxRefused, Reason: "outside home/", SeenAt: at(3 * time.Second)},
		}
		for _, r := range rs {
			if err := s.CreateDropboxRequest(ctx(t), r); err != nil {
				t.Fatalf("CreateDropboxRequest: %v", err)
			}
		}
		for _, tc := range []struct {
			name string
			f    store.DropboxFilter
			want []*store.DropboxRequest
		}{
			{"all", store.DropboxFilter{}, rs},
			{"unfinished", store.DropboxFilter{Unfinished: true}, rs[1:]},
			{"user", store.DropboxFilter{User: "ann"}, []*store.DropboxRequest{rs[0], rs[2]}},
			{"cluster", store.DropboxFilter{Cluster: "a"}, rs[:2]},
			{"user and cluster", store.DropboxFilter{User: "bob", Cluster: "a"}, rs[1:2]},
			{"none", store.DropboxFilter{User: "carol"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListDropboxRequests(ctx(t), tc.f)
				if err != nil {
					t.Fatalf("ListDropboxRequests: %v", err)
				}
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListDropboxRequests(%+v) (-want +got):\n%s", tc.f, d)
				}
			})
		}
	})

	t.Run("Prune", func(t *testing.T) {
		s := newStore(t)
		// Finished long ago, finished recently, and unfinished ones of
		// every other stage seen long ago.
		rs := map[string]*store.DropboxRequest{
			"old-done":       {Key: "home/ann/a.cf-create", ETag: "1", Stage: store.DropboxDone, SeenAt: at(0)},
			"old-seen-done":  {Key: "home/ann/b.cf-create", ETag: "1", Stage: store.DropboxDone, SeenAt: at(0), UpdatedAt: at(2 * time.Hour)},
			"new-done":       {Key: "home/ann/c.cf-create", ETag: "1", Stage: store.DropboxDone, SeenAt: at(2 * time.Hour)},
			"old-seen":       {Key: "home/ann/d.cf-create", ETag: "1", Stage: store.DropboxSeen, SeenAt: at(0)},
			"old-submitted":  {Key: "home/ann/e.cf-create", ETag: "1", Stage: store.DropboxSubmitted, SeenAt: at(0)},
			"old-waiting":    {Key: "home/ann/f.cf-create", ETag: "1", Stage: store.DropboxWaiting, SeenAt: at(0)},
			"old-refused":    {Key: "home/ann/g.cf-create", ETag: "1", Stage: store.DropboxRefused, Reason: "no", SeenAt: at(0)},
			"old-done-again": {Key: "home/ann/a.cf-create", ETag: "2", Stage: store.DropboxDone, SeenAt: at(time.Minute)},
		}
		for name, r := range rs {
			r.Kind = "create"
			if err := s.CreateDropboxRequest(ctx(t), r); err != nil {
				t.Fatalf("CreateDropboxRequest %s: %v", name, err)
			}
		}
		n, err := s.PruneDropboxRequests(ctx(t), at(time.Hour))
		if err != nil || n != 2 {
			t.Fatalf("PruneDropboxRequests = %d, %v; want 2 (old-done, old-done-again)", n, err)
		}
		for name, r := range rs {
			_, err := s.GetDropboxRequest(ctx(t), r.Key, r.ETag)
			gone := name == "old-done" || name == "old-done-again"
			if gone && !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s after pruning: %v, want ErrNotFound", name, err)
			}
			if !gone && err != nil {
				t.Errorf("%s after pruning: %v, want it kept", name, err)
			}
		}
		if n, err := s.PruneDropboxRequests(ctx(t), at(time.Hour)); err != nil || n != 0 {
			t.Errorf("second PruneDropboxRequests = %d, %v; want 0", n, err)
		}
		// The pruned key and version can be recorded again.
		again := &store.DropboxRequest{Key: "home/ann/a.cf-create", ETag: "1", Kind: "create", Stage: store.DropboxSeen}
		if err := s.CreateDropboxRequest(ctx(t), again); err != nil {
			t.Errorf("CreateDropboxRequest of a pruned version: %v", err)
		}
	})
}

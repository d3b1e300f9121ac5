package storetest

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// newCluster returns a cluster with every field set, apart from Version.
func newCluster(name string) *store.Cluster {
	return &store.Cluster{
		Name:      name,
		Owner:     "ada",
		State:     store.ClusterCreating,
		Reason:    "waiting for capacity",
		Spec:      json.RawMessage(`{"region":"eu-west-1","head":{"type":"t3.small"},"max_nodes":4,"spot":true,"tags":["a","b"]}`),
		CreatedAt: at(0),
		UpdatedAt: at(time.Second),
	}
}

func testClusters(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		c := newCluster("alpha")
		if err := s.CreateCluster(ctx(t), c); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		want := newCluster("alpha")
		want.Version = 1
		if d := diff(want, c); d != "" {
			t.Errorf("cluster after CreateCluster (-want +got):\n%s", d)
		}
		got, err := s.GetCluster(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetCluster: %v", err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("GetCluster (-want +got):\n%s", d)
		}
	})

	t.Run("CreateFillsTimes", func(t *testing.T) {
		s := newStore(t)
		c := &store.Cluster{Name: "alpha", Owner: "ada", State: store.ClusterCreating}
		if err := s.CreateCluster(ctx(t), c); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		if !recent(c.CreatedAt) || !c.UpdatedAt.Equal(c.CreatedAt) {
			t.Errorf("CreatedAt, UpdatedAt = %v, %v; want now, and equal", c.CreatedAt, c.UpdatedAt)
		}
		got, err := s.GetCluster(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetCluster: %v", err)
		}
		if d := diff(c, got); d != "" {
			t.Errorf("GetCluster (-want +got):\n%s", d)
		}
	})

	t.Run("GetNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetCluster(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCluster of a missing cluster: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("DuplicateName", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateCluster(ctx(t), newCluster("alpha")); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		dup := newCluster("alpha")
		dup.Owner = "mallory"
		before := *dup
		if err := s.CreateCluster(ctx(t), dup); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreateCluster of an existing name: err = %v, want ErrConflict", err)
		}
		if d := diff(&before, dup); d != "" {
			t.Errorf("failed CreateCluster changed its argument (-before +after):\n%s", d)
		}
		got, err := s.GetCluster(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetCluster: %v", err)
		}
		if got.Owner != "ada" {
			t.Errorf("Owner = %q after a conflicting create; want the original %q", got.Owner, "ada")
		}
	})

	t.Run("EmptyName", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateCluster(ctx(t), newCluster("")); err == nil {
			t.Fatal("CreateCluster with an empty name succeeded; want an error")
		}
	})

	t.Run("ListOrderedByName", func(t *testing.T) {
		s := newStore(t)
		got, err := s.ListClusters(ctx(t))
		if err != nil {
			t.Fatalf("ListClusters of an empty store: %v", err)
		}
		if len(got) != 0 {
			t.Fatalf("ListClusters of an empty store returned %d clusters", len(got))
		}
		var want []*store.Cluster
		for _, name := range []string{"charlie", "alpha", "delta", "bravo"} {
			c := newCluster(name)
			c.Owner = "owner-of-" + name
			if err := s.CreateCluster(ctx(t), c); err != nil {
				t.Fatalf("CreateCluster(%s): %v", name, err)
			}
			want = append(want, c)
		}
		want = []*store.Cluster{want[1], want[3], want[0], want[2]}
		got, err = s.ListClusters(ctx(t))
		if err != nil {
			t.Fatalf("ListClusters: %v", err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("ListClusters (-want +got):\n%s", d)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateCluster(ctx(t), newCluster("alpha")); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		c, err := s.GetCluster(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetCluster: %v", err)
		}
		stale := *c
		c.State = store.ClusterRunning
		c.Reason = ""
		c.Owner = "grace"
		c.Spec = json.RawMessage(`{"region":"us-east-1"}`)
		if err := s.UpdateCluster(ctx(t), c); err != nil {
			t.Fatalf("UpdateCluster: %v", err)
		}
		if c.Version != 2 {
			t.Errorf("Version after an update = %d, want 2", c.Version)
		}
		if c.UpdatedAt.Equal(stale.UpdatedAt) || !recent(c.UpdatedAt) {
			t.Errorf("UpdatedAt after an update = %v, want the current time", c.UpdatedAt)
		}
		if !c.CreatedAt.Equal(stale.CreatedAt) {
			t.Errorf("CreatedAt changed by an update: %v, want %v", c.CreatedAt, stale.CreatedAt)
		}
		got, err := s.GetCluster(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetCluster: %v", err)
		}
		if d := diff(c, got); d != "" {
			t.Errorf("GetCluster after UpdateCluster (-want +got):\n%s", d)
		}

		// The copy read before the update is stale now.
		stale.State = store.ClusterFailed
		before := stale
		if err := s.UpdateCluster(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("UpdateCluster with a stale version: err = %v, want ErrConflict", err)
		}
		if d := diff(&before, &stale); d != "" {
			t.Errorf("failed UpdateCluster changed its argument (-before +after):\n%s", d)
		}
		got, err = s.GetCluster(ctx(t), "alpha")
		if err != nil {
			t.Fatalf("GetCluster: %v", err)
		}
		if d := diff(c, got); d != "" {
			t.Errorf("stale UpdateCluster changed the record (-want +got):\n%s", d)
		}

		// A second update from the current copy succeeds again.
		c.Reason = "second"
		if err := s.UpdateCluster(ctx(t), c); err != nil {
			t.Fatalf("second UpdateCluster: %v", err)
		}
		if c.Version != 3 {
			t.Errorf("Version after two updates = %d, want 3", c.Version)
		}
	})

	t.Run("UpdateNotFound", func(t *testing.T) {
		s := newStore(t)
		c := newCluster("ghost")
		c.Version = 1
		if err := s.UpdateCluster(ctx(t), c); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateCluster of a missing cluster: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetCluster(ctx(t), "ghost"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("UpdateCluster of a missing cluster created it: GetCluster err = %v", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		for _, name := range []string{"alpha", "bravo"} {
			if err := s.CreateCluster(ctx(t), newCluster(name)); err != nil {
				t.Fatalf("CreateCluster: %v", err)
			}
		}
		if err := s.DeleteCluster(ctx(t), "alpha"); err != nil {
			t.Fatalf("DeleteCluster: %v", err)
		}
		if _, err := s.GetCluster(ctx(t), "alpha"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCluster after DeleteCluster: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetCluster(ctx(t), "bravo"); err != nil {
			t.Fatalf("DeleteCluster removed another cluster: %v", err)
		}
		if err := s.DeleteCluster(ctx(t), "alpha"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second DeleteCluster: err = %v, want ErrNotFound", err)
		}
		// The name is free again, and the new record starts over.
		c := newCluster("alpha")
		if err := s.CreateCluster(ctx(t), c); err != nil {
			t.Fatalf("CreateCluster after DeleteCluster: %v", err)
		}
		if c.Version != 1 {
			t.Errorf("Version of a re-created cluster = %d, want 1", c.Version)
		}
	})

	t.Run("SpecRoundTrip", func(t *testing.T) {
		s := newStore(t)
		specs := map[string]json.RawMessage{
			"nested":  json.RawMessage(`{"a":{"b":[1,2.5,"three",null,true]},"unicode":"λ—\u00e9","big":9007199254740991}`),
			"spaced":  json.RawMessage("{ \"x\" : [ 1 , 2 ] }\n"),
			"empty":   nil,
			"literal": json.RawMessage(`"just a string"`),
		}
		for name, spec := range specs {
			c := newCluster(name)
			c.Spec = spec
			if err := s.CreateCluster(ctx(t), c); err != nil {
				t.Fatalf("CreateCluster(%s): %v", name, err)
			}
			got, err := s.GetCluster(ctx(t), name)
			if err != nil {
				t.Fatalf("GetCluster(%s): %v", name, err)
			}
			if d := diff(spec, got.Spec); d != "" {
				t.Errorf("Spec %s (-want +got):\n%s", name, d)
			}
			if spec != nil && !json.Valid(got.Spec) {
				t.Errorf("Spec %s reads back as invalid JSON: %q", name, got.Spec)
			}
		}
	})

	t.Run("SpecNotJSON", func(t *testing.T) {
		s := newStore(t)
		c := newCluster("alpha")
		c.Spec = json.RawMessage(`{"unterminated":`)
		if err := s.CreateCluster(ctx(t), c); err == nil {
			t.Fatal("CreateCluster with a spec that is not JSON succeeded; want an error")
		}
		if _, err := s.GetCluster(ctx(t), "alpha"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a failed CreateCluster stored the cluster: GetCluster err = %v", err)
		}
		c = newCluster("alpha")
		if err := s.CreateCluster(ctx(t), c); err != nil {
			t.Fatalf("CreateCluster: %v", err)
		}
		c.Spec = json.RawMessage(`not json`)
		if err := s.UpdateCluster(ctx(t), c); err == nil {
			t.Fatal("UpdateCluster with a spec that is not JSON succeeded; want an error")
		}
	})
}

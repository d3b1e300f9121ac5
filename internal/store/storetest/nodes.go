package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// newNode returns a node with every field set, apart from Version.
func newNode(id, cluster string) *store.Node {
	return &store.Node{
		ID:             id,
		Cluster:        cluster,
		Role:           store.RoleCompute,
		Region:         "eu-west-1",
		Type:           "c6i.large",
		Spot:           true,
		MaxPriceMicros: 85_000,
		RootVolumeGB:   40,
		Generation:     3,
		TokenHash:      "hash-of-" + id,
		Terminate:      true,
		InstanceID:     "i-0123456789abcdef0",
		InstanceState:  "running",
		Address:        "10.0.3.7",
		PriceMicros:    31_250,
		LaunchedAt:     at(time.Minute),
		// A time in another zone must come back as the same instant.
		RegisteredAt:  at(2 * time.Minute).In(time.FixedZone("UTC+5:30", 5*3600+1800)),
		LastHeartbeat: at(3*time.Minute + 7*time.Millisecond),
		AgentVersion:  "v0.3.1",
		LastError:     "InsufficientInstanceCapacity: try another type",
		CreatedAt:     at(0),
	}
}

func testNodes(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGetAllFields", func(t *testing.T) {
		s := newStore(t)
		n := newNode("n-1", "alpha")
		if err := s.CreateNode(ctx(t), n); err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		want := newNode("n-1", "alpha")
		want.Version = 1
		if d := diff(want, n); d != "" {
			t.Errorf("node after CreateNode (-want +got):\n%s", d)
		}
		got, err := s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := diff(want, got); d != "" {
			t.Errorf("GetNode (-want +got):\n%s", d)
		}
	})

	t.Run("ZeroTimesAndValues", func(t *testing.T) {
		s := newStore(t)
		n := &store.Node{ID: "n-1", Cluster: "alpha", Role: store.RoleHead, CreatedAt: at(0)}
		if err := s.CreateNode(ctx(t), n); err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		got, err := s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := diff(n, got); d != "" {
			t.Errorf("GetNode (-want +got):\n%s", d)
		}
		for name, tm := range map[string]time.Time{
			"LaunchedAt": got.LaunchedAt, "RegisteredAt": got.RegisteredAt, "LastHeartbeat": got.LastHeartbeat,
		} {
			if !tm.IsZero() {
				t.Errorf("%s = %v, want the zero time", name, tm)
			}
		}
	})

	t.Run("SubMillisecondTimes", func(t *testing.T) {
		s := newStore(t)
		n := newNode("n-1", "alpha")
		n.LastHeartbeat = at(123456789 * time.Nanosecond)
		if err := s.CreateNode(ctx(t), n); err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		got, err := s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := n.LastHeartbeat.Sub(got.LastHeartbeat).Abs(); d >= time.Millisecond {
			t.Errorf("LastHeartbeat = %v, want %v to the millisecond", got.LastHeartbeat, n.LastHeartbeat)
		}
	})

	t.Run("CreateFillsCreatedAt", func(t *testing.T) {
		s := newStore(t)
		n := newNode("n-1", "alpha")
		n.CreatedAt = time.Time{}
		if err := s.CreateNode(ctx(t), n); err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		if !recent(n.CreatedAt) {
			t.Errorf("CreatedAt = %v, want now", n.CreatedAt)
		}
		got, err := s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := diff(n, got); d != "" {
			t.Errorf("GetNode (-want +got):\n%s", d)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetNode(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNode of a missing node: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetNodeByTokenHash(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNodeByTokenHash of an unknown hash: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteNode(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("DeleteNode of a missing node: err = %v, want ErrNotFound", err)
		}
		n := newNode("nope", "alpha")
		n.Version = 1
		if err := s.UpdateNode(ctx(t), n); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateNode of a missing node: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("Duplicates", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateNode(ctx(t), newNode("n-1", "alpha")); err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		dup := newNode("n-1", "bravo")
		dup.TokenHash = "another-hash"
		before := *dup
		if err := s.CreateNode(ctx(t), dup); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateNode of an existing id: err = %v, want ErrConflict", err)
		}
		if d := diff(&before, dup); d != "" {
			t.Errorf("failed CreateNode changed its argument (-before +after):\n%s", d)
		}
		sameHash := newNode("n-2", "alpha")
		sameHash.TokenHash = "hash-of-n-1"
		if err := s.CreateNode(ctx(t), sameHash); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateNode with another node's token hash: err = %v, want ErrConflict", err)
		}
		got, err := s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if got.Cluster != "alpha" {
			t.Errorf("Cluster = %q after a conflicting create; want the original %q", got.Cluster, "alpha")
		}
		if _, err := s.GetNode(ctx(t), "n-2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a conflicting CreateNode stored the node: GetNode err = %v", err)
		}
		// Nodes without a token yet do not collide.
		for _, id := range []string{"n-3", "n-4"} {
			n := newNode(id, "alpha")
			n.TokenHash = ""
			if err := s.CreateNode(ctx(t), n); err != nil {
				t.Errorf("CreateNode(%s) with an empty token hash: %v", id, err)
			}
		}
		if _, err := s.GetNodeByTokenHash(ctx(t), ""); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNodeByTokenHash(\"\"): err = %v, want ErrNotFound", err)
		}
	})

	t.Run("EmptyID", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateNode(ctx(t), newNode("", "alpha")); err == nil {
			t.Fatal("CreateNode with an empty id succeeded; want an error")
		}
	})

	t.Run("GetByTokenHash", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"n-1", "n-2", "n-3"} {
			if err := s.CreateNode(ctx(t), newNode(id, "alpha")); err != nil {
				t.Fatalf("CreateNode(%s): %v", id, err)
			}
		}
		got, err := s.GetNodeByTokenHash(ctx(t), "hash-of-n-2")
		if err != nil {
			t.Fatalf("GetNodeByTokenHash: %v", err)
		}
		want := newNode("n-2", "alpha")
		want.Version = 1
		if d := diff(want, got); d != "" {
			t.Errorf("GetNodeByTokenHash (-want +got):\n%s", d)
		}
	})

	t.Run("ListOrder", func(t *testing.T) {
		s := newStore(t)
		// Created out of order; n-b and n-a share a creation time.
		specs := []struct {
			id, cluster string
			created     time.Duration
		}{
			{"n-c", "alpha", 3 * time.Second},
			{"n-b", "alpha", time.Second},
			{"n-x", "bravo", 2 * time.Second},
			{"n-a", "alpha", time.Second},
			{"n-0", "alpha", 5 * time.Second},
			{"n-y", "bravo", 0},
		}
		nodes := map[string]*store.Node{}
		for _, sp := range specs {
			n := newNode(sp.id, sp.cluster)
			n.CreatedAt = at(sp.created)
			if sp.id == "n-x" || sp.id == "n-0" {
				n.Role, n.Region = store.RoleWorker, "r2"
			}
			if err := s.CreateNode(ctx(t), n); err != nil {
				t.Fatalf("CreateNode(%s): %v", sp.id, err)
			}
			nodes[sp.id] = n
		}
		pick := func(ids ...string) []*store.Node {
			var ns []*store.Node
			for _, id := range ids {
				ns = append(ns, nodes[id])
			}
			return ns
		}
		for _, tc := range []struct {
			name   string
			filter store.NodeFilter
			want   []*store.Node
		}{
			{"All", store.NodeFilter{}, pick("n-y", "n-a", "n-b", "n-x", "n-c", "n-0")},
			{"Alpha", store.NodeFilter{Cluster: "alpha"}, pick("n-a", "n-b", "n-c", "n-0")},
			{"Bravo", store.NodeFilter{Cluster: "bravo"}, pick("n-y", "n-x")},
			{"Unknown", store.NodeFilter{Cluster: "zulu"}, nil},
			{"Role", store.NodeFilter{Role: store.RoleWorker}, pick("n-x", "n-0")},
			{"RoleAndRegion", store.NodeFilter{Role: store.RoleWorker, Region: "r2"}, pick("n-x", "n-0")},
			{"ClusterAndRole", store.NodeFilter{Cluster: "alpha", Role: store.RoleWorker}, pick("n-0")},
			{"OtherRegion", store.NodeFilter{Region: "nowhere"}, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListNodes(ctx(t), tc.filter)
				if err != nil {
					t.Fatalf("ListNodes: %v", err)
				}
				if len(got) == 0 && len(tc.want) == 0 {
					return
				}
				if d := diff(tc.want, got); d != "" {
					t.Errorf("ListNodes(%+v) (-want +got):\n%s", tc.filter, d)
				}
			})
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		n := &store.Node{ID: "n-1", Cluster: "alpha", Role: store.RoleCompute, Region: "eu-west-1", Type: "c6i.large", CreatedAt: at(0)}
		if err := s.CreateNode(ctx(t), n); err != nil {
			t.Fatalf("CreateNode: %v", err)
		}
		stale := *n
		// Observe everything.
		full := newNode("n-1", "alpha")
		full.Version = n.Version
		n = full
		if err := s.UpdateNode(ctx(t), n); err != nil {
			t.Fatalf("UpdateNode: %v", err)
		}
		if n.Version != 2 {
			t.Errorf("Version after an update = %d, want 2", n.Version)
		}
		got, err := s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := diff(n, got); d != "" {
			t.Errorf("GetNode after UpdateNode (-want +got):\n%s", d)
		}
		if _, err := s.GetNodeByTokenHash(ctx(t), n.TokenHash); err != nil {
			t.Errorf("GetNodeByTokenHash of the token hash set by UpdateNode: %v", err)
		}

		// Clearing times stores the zero time again.
		n.LaunchedAt, n.RegisteredAt, n.LastHeartbeat = time.Time{}, time.Time{}, time.Time{}
		n.Spot, n.Terminate = false, false
		if err := s.UpdateNode(ctx(t), n); err != nil {
			t.Fatalf("UpdateNode clearing fields: %v", err)
		}
		got, err = s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := diff(n, got); d != "" {
			t.Errorf("GetNode after clearing fields (-want +got):\n%s", d)
		}

		stale.InstanceState = "terminated"
		before := stale
		if err := s.UpdateNode(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("UpdateNode with a stale version: err = %v, want ErrConflict", err)
		}
		if d := diff(&before, &stale); d != "" {
			t.Errorf("failed UpdateNode changed its argument (-before +after):\n%s", d)
		}
		got, err = s.GetNode(ctx(t), "n-1")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		if d := diff(n, got); d != "" {
			t.Errorf("stale UpdateNode changed the record (-want +got):\n%s", d)
		}
	})

	t.Run("UpdateTokenHashConflict", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"n-1", "n-2"} {
			if err := s.CreateNode(ctx(t), newNode(id, "alpha")); err != nil {
				t.Fatalf("CreateNode(%s): %v", id, err)
			}
		}
		n, err := s.GetNode(ctx(t), "n-2")
		if err != nil {
			t.Fatalf("GetNode: %v", err)
		}
		n.TokenHash = "hash-of-n-1"
		if err := s.UpdateNode(ctx(t), n); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("UpdateNode to another node's token hash: err = %v, want ErrConflict", err)
		}
		got, err := s.GetNodeByTokenHash(ctx(t), "hash-of-n-1")
		if err != nil {
			t.Fatalf("GetNodeByTokenHash: %v", err)
		}
		if got.ID != "n-1" {
			t.Errorf("token hash of n-1 now finds %s", got.ID)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := newStore(t)
		for _, id := range []string{"n-1", "n-2"} {
			if err := s.CreateNode(ctx(t), newNode(id, "alpha")); err != nil {
				t.Fatalf("CreateNode(%s): %v", id, err)
			}
		}
		if err := s.DeleteNode(ctx(t), "n-1"); err != nil {
			t.Fatalf("DeleteNode: %v", err)
		}
		if _, err := s.GetNode(ctx(t), "n-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNode after DeleteNode: err = %v, want ErrNotFound", err)
		}
		if _, err := s.GetNodeByTokenHash(ctx(t), "hash-of-n-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetNodeByTokenHash after DeleteNode: err = %v, want ErrNotFound", err)
		}
		if err := s.DeleteNode(ctx(t), "n-1"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("second DeleteNode: err = %v, want ErrNotFound", err)
		}
		ns, err := s.ListNodes(ctx(t), store.NodeFilter{})
		if err != nil {
			t.Fatalf("ListNodes: %v", err)
		}
		if len(ns) != 1 || ns[0].ID != "n-2" {
			t.Errorf("ListNodes after deleting n-1 returned %d nodes, want only n-2", len(ns))
		}
	})
}

package storetest

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testCustomisation(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGetConflictCascade", func(t *testing.T) {
		s := newStore(t)
		data := json.RawMessage(`{"ssh_keys":["ssh-ed25519 AAAA ann"]}`)
		if err := s.CreateCustomisation(ctx(t), &store.Customisation{Cluster: "demo", Data: data}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("CreateCustomisation without its cluster = %v, want ErrNotFound", err)
		}
		if err := s.CreateCluster(ctx(t), newCluster("demo")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCustomisation(ctx(t), "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetCustomisation before any = %v, want ErrNotFound", err)
		}
		if err := s.CreateCustomisation(ctx(t), &store.Customisation{Cluster: "demo", Data: data}); err != nil {
			t.Fatalf("CreateCustomisation: %v", err)
		}
		if err := s.CreateCustomisation(ctx(t), &store.Customisation{Cluster: "demo", Data: data}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second CreateCustomisation = %v, want ErrConflict", err)
		}
		got, err := s.GetCustomisation(ctx(t), "demo")
		if err != nil {
			t.Fatalf("GetCustomisation: %v", err)
		}
		if d := diff(&store.Customisation{Cluster: "demo", Data: data}, got); d != "" {
			t.Errorf("GetCustomisation (-want +got):\n%s", d)
		}
		if err := s.DeleteCluster(ctx(t), "demo"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCustomisation(ctx(t), "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCustomisation after the cluster was deleted = %v, want ErrNotFound", err)
		}
		// A cluster of the same name later starts without one.
		if err := s.CreateCluster(ctx(t), newCluster("demo")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetCustomisation(ctx(t), "demo"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetCustomisation of a new cluster of the same name = %v, want ErrNotFound", err)
		}
	})

	t.Run("ReportsOncePerGeneration", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.RecordCustomisationReport(ctx(t), "demo", "n1", 1); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("RecordCustomisationReport without its cluster = %v, want ErrNotFound", err)
		}
		if err := s.CreateCluster(ctx(t), newCluster("demo")); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			node  string
			gen   int
			first bool
		}{{"n1", 1, true}, {"n1", 1, false}, {"n1", 2, true}, {"n2", 1, true}, {"n1", 2, false}} {
			first, err := s.RecordCustomisationReport(ctx(t), "demo", tc.node, tc.gen)
			if err != nil || first != tc.first {
				t.Errorf("RecordCustomisationReport(%s, %d) = %v, %v; want %v", tc.node, tc.gen, first, err, tc.first)
			}
		}
		// Inside a transaction, and the record goes with the cluster.
		err := s.WithTx(ctx(t), func(q store.Queries) error {
			first, err := q.RecordCustomisationReport(ctx(t), "demo", "n3", 1)
			if err == nil && !first {
				t.Errorf("first report of n3 in a transaction not first")
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteCluster(ctx(t), "demo"); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateCluster(ctx(t), newCluster("demo")); err != nil {
			t.Fatal(err)
		}
		if first, err := s.RecordCustomisationReport(ctx(t), "demo", "n1", 1); err != nil || !first {
			t.Errorf("report after the cluster was recreated = %v, %v; want first", first, err)
		}
	})
}

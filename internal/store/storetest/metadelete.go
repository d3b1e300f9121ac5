package storetest

import (
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testMetaDelete(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("DeletesOnlyItsKey", func(t *testing.T) {
		s := newStore(t)
		c := ctx(t)
		for k, v := range map[string]string{"secret": "s-1", "other": "x"} {
			if err := s.SetMeta(c, k, v); err != nil {
				t.Fatalf("SetMeta %s: %v", k, err)
			}
		}
		if err := s.DeleteMeta(c, "secret"); err != nil {
			t.Fatalf("DeleteMeta: %v", err)
		}
		if got, err := s.GetMeta(c, "secret"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetMeta after DeleteMeta = %q, %v; want ErrNotFound", got, err)
		}
		if got, err := s.GetMeta(c, "other"); err != nil || got != "x" {
			t.Fatalf("GetMeta of another key = %q, %v; want %q", got, err, "x")
		}
	})

	t.Run("UnsetKeyIsNoError", func(t *testing.T) {
		s := newStore(t)
		if err := s.DeleteMeta(ctx(t), "never-set"); err != nil {
			t.Fatalf("DeleteMeta of an unset key: %v, want nil", err)
		}
	})

	t.Run("RolledBackWithTheTransaction", func(t *testing.T) {
		s := newStore(t)
		c := ctx(t)
		if err := s.SetMeta(c, "secret", "s-1"); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		err := s.WithTx(c, func(q store.Queries) error {
			if err := q.DeleteMeta(c, "secret"); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("WithTx = %v, want %v", err, boom)
		}
		if got, err := s.GetMeta(c, "secret"); err != nil || got != "s-1" {
			t.Fatalf("GetMeta after a rolled-back delete = %q, %v; want %q", got, err, "s-1")
		}
	})
}

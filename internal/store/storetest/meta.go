package storetest

import (
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testMeta(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		_, err := s.GetMeta(ctx(t), "installation-id")
		if !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetMeta of an unset key: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("SetGetReplace", func(t *testing.T) {
		s := newStore(t)
		c := ctx(t)
		if err := s.SetMeta(c, "installation-id", "i-1"); err != nil {
			t.Fatalf("SetMeta: %v", err)
		}
		if err := s.SetMeta(c, "other", "x"); err != nil {
			t.Fatalf("SetMeta: %v", err)
		}
		if got, err := s.GetMeta(c, "installation-id"); err != nil || got != "i-1" {
			t.Fatalf("GetMeta = %q, %v; want %q", got, err, "i-1")
		}
		if err := s.SetMeta(c, "installation-id", "i-2"); err != nil {
			t.Fatalf("SetMeta replacing: %v", err)
		}
		if got, err := s.GetMeta(c, "installation-id"); err != nil || got != "i-2" {
			t.Fatalf("GetMeta after replace = %q, %v; want %q", got, err, "i-2")
		}
		if got, err := s.GetMeta(c, "other"); err != nil || got != "x" {
			t.Fatalf("GetMeta of another key = %q, %v; want %q", got, err, "x")
		}
	})

	t.Run("EmptyValueIsAValue", func(t *testing.T) {
		s := newStore(t)
		if err := s.SetMeta(ctx(t), "k", ""); err != nil {
			t.Fatalf("SetMeta: %v", err)
		}
		if got, err := s.GetMeta(ctx(t), "k"); err != nil || got != "" {
			t.Fatalf("GetMeta = %q, %v; want \"\", nil", got, err)
		}
	})
}

package storetest

import (
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testTokens(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGet", func(t *testing.T) {
		s := newStore(t)
		tok := &store.Token{Hash: "9f86d081884c7d65", User: "ada", Role: "admin", CreatedAt: at(0)}
		if err := s.CreateToken(ctx(t), tok); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		if err := s.CreateToken(ctx(t), &store.Token{Hash: "other", User: "grace", Role: "user"}); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		got, err := s.GetTokenByHash(ctx(t), "9f86d081884c7d65")
		if err != nil {
			t.Fatalf("GetTokenByHash: %v", err)
		}
		want := &store.Token{Hash: "9f86d081884c7d65", User: "ada", Role: "admin", CreatedAt: at(0)}
		if d := diff(want, got); d != "" {
			t.Errorf("GetTokenByHash (-want +got):\n%s", d)
		}
	})

	t.Run("CreateFillsCreatedAt", func(t *testing.T) {
		s := newStore(t)
		tok := &store.Token{Hash: "h", User: "ada", Role: "user"}
		if err := s.CreateToken(ctx(t), tok); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		if !recent(tok.CreatedAt) {
			t.Errorf("CreatedAt = %v, want now", tok.CreatedAt)
		}
		got, err := s.GetTokenByHash(ctx(t), "h")
		if err != nil {
			t.Fatalf("GetTokenByHash: %v", err)
		}
		if d := diff(tok, got); d != "" {
			t.Errorf("GetTokenByHash (-want +got):\n%s", d)
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetTokenByHash(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetTokenByHash of an unknown hash: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("Duplicate", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateToken(ctx(t), &store.Token{Hash: "h", User: "ada", Role: "admin", CreatedAt: at(0)}); err != nil {
			t.Fatalf("CreateToken: %v", err)
		}
		if err := s.CreateToken(ctx(t), &store.Token{Hash: "h", User: "mallory", Role: "admin"}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("CreateToken of an existing hash: err = %v, want ErrConflict", err)
		}
		got, err := s.GetTokenByHash(ctx(t), "h")
		if err != nil {
			t.Fatalf("GetTokenByHash: %v", err)
		}
		if got.User != "ada" {
			t.Errorf("User = %q after a conflicting create; want the original %q", got.User, "ada")
		}
	})

	t.Run("EmptyHash", func(t *testing.T) {
		s := newStore(t)
		if err := s.CreateToken(ctx(t), &store.Token{User: "ada", Role: "user"}); err == nil {
			t.Fatal("CreateToken with an empty hash succeeded; want an error")
		}
	})
}

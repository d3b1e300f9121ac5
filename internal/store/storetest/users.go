package storetest

import (
	"errors"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store"
)

func testUsers(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("CreateGetList", func(t *testing.T) {
		s := newStore(t)
		u := &store.User{Name: "bob", Email: "bob@example.org", Role: "user", CreatedAt: at(0)}
		if err := s.CreateUser(ctx(t), u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if u.Version != 1 {
			t.Errorf("Version = %d after create, want 1", u.Version)
		}
		a := &store.User{Name: "ada", Role: "admin"}
		if err := s.CreateUser(ctx(t), a); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if !recent(a.CreatedAt) {
			t.Errorf("CreatedAt = %v, want now", a.CreatedAt)
		}
		got, err := s.GetUser(ctx(t), "bob")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		if d := diff(u, got); d != "" {
			t.Errorf("GetUser (-want +got):\n%s", d)
		}
		all, err := s.ListUsers(ctx(t))
		if err != nil {
			t.Fatalf("ListUsers: %v", err)
		}
		if d := diff([]*store.User{a, u}, all); d != "" {
			t.Errorf("ListUsers (-want +got):\n%s", d)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetUser(ctx(t), "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetUser of an unknown name: err = %v, want ErrNotFound", err)
		}
		if err := s.CreateUser(ctx(t), &store.User{Role: "user"}); err == nil {
			t.Error("CreateUser with an empty name succeeded")
		}
		if err := s.CreateUser(ctx(t), &store.User{Name: "bob", Role: "user"}); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		if err := s.CreateUser(ctx(t), &store.User{Name: "bob", Role: "admin"}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("CreateUser of an existing name: err = %v, want ErrConflict", err)
		}
		if err := s.UpdateUser(ctx(t), &store.User{Name: "ghost", Version: 1}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("UpdateUser of an unknown name: err = %v, want ErrNotFound", err)
		}
	})

	t.Run("Update", func(t *testing.T) {
		s := newStore(t)
		u := &store.User{Name: "bob", Role: "user", CreatedAt: at(0)}
		if err := s.CreateUser(ctx(t), u); err != nil {
			t.Fatalf("CreateUser: %v", err)
		}
		stale := *u
		u.Disabled = true
		if err := s.UpdateUser(ctx(t), u); err != nil {
			t.Fatalf("UpdateUser: %v", err)
		}
		if u.Version != 2 {
			t.Errorf("Version = %d after update, want 2", u.Version)
		}
		if err := s.UpdateUser(ctx(t), &stale); !errors.Is(err, store.ErrConflict) {
			t.Errorf("UpdateUser with a stale version: err = %v, want ErrConflict", err)
		}
		got, err := s.GetUser(ctx(t), "bob")
		if err != nil {
			t.Fatalf("GetUser: %v", err)
		}
		if d := diff(u, got); d != "" {
			t.Errorf("GetUser after update (-want +got):\n%s", d)
		}
	})
}

func testAudit(t *testing.T, newStore func(t *testing.T) store.Store) {
	s := newStore(t)
	entries := []*store.AuditEntry{
		{Time: at(0), User: "ada", Method: "POST", Path: "/v1/clusters", Object: "c1", Status: 201},
		{Time: at(1000), User: "bob", Method: "DELETE", Path: "/v1/clusters/c1", Object: "c1", Status: 404},
		{Time: at(2000), User: "ada", Method: "DELETE", Path: "/v1/clusters/c1", Object: "c1", Status: 202},
	}
	var last int64
	for _, e := range entries {
		if err := s.AppendAudit(ctx(t), e); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		if e.ID <= last {
			t.Errorf("ID = %d, want more than %d", e.ID, last)
		}
		last = e.ID
	}
	now := &store.AuditEntry{User: "carol", Method: "POST", Path: "/v1/jobs", Status: 400}
	if err := s.AppendAudit(ctx(t), now); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	if !recent(now.Time) {
		t.Errorf("Time = %v, want now", now.Time)
	}
	all, err := s.ListAudit(ctx(t), store.AuditFilter{})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if d := diff(append(entries[:3:3], now), all); d != "" {
		t.Errorf("ListAudit (-want +got):\n%s", d)
	}
	ada, err := s.ListAudit(ctx(t), store.AuditFilter{User: "ada", Since: at(1000)})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if d := diff([]*store.AuditEntry{entries[2]}, ada); d != "" {
		t.Errorf("ListAudit(ada, since) (-want +got):\n%s", d)
	}
}

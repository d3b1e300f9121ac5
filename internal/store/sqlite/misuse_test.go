package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func TestWithTx_StoreWriteInsideFailsLoudly(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "stratus.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	s.writerWait = 100 * time.Millisecond

	err = s.WithTx(t.Context(), func(q store.Queries) error {
		// Wrong: the Store instead of q. This would wait forever for the
		// writer connection that this transaction holds.
		return s.SetMeta(t.Context(), "k", "v")
	})
	if err == nil || !strings.Contains(err.Error(), "inside a WithTx fn") {
		t.Fatalf("WithTx with a Store write inside = %v; want an error naming the misuse", err)
	}
	// The store recovers.
	if err := s.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatalf("SetMeta afterwards: %v", err)
	}
}

func TestOpen_Migrations(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stratus.db")
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatalf("loadMigrations: %v", err)
	}
	if len(ms) == 0 || ms[0].version != 1 {
		t.Fatalf("migrations start at %v; want version 1 first", ms)
	}
	for range 2 {
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		var n, max int
		if err := s.rdb.QueryRowContext(t.Context(), `SELECT count(*), max(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatalf("read schema_migrations: %v", err)
		}
		if n != len(ms) || max != ms[len(ms)-1].version {
			t.Errorf("schema_migrations has %d rows up to %d; want %d up to %d", n, max, len(ms), ms[len(ms)-1].version)
		}
		s.Close()
	}

	// A database from a newer stratus is refused.
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if _, err := s.wdb.ExecContext(t.Context(), `INSERT INTO schema_migrations VALUES (9999, '9999_future.sql', 0)`); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open of a database with an unknown migration succeeded")
	} else if !strings.Contains(err.Error(), "newer stratus") {
		t.Errorf("Open error = %q; want it to say a newer stratus wrote the database", err)
	}
}

func TestOpen_Pragmas(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "stratus.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, tc := range []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "2"}, // FULL
		{"busy_timeout", "10000"},
	} {
		for name, db := range map[string]interface {
			QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
		}{"writer": s.wdb, "reader": s.rdb} {
			var got string
			if err := db.QueryRowContext(t.Context(), "PRAGMA "+tc.pragma).Scan(&got); err != nil {
				t.Fatalf("%s PRAGMA %s: %v", name, tc.pragma, err)
			}
			if got != tc.want {
				t.Errorf("%s PRAGMA %s = %s, want %s", name, tc.pragma, got, tc.want)
			}
		}
	}
	// Readers are read-only: a write there would bypass the single writer.
	if _, err := s.rdb.ExecContext(t.Context(), `INSERT INTO meta VALUES ('k', 'v')`); err == nil {
		t.Error("a write on the reader pool succeeded; want query_only to refuse it")
	}
}

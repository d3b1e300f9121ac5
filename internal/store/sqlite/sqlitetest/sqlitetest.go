// Package sqlitetest opens SQLite stores for tests.
package sqlitetest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

// Open opens a SQLite store in a new temporary directory of t. It is
// closed when the test ends.
func Open(t testing.TB) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "stratus.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

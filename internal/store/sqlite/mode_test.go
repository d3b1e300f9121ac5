package sqlite_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestOpen_FilesAreOwnerOnly checks that a new database and the -wal and
// -shm files SQLite makes beside it are mode 0600, even under a umask that
// would leave them readable by everyone.
func TestOpen_FilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	path := filepath.Join(t.TempDir(), "stratus.db")
	s := open(t, path)
	defer s.Close()
	if err := s.SetMeta(t.Context(), "k", "v"); err != nil { // a commit: the WAL is written
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", filepath.Base(p), got)
		}
	}
}

// TestOpen_RestrictsAnExistingDatabase checks that opening a database whose
// files others can read makes them 0600.
func TestOpen_RestrictsAnExistingDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stratus.db")
	s := open(t, path)
	if err := s.SetMeta(t.Context(), "k", "v"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if err := os.Chmod(p, 0o644); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	s = open(t, path)
	defer s.Close()
	if got, err := s.GetMeta(t.Context(), "k"); err != nil || got != "v" {
		t.Fatalf("GetMeta after reopen = %q, %v; want %q", got, err, "v")
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %v after reopen, want -rw-------", filepath.Base(p), got)
		}
	}
}

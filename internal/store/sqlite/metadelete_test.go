package sqlite_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestDeleteMeta_LeavesNoCopyInTheFiles checks that a deleted value's bytes
// are in neither the database file nor its write-ahead log, so a secret
// taken out of the store cannot be read from a copy of its files.
func TestDeleteMeta_LeavesNoCopyInTheFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stratus.db")
	s := open(t, path)
	defer s.Close()
	secret := "c0ffee-the-secret-value-4a7b9d2e51c3f8"
	ctx := t.Context()
	if err := s.SetMeta(ctx, "secret", secret); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMeta(ctx, "kept", "still-here"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteMeta(ctx, "secret"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal"} {
		data, err := os.ReadFile(p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s still contains the deleted value", filepath.Base(p))
		}
	}
	if got, err := s.GetMeta(ctx, "kept"); err != nil || got != "still-here" {
		t.Errorf("GetMeta of the other key = %q, %v", got, err)
	}
}

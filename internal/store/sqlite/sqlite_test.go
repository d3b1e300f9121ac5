package sqlite_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
	"github.com/stratus-cloud/stratus/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s := open(t, filepath.Join(t.TempDir(), "stratus.db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		return s
	})
}

func TestOpen_DataSurvivesReopen(t *testing.T) {
	// A name that needs escaping in a file: URI.
	path := filepath.Join(t.TempDir(), "state dir?#%", "stratus.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	s := open(t, path)
	c := &store.Cluster{Name: "alpha", Owner: "ada", State: store.ClusterRunning, Spec: []byte(`{"a":1}`)}
	if err := s.CreateCluster(ctx, c); err != nil {
		t.Fatalf("CreateCluster: %v", err)
	}
	n := &store.Node{ID: "n-1", Cluster: "alpha", Role: store.RoleHead, TokenHash: "th"}
	if err := s.WithTx(ctx, func(q store.Queries) error {
		if err := q.SetMeta(ctx, "installation-id", "i-1"); err != nil {
			return err
		}
		return q.CreateNode(ctx, n)
	}); err != nil {
		t.Fatalf("WithTx: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	// Reopening runs the migrations again, which must do nothing.
	for range 2 {
		s = open(t, path)
		got, err := s.GetCluster(ctx, "alpha")
		if err != nil {
			t.Fatalf("GetCluster after reopen: %v", err)
		}
		if d := cmp.Diff(c, got); d != "" {
			t.Errorf("cluster after reopen (-want +got):\n%s", d)
		}
		gotNode, err := s.GetNodeByTokenHash(ctx, "th")
		if err != nil {
			t.Fatalf("GetNodeByTokenHash after reopen: %v", err)
		}
		if d := cmp.Diff(n, gotNode); d != "" {
			t.Errorf("node after reopen (-want +got):\n%s", d)
		}
		if v, err := s.GetMeta(ctx, "installation-id"); err != nil || v != "i-1" {
			t.Errorf("GetMeta after reopen = %q, %v; want %q", v, err, "i-1")
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpen_NotADatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notes.txt")
	text := strings.Repeat("These are my notes, not a database.\n", 100)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := sqlite.Open(t.Context(), path)
	if err == nil {
		s.Close()
		t.Fatal("Open of a text file succeeded; want an error")
	}
	t.Logf("Open error: %v", err)
	msg := err.Error()
	if !strings.Contains(msg, path) || !strings.Contains(msg, "not a SQLite database") {
		t.Errorf("Open error = %q; want it to name the file and say it is not a SQLite database", msg)
	}
	// The file is left alone.
	if b, err := os.ReadFile(path); err != nil || string(b) != text {
		t.Errorf("Open changed the file it refused (err %v)", err)
	}
}

func TestOpen_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, path, want string
	}{
		{"Memory", ":memory:", "in-memory"},
		{"Empty", "", "empty path"},
		{"MissingDirectory", filepath.Join(t.TempDir(), "no", "such", "dir", "stratus.db"), "cannot open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlite.Open(t.Context(), tc.path)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded; want an error", tc.path)
			}
			t.Logf("Open error: %v", err)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open(%q) error = %q; want it to contain %q", tc.path, err, tc.want)
			}
		})
	}
}

func TestStore_ClosedStoreFails(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "stratus.db"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := s.GetMeta(t.Context(), "k"); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetMeta on a closed store: err = %v, want a non-not-found error", err)
	}
	if err := s.SetMeta(t.Context(), "k", "v"); err == nil {
		t.Error("SetMeta on a closed store succeeded")
	}
}

// killHelperEnv, when set, makes TestStore_CommittedDataSurvivesKill the
// process that is killed: it commits, then waits inside an open transaction.
const killHelperEnv = "STRATUS_SQLITE_KILL_HELPER_DB"

func TestStore_CommittedDataSurvivesKill(t *testing.T) {
	if path := os.Getenv(killHelperEnv); path != "" {
		killHelper(t, path)
		return
	}
	const commits = 20
	path := filepath.Join(t.TempDir(), "stratus.db")
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestStore_CommittedDataSurvivesKill$")
	cmd.Env = append(os.Environ(), killHelperEnv+"="+path)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	ready := false
	for sc.Scan() {
		if sc.Text() == "ready" {
			ready = true
			break
		}
	}
	if !ready {
		cmd.Wait()
		t.Fatalf("helper process ended before it was ready: %v", sc.Err())
	}
	// kill -9: no deferred Close, no checkpoint, mid-transaction.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := open(t, path)
	defer s.Close()
	for i := range commits {
		if _, err := s.GetCluster(t.Context(), fmt.Sprintf("c-%02d", i)); err != nil {
			t.Errorf("committed cluster %d lost after kill -9: %v", i, err)
		}
	}
	if v, err := s.GetMeta(t.Context(), "counter"); err != nil || v != strconv.Itoa(commits) {
		t.Errorf("counter after kill -9 = %q, %v; want the committed %d", v, err, commits)
	}
	if _, err := s.GetCluster(t.Context(), "uncommitted"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cluster from the transaction open at kill -9: GetCluster err = %v, want ErrNotFound", err)
	}
	// The database is intact and writable.
	if err := s.SetMeta(t.Context(), "after", "1"); err != nil {
		t.Errorf("SetMeta after kill -9: %v", err)
	}
}

// killHelper runs in the child process of TestStore_CommittedDataSurvivesKill.
func killHelper(t *testing.T, path string) {
	ctx := t.Context()
	s := open(t, path)
	for i := range 20 {
		err := s.WithTx(ctx, func(q store.Queries) error {
			if err := q.CreateCluster(ctx, &store.Cluster{Name: fmt.Sprintf("c-%02d", i), State: store.ClusterCreating}); err != nil {
				return err
			}
			return q.SetMeta(ctx, "counter", strconv.Itoa(i+1))
		})
		if err != nil {
			t.Fatalf("helper: WithTx: %v", err)
		}
	}
	s.WithTx(ctx, func(q store.Queries) error {
		if err := q.CreateCluster(ctx, &store.Cluster{Name: "uncommitted"}); err != nil {
			t.Fatalf("helper: CreateCluster: %v", err)
		}
		fmt.Println("ready")
		time.Sleep(time.Minute) // until killed
		return nil
	})
}

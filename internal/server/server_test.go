package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
)

const oldSecret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// openStore opens the data directory's database.
func openStore(t *testing.T, dataDir string) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(dataDir, databaseFile))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// readSecretFile returns DATA/agent.secret's secret, failing the test
// unless the file is mode 0600.
func readSecretFile(t *testing.T, dataDir string) string {
	t.Helper()
	path := filepath.Join(dataDir, AgentSecretFile)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("agent secret file: %v", err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("%s has mode %v, want -rw-------", AgentSecretFile, got)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// assertNotInDB fails the test if the database still holds an agent secret
// or, anywhere in its files, the secret's text.
func assertNotInDB(t *testing.T, dataDir string, st store.Store, secret string) {
	t.Helper()
	if v, err := st.GetMeta(t.Context(), metaAgentSecret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("meta %q = %q, %v; want it gone from the database", metaAgentSecret, v, err)
	}
	for _, name := range []string{databaseFile, databaseFile + "-wal"} {
		data, err := os.ReadFile(filepath.Join(dataDir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(secret)) {
			t.Errorf("%s contains the agent secret's text", name)
		}
	}
}

func TestEnsureAgentSecret_NewInstallationWritesTheFileOnly(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	secret, err := ensureAgentSecret(t.Context(), st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if !validSecret(secret) {
		t.Fatalf("secret %q is not 64 hexadecimal digits", secret)
	}
	if got := readSecretFile(t, dir); got != secret {
		t.Errorf("file holds %q, want the secret returned, %q", got, secret)
	}
	if _, err := st.GetMeta(t.Context(), metaAgentSecret); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("meta %q: err = %v, want ErrNotFound", metaAgentSecret, err)
	}
	again, err := ensureAgentSecret(t.Context(), st, dir)
	if err != nil || again != secret {
		t.Errorf("second call = %q, %v; want the same secret %q", again, err, secret)
	}
}

// oldDatabase makes a data directory as stratus made it before the agent
// secret had its own file: the secret in the meta table and a node whose
// token hash was derived from it.
func oldDatabase(t *testing.T) (dir string, st *sqlite.Store, node *store.Node) {
	t.Helper()
	dir = t.TempDir()
	st = openStore(t, dir)
	ctx := t.Context()
	if err := st.SetMeta(ctx, metaInstallation, "inst-old"); err != nil {
		t.Fatal(err)
	}
	if err := st.SetMeta(ctx, metaAgentSecret, oldSecret); err != nil {
		t.Fatal(err)
	}
	node = &store.Node{ID: "w-1", Role: store.RoleWorker, Region: "local-1", Type: "t3.micro", Generation: 1,
		TokenHash: auth.AgentTokenHash(oldSecret, "w-1", 1)}
	if err := st.CreateNode(ctx, node); err != nil {
		t.Fatal(err)
	}
	return dir, st, node
}

func TestEnsureAgentSecret_MovesAnOldDatabasesSecretToTheFile(t *testing.T) {
	dir, st, node := oldDatabase(t)
	secret, err := ensureAgentSecret(t.Context(), st, dir)
	if err != nil {
		t.Fatal(err)
	}
	if secret != oldSecret {
		t.Fatalf("secret = %q, want the database's %q", secret, oldSecret)
	}
	if got := readSecretFile(t, dir); got != oldSecret {
		t.Errorf("file holds %q, want %q", got, oldSecret)
	}
	assertNotInDB(t, dir, st, oldSecret)
	// The node's agent token, derived again from the secret, is the one
	// whose hash the store holds.
	n, err := st.GetNodeByTokenHash(t.Context(), auth.Hash(auth.AgentToken(secret, node.ID, node.Generation)))
	if err != nil || n.ID != node.ID {
		t.Errorf("node by the derived token = %v, %v; want %s", n, err, node.ID)
	}
}

// TestEnsureAgentSecret_RestartAfterTheFileWasWritten is a start that died
// after writing the file and before deleting the row: the next start uses
// the same secret and deletes the row.
func TestEnsureAgentSecret_RestartAfterTheFileWasWritten(t *testing.T) {
	dir, st, _ := oldDatabase(t)
	if err := os.WriteFile(filepath.Join(dir, AgentSecretFile), []byte(oldSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secret, err := ensureAgentSecret(t.Context(), st, dir)
	if err != nil || secret != oldSecret {
		t.Fatalf("ensureAgentSecret = %q, %v; want %q", secret, err, oldSecret)
	}
	assertNotInDB(t, dir, st, oldSecret)
}

func TestEnsureAgentSecret_Refusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T) (string, store.Store)
		want  string
	}{
		{"MissingFileWithNodes", func(t *testing.T) (string, store.Store) {
			dir, st, _ := oldDatabase(t)
			if err := st.DeleteMeta(t.Context(), metaAgentSecret); err != nil {
				t.Fatal(err)
			}
			return dir, st
		}, "agent.secret is missing, and the agent tokens of 1 node(s) were made with it"},
		{"FileDiffersFromDatabase", func(t *testing.T) (string, store.Store) {
			dir, st, _ := oldDatabase(t)
			other := strings.Repeat("f", 64)
			if err := os.WriteFile(filepath.Join(dir, AgentSecretFile), []byte(other), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, st
		}, "differs from the agent secret the database still holds"},
		{"NotASecret", func(t *testing.T) (string, store.Store) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, AgentSecretFile), []byte("hunter2\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return dir, openStore(t, dir)
		}, "must hold the agent secret, 64 hexadecimal digits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, st := tc.setup(t)
			before, _ := os.ReadFile(filepath.Join(dir, AgentSecretFile))
			_, err := ensureAgentSecret(t.Context(), st, dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ensureAgentSecret error = %v; want it to say %q", err, tc.want)
			}
			after, _ := os.ReadFile(filepath.Join(dir, AgentSecretFile))
			if !bytes.Equal(before, after) {
				t.Errorf("the refused start changed %s: %q → %q", AgentSecretFile, before, after)
			}
			if tc.name == "FileDiffersFromDatabase" {
				if v, err := st.GetMeta(t.Context(), metaAgentSecret); err != nil || v != oldSecret {
					t.Errorf("meta %q = %q, %v after a refused start; want it kept", metaAgentSecret, v, err)
				}
			}
		})
	}
}

func TestEnsureAdminToken_CreatedAtFromTheClock(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	if err := ensureAdminToken(t.Context(), st, Options{DataDir: dir, Stdout: io.Discard}, clock.NewFake(t0)); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := st.GetTokenByHash(t.Context(), auth.Hash(strings.TrimSpace(string(data))))
	if err != nil {
		t.Fatal(err)
	}
	if !tok.CreatedAt.Equal(t0) {
		t.Errorf("admin token created at %v, want the clock's %v", tok.CreatedAt, t0)
	}
}

// A secret file opened to others (restored from a backup, say) is made
// owner-only again on the next start.
func TestSecretFiles_MadeOwnerOnlyAgainOnStart(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	opts := Options{DataDir: dir, Stdout: io.Discard}
	clk := clock.NewFake(time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC))
	if err := ensureAdminToken(t.Context(), st, opts, clk); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureAgentSecret(t.Context(), st, dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{AdminTokenFile, AgentSecretFile} {
		if err := os.Chmod(filepath.Join(dir, name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := ensureAdminToken(t.Context(), st, opts, clk); err != nil {
		t.Fatal(err)
	}
	if _, err := ensureAgentSecret(t.Context(), st, dir); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{AdminTokenFile, AgentSecretFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("after a restart %s has mode %v, want -rw-------", name, got)
		}
	}
}

// urlWriter passes the URL of the "listening on" line Run prints to ch.
type urlWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	ch   chan string
	sent bool
}

func (w *urlWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.sent {
		if _, rest, ok := strings.Cut(w.buf.String(), "listening on "); ok {
			if url, _, ok := strings.Cut(rest, " "); ok {
				w.ch <- url
				w.sent = true
			}
		}
	}
	return len(p), nil
}

// serve runs the control plane on dir, calls fn with its URL once it
// listens, then shuts it down and waits for Run to return.
func serve(t *testing.T, dir string, fn func(url string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out := &urlWriter{ch: make(chan string, 1)}
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{
			DataDir: dir, Listen: "127.0.0.1:0", Dropbox: "none", Stdout: out,
			Logger: slog.New(slog.DiscardHandler),
		})
	}()
	select {
	case url := <-out.ch:
		fn(url)
	case err := <-done:
		t.Fatalf("Run returned before listening: %v", err)
	case <-ctx.Done():
		t.Fatal("the server did not start listening within a minute")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRun_AgentSecretInItsFileNotInTheDatabase(t *testing.T) {
	dir := t.TempDir()
	serve(t, dir, func(string) {})
	secret := readSecretFile(t, dir)
	if !validSecret(secret) {
		t.Fatalf("%s holds %q, want 64 hexadecimal digits", AgentSecretFile, secret)
	}
	for _, name := range []string{databaseFile, AdminTokenFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", name, got)
		}
	}
	assertNotInDB(t, dir, openStore(t, dir), secret)

	// A restart keeps the secret.
	serve(t, dir, func(string) {})
	if got := readSecretFile(t, dir); got != secret {
		t.Errorf("after a restart %s holds %q, want %q", AgentSecretFile, got, secret)
	}
}

// TestRun_MigratesAnOldDatabaseAndItsAgentsKeepWorking starts the control
// plane on a database that still holds the agent secret: the secret moves
// to its file, and an agent registers with the token it had.
func TestRun_MigratesAnOldDatabaseAndItsAgentsKeepWorking(t *testing.T) {
	dir, st, node := oldDatabase(t)
	st.Close()
	serve(t, dir, func(url string) {
		body, _ := json.Marshal(api.RegisterRequest{InstanceID: "i-1", Address: "127.100.0.9", Version: "test"})
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/v1/agent/register", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+auth.AgentToken(oldSecret, node.ID, node.Generation))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var reg api.RegisterResponse
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("register with the old token: %s %s", resp.Status, b)
		}
		if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || reg.Node != node.ID {
			t.Errorf("register answered %+v, %v; want node %s", reg, err, node.ID)
		}
	})
	if got := readSecretFile(t, dir); got != oldSecret {
		t.Errorf("%s holds %q, want the old database's secret", AgentSecretFile, got)
	}
	assertNotInDB(t, dir, openStore(t, dir), oldSecret)
}

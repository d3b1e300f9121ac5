package agent_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/agent"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

const (
	testSecret = "test-agent-secret"
	userToken  = "stk_ann"
)

// controlPlane is the real HTTP API over a SQLite store holding one
// cluster, "lab", whose head node the agent under test plays.
type controlPlane struct {
	url  string
	st   store.Store
	svc  *cluster.Service
	head string // the head node's id
	// registers counts POST /v1/agent/register calls.
	registers atomic.Int32
	// heartbeats counts heartbeats that reached the API.
	heartbeats atomic.Int32
	// reject401 makes the next heartbeat answer 401 when set.
	reject401 atomic.Bool
}

func newControlPlane(t *testing.T) *controlPlane {
	t.Helper()
	return newPlane(t, nil, 5*time.Second)
}

// newPlane starts the control plane of newControlPlane, with custom (if
// not nil) as the service's Customisation and pollWait as the handler's
// PollWait.
func newPlane(t *testing.T, custom func(user string) api.Customisation, pollWait time.Duration) *controlPlane {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	if err := st.CreateToken(ctx, &store.Token{Hash: auth.Hash(userToken), User: "ann", Role: "user", CreatedAt: time.Now()}); err != nil {
		t.Fatalf("create token: %v", err)
	}
	log := slog.New(slog.DiscardHandler)
	svc := &cluster.Service{
		Store: st, Catalog: cost.DefaultCatalog(), Template: spec.DefaultTemplate(),
		DefaultRegion: "local-1", Clock: clock.Real{}, Logger: log, AgentSecret: testSecret,
		// The shortest heartbeat interval the server hands out: 1s.
		HeartbeatTimeout: 3 * time.Second,
		Customisation:    custom,
	}
	cl, err := svc.Create(ctx, cluster.Caller{User: "ann"}, api.CreateClusterRequest{Name: "lab", Request: "compute: {max_nodes: 2}\n"})
	if err != nil {
		t.Fatalf("create cluster: %v", err)
	}
	stopping := make(chan struct{})
	h := &httpapi.Handler{
		Store: st, Clusters: svc, Hub: dispatch.NewHub(), Logger: log, Stopping: stopping,
		ExecPickupTimeout: 5 * time.Second, PollWait: pollWait,
	}
	h.Init()
	cp := &controlPlane{st: st, svc: svc, head: cl.Instances[0].Node}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/agent/register":
			cp.registers.Add(1)
		case "/v1/agent/heartbeat":
			if cp.reject401.CompareAndSwap(true, false) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"code":"unauthorized","message":"missing or unknown token"}`))
				return
			}
			cp.heartbeats.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stopping) })
	cp.url = srv.URL
	return cp
}

// startAgent runs the agent of the head node until the test ends.
func (cp *controlPlane) startAgent(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	cp.runAgent(t, dir, 0)
	return dir
}

// runAgent runs the head node's agent in dir until stop is called or the
// test ends.
func (cp *controlPlane) runAgent(t *testing.T, dir string, scriptTimeout time.Duration) (stop func()) {
	t.Helper()
	err := agent.WriteConfig(dir, agent.Config{
		InstanceID: "i-0123", Region: "local-1", Address: "127.100.0.7",
		ServerURL: cp.url, Token: auth.AgentToken(testSecret, cp.head, 1),
	})
	if err != nil {
		t.Fatalf("write config: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Run(ctx, agent.Options{InstanceDir: dir, Logger: slog.New(slog.DiscardHandler),
			PollWait: 500 * time.Millisecond, ScriptTimeout: scriptTimeout})
	}()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("agent.Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("agent.Run did not return after its context ended")
		}
	}
	t.Cleanup(stop)
	return stop
}

func (cp *controlPlane) headNode(t *testing.T) *store.Node {
	t.Helper()
	n, err := cp.st.GetNode(context.Background(), cp.head)
	if err != nil {
		t.Fatalf("get head node: %v", err)
	}
	return n
}

// eventually polls cond every 20ms for up to 5s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAgent_RegistersAndHeartbeats(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t)
	cp.startAgent(t)
	eventually(t, "the agent has registered", func() bool { return !cp.headNode(t).RegisteredAt.IsZero() })
	n := cp.headNode(t)
	if n.Address != "127.100.0.7" || n.AgentVersion != agent.Version {
		t.Errorf("registered with address %q version %q, want 127.100.0.7 %q", n.Address, n.AgentVersion, agent.Version)
	}
	registered := n.RegisteredAt
	eventually(t, "a heartbeat arrived", func() bool { return cp.headNode(t).LastHeartbeat.After(registered) })
	if got := cp.registers.Load(); got != 1 {
		t.Errorf("%d registrations, want 1", got)
	}
}

func TestAgent_ExecOutputAndExitCodes(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t)
	dir := cp.startAgent(t)
	eventually(t, "the agent has registered", func() bool { return !cp.headNode(t).RegisteredAt.IsZero() })
	c := api.NewClient(cp.url, userToken)

	tests := []struct {
		name       string
		argv       []string
		stdin      string
		wantCode   int
		wantStdout string
		// wantStderr must be contained in stderr.
		wantStderr string
	}{
		{name: "output and exit code", argv: []string{"sh", "-c", "echo out; echo err >&2; exit 3"}, wantCode: 3, wantStdout: "out\n", wantStderr: "err\n"},
		{name: "stdin", argv: []string{"cat"}, stdin: "hello\n", wantStdout: "hello\n"},
		{name: "environment and directory", argv: []string{"sh", "-c", `echo "$STRATUS_INSTANCE_ID $STRATUS_ADDRESS"; pwd -P`},
			wantStdout: "i-0123 127.100.0.7\n" + mustEvalSymlinks(t, filepath.Join(dir, "home")) + "\n"},
		{name: "command not found", argv: []string{"stratus-no-such-command"}, wantCode: 127, wantStderr: "stratus-no-such-command"},
		{name: "killed by SIGKILL", argv: []string{"sh", "-c", "kill -KILL $$"}, wantCode: 128 + 9},
		{name: "killed by SIGTERM", argv: []string{"sh", "-c", "kill -TERM $$"}, wantCode: 128 + 15},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code, err := c.Exec(ctx, "lab", api.ExecRequest{Argv: tc.argv, Stdin: []byte(tc.stdin)}, &stdout, &stderr)
			if err != nil {
				t.Fatalf("exec: %v", err)
			}
			if code != tc.wantCode || stdout.String() != tc.wantStdout || !strings.Contains(stderr.String(), tc.wantStderr) {
				t.Errorf("exec %q = %d, stdout %q, stderr %q; want %d, %q, stderr containing %q",
					tc.argv, code, stdout.String(), stderr.String(), tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

func mustEvalSymlinks(t *testing.T, path string) string {
	t.Helper()
	p, err := filepath.EvalSymlinks(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(p, filepath.Base(path))
}

func TestAgent_RegistersAgainWhenHeartbeatIsRefused(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t)
	cp.startAgent(t)
	eventually(t, "the agent has registered", func() bool { return cp.registers.Load() == 1 && !cp.headNode(t).RegisteredAt.IsZero() })

	t.Run("401", func(t *testing.T) {
		cp.reject401.Store(true)
		eventually(t, "the agent registered again after a 401", func() bool { return cp.registers.Load() == 2 })
		if cp.reject401.Load() {
			t.Fatal("registered again without its heartbeat being refused")
		}
	})
	t.Run("server forgot the registration", func(t *testing.T) {
		// As after the control plane lost its last writes: the node is
		// known but not registered, so heartbeats are answered 404.
		ctx := context.Background()
		err := cp.st.WithTx(ctx, func(q store.Queries) error {
			n, err := q.GetNode(ctx, cp.head)
			if err != nil {
				return err
			}
			n.RegisteredAt, n.LastHeartbeat = time.Time{}, time.Time{}
			return q.UpdateNode(ctx, n)
		})
		if err != nil {
			t.Fatalf("forget registration: %v", err)
		}
		before := cp.registers.Load()
		eventually(t, "the agent registered again", func() bool {
			return cp.registers.Load() > before && !cp.headNode(t).RegisteredAt.IsZero()
		})
	})
	// Heartbeats go on after registering again.
	hb := cp.heartbeats.Load()
	eventually(t, "heartbeats resumed", func() bool { return cp.heartbeats.Load() > hb })
}

// lineWriter sends the first line written to it on first.
type lineWriter struct {
	mu    sync.Mutex
	buf   strings.Builder
	first chan string
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if line, _, ok := strings.Cut(w.buf.String(), "\n"); ok && w.first != nil {
		w.first <- line
		w.first = nil
	}
	return len(p), nil
}

func TestAgent_CallerGoneKillsCommand(t *testing.T) {
	t.Parallel()
	cp := newControlPlane(t)
	cp.startAgent(t)
	eventually(t, "the agent has registered", func() bool { return !cp.headNode(t).RegisteredAt.IsZero() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := &lineWriter{first: make(chan string, 1)}
	first := out.first
	execDone := make(chan error, 1)
	go func() {
		// A command that prints its pid and then stays silent.
		_, err := api.NewClient(cp.url, userToken).Exec(ctx, "lab", api.ExecRequest{Argv: []string{"sh", "-c", "echo $$; exec sleep 30"}}, out, io.Discard)
		execDone <- err
	}()
	var pid int
	select {
	case line := <-first:
		var err error
		if pid, err = strconv.Atoi(line); err != nil || pid <= 0 {
			t.Fatalf("first line %q is not a pid", line)
		}
	case err := <-execDone:
		t.Fatalf("exec ended before printing: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	cancel() // the caller goes away (Ctrl-C)
	<-execDone
	eventually(t, "the command is killed", func() bool { return syscall.Kill(pid, 0) != nil })
}

package httpapi_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
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
	annToken   = "stk_ann"
	bobToken   = "stk_bob"
	adminToken = "stk_admin"
	// headOnly asks for a head node and no compute nodes.
	headOnly = "compute: {max_nodes: 2}\n"
)

type server struct {
	url string
	st  store.Store
	svc *cluster.Service
}

// newServer serves a Handler wired as internal/server does, over a real
// SQLite store, with API tokens for ann, bob and admin. adjust, if not
// nil, changes the handler before it serves.
func newServer(t *testing.T, adjust func(h *httpapi.Handler)) *server {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.Open(t)
	for _, tok := range []store.Token{
		{Hash: auth.Hash(annToken), User: "ann", Role: "user"},
		{Hash: auth.Hash(bobToken), User: "bob", Role: "user"},
		{Hash: auth.Hash(adminToken), User: "admin", Role: "admin"},
	} {
		tok.CreatedAt = time.Now()
		if err := st.CreateToken(ctx, &tok); err != nil {
			t.Fatalf("create token: %v", err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	svc := &cluster.Service{
		Store: st, Catalog: cost.DefaultCatalog(), Template: spec.DefaultTemplate(),
		DefaultRegion: "local-1", Regions: []string{"local-1"},
		Clock: clock.Real{}, Logger: log, AgentSecret: testSecret, HeartbeatTimeout: 30 * time.Second,
	}
	stopping := make(chan struct{})
	h := &httpapi.Handler{
		Store: st, Clusters: svc, Hub: dispatch.NewHub(), Logger: log, Stopping: stopping,
		Version:           api.Version{Version: "test", Installation: "inst-test", Provider: "fake"},
		ExecPickupTimeout: 5 * time.Second,
		PollWait:          5 * time.Second,
	}
	if adjust != nil {
		adjust(h)
	}
	h.Init()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(stopping) }) // runs first: ends long polls
	return &server{url: srv.URL, st: st, svc: svc}
}

func (s *server) client(token string) *api.Client { return api.NewClient(s.url, token) }

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// statusError asserts that err is a *api.StatusError with status and code.
func statusError(t *testing.T, err error, status int, code string) *api.StatusError {
	t.Helper()
	var se *api.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want an HTTP %d", err, err, status)
	}
	if se.Status != status || se.Body.Code != code {
		t.Errorf("got HTTP %d code %q (%s), want %d %q", se.Status, se.Body.Code, se.Body.Message, status, code)
	}
	return se
}

// headNode returns the id of a cluster's head node.
func headNode(t *testing.T, cl api.Cluster) string {
	t.Helper()
	for _, in := range cl.Instances {
		if in.Role == "head" {
			return in.Node
		}
	}
	t.Fatalf("cluster %s has no head node: %+v", cl.Name, cl.Instances)
	return ""
}

// createWithHead creates a cluster for ann and returns a client holding its
// head node's agent token.
func (s *server) createWithHead(t *testing.T, ctx context.Context, name string) *api.Client {
	t.Helper()
	cl, err := s.client(annToken).CreateCluster(ctx, api.CreateClusterRequest{Name: name, Request: headOnly})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	return s.client(auth.AgentToken(testSecret, headNode(t, cl), 1))
}

func TestAPI_Auth(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	for _, tc := range []struct{ name, token string }{
		{"no token", ""},
		{"unknown token", "stk_nobody"},
		{"agent token for a user call", auth.AgentToken(testSecret, "n-1", 1)},
	} {
		_, err := s.client(tc.token).ListClusters(ctx)
		se := statusError(t, err, http.StatusUnauthorized, "unauthorized")
		if !strings.Contains(se.Body.Message, "token") {
			t.Errorf("%s: message %q does not say what is wrong with the token", tc.name, se.Body.Message)
		}
	}
	// An API token is not an agent token.
	err := s.client(annToken).Heartbeat(ctx)
	statusError(t, err, http.StatusUnauthorized, "unauthorized")
	_, err = s.client(annToken).Register(ctx, api.RegisterRequest{InstanceID: "i-1"})
	statusError(t, err, http.StatusUnauthorized, "unauthorized")

	w, err := s.client(bobToken).WhoAmI(ctx)
	if err != nil || w != (api.WhoAmI{User: "bob", Role: "user"}) {
		t.Errorf("whoami as bob = %+v, %v", w, err)
	}
	w, err = s.client(adminToken).WhoAmI(ctx)
	if err != nil || w != (api.WhoAmI{User: "admin", Role: "admin"}) {
		t.Errorf("whoami as admin = %+v, %v", w, err)
	}
	v, err := s.client("").Version(ctx)
	if err != nil || v.Installation != "inst-test" {
		t.Errorf("version without a token = %+v, %v; want the server's version", v, err)
	}
}

func TestAPI_ClusterRoundTrip(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	c := s.client(annToken)

	created, err := c.CreateCluster(ctx, api.CreateClusterRequest{Name: "lab", Request: "compute: {initial_nodes: 2, max_nodes: 3}\n"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.Name != "lab" || created.Owner != "ann" || created.State != "creating" || created.Nodes.Total != 3 ||
		created.Spec.Region != "local-1" || created.Spec.Compute.InitialNodes != 2 {
		t.Errorf("created cluster = %+v; want lab by ann, creating, 3 nodes in local-1", created)
	}

	list, err := c.ListClusters(ctx)
	if err != nil || len(list) != 1 || list[0].Name != "lab" || list[0].Nodes.Total != 3 {
		t.Errorf("list = %+v, %v; want lab with 3 nodes", list, err)
	}
	if list, err := s.client(bobToken).ListClusters(ctx); err != nil || len(list) != 0 {
		t.Errorf("bob's list = %+v, %v; want empty", list, err)
	}
	if _, err := s.client(bobToken).GetCluster(ctx, "lab"); !api.IsNotFound(err) {
		t.Errorf("bob's get: err = %v, want 404", err)
	}

	got, err := c.GetCluster(ctx, "lab")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.Name != "lab" || got.State != "creating" || len(got.Instances) != 3 || len(got.Events) == 0 || got.Events[0].Kind != "cluster.requested" {
		t.Errorf("get = %+v; want lab creating with 3 instances and its cluster.requested event", got)
	}

	del, err := c.DeleteCluster(ctx, "lab")
	if err != nil || del.State != "deleting" {
		t.Fatalf("delete = %s, %v; want deleting", del.State, err)
	}
	got, err = c.GetCluster(ctx, "lab")
	if err != nil || got.State != "deleting" {
		t.Errorf("get after delete = %s, %v; want deleting", got.State, err)
	}
	// The record goes once the controller has seen every instance gone.
	if err := s.st.DeleteCluster(ctx, "lab"); err != nil {
		t.Fatalf("delete cluster record: %v", err)
	}
	if _, err := c.GetCluster(ctx, "lab"); !api.IsNotFound(err) {
		t.Errorf("get after the record is gone: err = %v, want 404", err)
	}
}

func TestAPI_InvalidRequestNamesField(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	tests := []struct {
		name      string
		req       api.CreateClusterRequest
		wantField string
		wantLine  int
	}{
		{name: "bad name", req: api.CreateClusterRequest{Name: "no spaces", Request: headOnly}, wantField: "name"},
		{name: "unknown type", req: api.CreateClusterRequest{Name: "lab", Request: "region: local-1\nhead: {type: t3.smal}\n"}, wantField: "head.type", wantLine: 2},
		{name: "unknown region", req: api.CreateClusterRequest{Name: "lab", Request: "region: mars-1\n"}, wantField: "region"},
	}
	for _, tc := range tests {
		_, err := s.client(annToken).CreateCluster(ctx, tc.req)
		se := statusError(t, err, http.StatusBadRequest, "invalid")
		found := false
		for _, f := range se.Body.Fields {
			if f.Field == tc.wantField && (tc.wantLine == 0 || f.Line == tc.wantLine) && f.Message != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: fields %+v, want %s (line %d) with a message", tc.name, se.Body.Fields, tc.wantField, tc.wantLine)
		}
	}
	if list, err := s.client(adminToken).ListClusters(ctx); err != nil || len(list) != 0 {
		t.Errorf("after invalid requests the list is %+v, %v; want empty", list, err)
	}
}

// post sends body to path with token and returns the status and error body.
func post(t *testing.T, url, token, body string) (int, api.Error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e api.Error
	data, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(data, &e)
	return resp.StatusCode, e
}

func TestAPI_MalformedBodyIsBadRequest(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	tests := []struct{ name, path, body, want string }{
		{"unknown field", "/v1/clusters", `{"name": "lab", "request": "", "nodes": 3}`, `unknown field "nodes"`},
		{"not JSON", "/v1/clusters", `name: lab`, "not valid JSON"},
		{"exec unknown field", "/v1/clusters/lab/exec", `{"argv": ["true"], "tty": true}`, `unknown field "tty"`},
		{"exec without argv", "/v1/clusters/lab/exec", `{"argv": []}`, "argv"},
	}
	for _, tc := range tests {
		status, e := post(t, s.url+tc.path, annToken, tc.body)
		if status != http.StatusBadRequest || e.Code != "invalid" || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s: HTTP %d %q %q; want 400 invalid mentioning %q", tc.name, status, e.Code, e.Message, tc.want)
		}
	}
	if list, err := s.client(annToken).ListClusters(context.Background()); err != nil || len(list) != 0 {
		t.Errorf("list = %+v, %v; want empty", list, err)
	}
}

func TestAPI_NotFoundAndConflict(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	c := s.client(annToken)
	_, err := c.GetCluster(ctx, "nope")
	se := statusError(t, err, http.StatusNotFound, "not_found")
	if !strings.Contains(se.Body.Message, `"nope"`) {
		t.Errorf("not-found message %q does not name the cluster", se.Body.Message)
	}
	_, err = c.DeleteCluster(ctx, "nope")
	statusError(t, err, http.StatusNotFound, "not_found")
	_, err = c.Exec(ctx, "nope", api.ExecRequest{Argv: []string{"true"}}, io.Discard, io.Discard)
	statusError(t, err, http.StatusNotFound, "not_found")

	req := api.CreateClusterRequest{Name: "lab", Request: headOnly}
	if _, err := c.CreateCluster(ctx, req); err != nil {
		t.Fatalf("create: %v", err)
	}
	_, err = s.client(bobToken).CreateCluster(ctx, req)
	se = statusError(t, err, http.StatusConflict, "conflict")
	if !api.IsConflict(err) || !strings.Contains(se.Body.Message, "already exists") {
		t.Errorf("conflict message %q", se.Body.Message)
	}
}

// notifyWriter collects writes and signals the first one.
type notifyWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	first chan struct{}
	once  sync.Once
}

func newNotifyWriter() *notifyWriter { return &notifyWriter{first: make(chan struct{})} }

func (w *notifyWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.once.Do(func() { close(w.first) })
	return w.buf.Write(p)
}

func (w *notifyWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func TestAPI_ExecThroughAgent(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")
	if _, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1", Address: "10.0.0.9", Version: "test"}); err != nil {
		t.Fatalf("register: %v", err)
	}

	stdout, stderr := newNotifyWriter(), newNotifyWriter()
	agentErr := make(chan error, 1)
	go func() {
		agentErr <- func() error {
			var work api.Work
			for len(work.Execs) == 0 {
				var err error
				if work, err = agent.PollWork(ctx, 2*time.Second); err != nil {
					return err
				}
			}
			x := work.Execs[0]
			if len(work.Execs) != 1 || strings.Join(x.Argv, " ") != "cat -n" || string(x.Stdin) != "input" {
				return errors.New("unexpected work: " + strings.Join(x.Argv, " "))
			}
			pr, pw := io.Pipe()
			streamErr := make(chan error, 1)
			go func() { streamErr <- agent.StreamExec(ctx, x.ID, pr) }()
			enc := json.NewEncoder(pw)
			_ = enc.Encode(api.ExecFrame{Stream: "stdout", Data: []byte("out 1\n")})
			// Output reaches the caller while the command still runs.
			select {
			case <-stdout.first:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return errors.New("stdout did not reach the caller before the command ended")
			}
			_ = enc.Encode(api.ExecFrame{Stream: "stderr", Data: []byte("warning\n")})
			_ = enc.Encode(api.ExecFrame{Stream: "stdout", Data: []byte("out 2\n")})
			code := 3
			_ = enc.Encode(api.ExecFrame{Exit: &code})
			pw.Close()
			return <-streamErr
		}()
	}()

	code, err := s.client(annToken).Exec(ctx, "lab", api.ExecRequest{Argv: []string{"cat", "-n"}, Stdin: []byte("input")}, stdout, stderr)
	if err != nil {
		t.Fatalf("exec: %v", err)
	}
	if err := <-agentErr; err != nil {
		t.Fatalf("agent: %v", err)
	}
	if code != 3 || stdout.String() != "out 1\nout 2\n" || stderr.String() != "warning\n" {
		t.Errorf("exec = %d, stdout %q, stderr %q; want 3, \"out 1\\nout 2\\n\", \"warning\\n\"", code, stdout.String(), stderr.String())
	}
}

func TestAPI_ExecStreamEndingEarlyIsAnError(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")
	if _, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	go func() {
		work, err := agent.PollWork(ctx, 5*time.Second)
		if err != nil || len(work.Execs) == 0 {
			return
		}
		frames := `{"stream":"stdout","data":"aGk="}` + "\n" // "hi", then no exit code
		_ = agent.StreamExec(ctx, work.Execs[0].ID, strings.NewReader(frames))
	}()
	var stdout bytes.Buffer
	_, err := s.client(annToken).Exec(ctx, "lab", api.ExecRequest{Argv: []string{"true"}}, &stdout, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ended before the command finished") {
		t.Errorf("exec whose stream broke: err = %v, want the stream-ended error", err)
	}
	if stdout.String() != "hi" {
		t.Errorf("stdout %q, want the output sent before the break", stdout.String())
	}
}

func TestAPI_ExecHeadNotRegistered(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	s.createWithHead(t, ctx, "lab")
	_, err := s.client(annToken).Exec(ctx, "lab", api.ExecRequest{Argv: []string{"true"}}, io.Discard, io.Discard)
	se := statusError(t, err, http.StatusConflict, "not_ready")
	if !strings.Contains(se.Body.Message, "not registered") {
		t.Errorf("message %q does not say the head's agent has not registered", se.Body.Message)
	}
}

func TestAPI_ExecNotPickedUpTimesOut(t *testing.T) {
	t.Parallel()
	const pickup = 300 * time.Millisecond
	s := newServer(t, func(h *httpapi.Handler) { h.ExecPickupTimeout = pickup })
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")
	if _, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	began := time.Now()
	_, err := s.client(annToken).Exec(ctx, "lab", api.ExecRequest{Argv: []string{"true"}}, io.Discard, io.Discard)
	took := time.Since(began)
	se := statusError(t, err, http.StatusConflict, "not_ready")
	if !strings.Contains(se.Body.Message, "did not pick up") {
		t.Errorf("message %q does not say the agent did not pick the command up", se.Body.Message)
	}
	if took < pickup || took > 5*time.Second {
		t.Errorf("exec gave up after %s, want about %s", took, pickup)
	}
	// The abandoned command is not handed to the agent later.
	work, err := agent.PollWork(ctx, 100*time.Millisecond)
	if err != nil || len(work.Execs) != 0 {
		t.Errorf("poll after the timeout = %+v, %v; want no work", work, err)
	}
}

func TestAPI_AgentProtocol(t *testing.T) {
	t.Parallel()
	s := newServer(t, func(h *httpapi.Handler) { h.PollWait = 200 * time.Millisecond })
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")

	// A heartbeat before registering says the control plane does not know
	// the agent, so that it registers.
	if err := agent.Heartbeat(ctx); !api.IsNotFound(err) {
		t.Errorf("heartbeat before registering: err = %v, want 404", err)
	}
	resp, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1", Address: "10.0.0.9", Version: "v1"})
	if err != nil {
		t.Fatalf("register: %v", err)
	}
	if resp.Cluster != "lab" || resp.Role != "head" || resp.Node == "" {
		t.Errorf("register response %+v, want the head node of lab", resp)
	}
	if d, err := time.ParseDuration(resp.HeartbeatInterval); err != nil || d != 10*time.Second {
		t.Errorf("heartbeat interval %q, want 10s (a third of the 30s timeout)", resp.HeartbeatInterval)
	}
	if err := agent.Heartbeat(ctx); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	cl, err := s.client(annToken).GetCluster(ctx, "lab")
	if err != nil || cl.Instances[0].Health != "registered" || cl.LoginAddress != "10.0.0.9" {
		t.Errorf("after registering: %+v, %v; want the head registered at 10.0.0.9", cl.Instances, err)
	}
	// A long poll with nothing to do ends after the server's cap.
	began := time.Now()
	work, err := agent.PollWork(ctx, time.Minute)
	if err != nil || len(work.Execs) != 0 {
		t.Errorf("idle poll = %+v, %v; want no work", work, err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Errorf("idle poll took %s, want the server's 200ms cap", took)
	}
	// Streaming an exec nobody waits for is not found.
	err = agent.StreamExec(ctx, "x-unknown", strings.NewReader(""))
	if !api.IsNotFound(err) {
		t.Errorf("stream of an unknown exec: err = %v, want 404", err)
	}
	if err := s.client("sta_unknown").Heartbeat(ctx); !hasStatus(err, http.StatusUnauthorized) {
		t.Errorf("heartbeat with an unknown agent token: err = %v, want 401", err)
	}
}

func hasStatus(err error, status int) bool {
	var se *api.StatusError
	return errors.As(err, &se) && se.Status == status
}

func TestAPI_StoppingEndsLongPolls(t *testing.T) {
	t.Parallel()
	stopping := make(chan struct{})
	s := newServer(t, func(h *httpapi.Handler) { h.Stopping = stopping; h.PollWait = time.Minute })
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")
	if _, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	time.AfterFunc(100*time.Millisecond, func() { close(stopping) })
	began := time.Now()
	if _, err := agent.PollWork(ctx, time.Minute); err != nil {
		t.Errorf("poll: %v", err)
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Errorf("poll took %s after the server began stopping", took)
	}
}

func TestAPI_ExecCallerGoneCutsAgentStream(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")
	if _, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	callerCtx, callerGone := context.WithCancel(ctx)
	stdout := newNotifyWriter()
	go func() {
		_, _ = s.client(annToken).Exec(callerCtx, "lab", api.ExecRequest{Argv: []string{"sleep", "3600"}}, stdout, io.Discard)
	}()
	var work api.Work
	for len(work.Execs) == 0 {
		var err error
		if work, err = agent.PollWork(ctx, 2*time.Second); err != nil {
			t.Fatalf("poll: %v", err)
		}
	}
	pr, pw := io.Pipe()
	defer pw.Close()
	streamErr := make(chan error, 1)
	go func() { streamErr <- agent.StreamExec(ctx, work.Execs[0].ID, pr) }()
	if err := json.NewEncoder(pw).Encode(api.ExecFrame{Stream: "stdout", Data: []byte("started\n")}); err != nil {
		t.Fatalf("send frame: %v", err)
	}
	select {
	case <-stdout.first:
	case <-ctx.Done():
		t.Fatal("the caller got no output")
	}
	callerGone()
	// The command is silent from now on; the agent must still learn that
	// nobody reads its output, so that it stops the command.
	select {
	case err := <-streamErr:
		if !api.IsNotFound(err) || !strings.Contains(err.Error(), "caller went away") {
			t.Errorf("agent's stream ended with %v, want 404 saying the caller went away", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("the agent's stream is still open 3s after the caller went away")
	}
}

func TestAPI_ExecMalformedFrameFromAgent(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	agent := s.createWithHead(t, ctx, "lab")
	if _, err := agent.Register(ctx, api.RegisterRequest{InstanceID: "i-1"}); err != nil {
		t.Fatalf("register: %v", err)
	}
	streamErr := make(chan error, 1)
	go func() {
		work, err := agent.PollWork(ctx, 5*time.Second)
		if err != nil || len(work.Execs) == 0 {
			streamErr <- errors.New("no work")
			return
		}
		streamErr <- agent.StreamExec(ctx, work.Execs[0].ID, strings.NewReader("{not json\n"))
	}()
	_, err := s.client(annToken).Exec(ctx, "lab", api.ExecRequest{Argv: []string{"true"}}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("caller's error = %v, want one about a malformed frame", err)
	}
	if err := <-streamErr; !hasStatus(err, http.StatusBadRequest) {
		t.Errorf("agent's stream: err = %v, want 400", err)
	}
}

func TestHandler_ServesItsBinaryWithSHA256(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stratus")
	content := []byte("#!/bin/sh\necho fake stratus\n")
	if err := os.WriteFile(path, content, 0o755); err != nil {
		t.Fatal(err)
	}
	h := &httpapi.Handler{Binary: &httpapi.Binary{Path: path}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	h.Init()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v1/agent/binary")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, content) {
		t.Fatalf("GET binary = %d %q, want 200 with the file", resp.StatusCode, body)
	}
	sum := sha256.Sum256(content)
	if got, want := resp.Header.Get("X-Stratus-SHA256"), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("X-Stratus-SHA256 = %q, want %q", got, want)
	}
}

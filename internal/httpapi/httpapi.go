// Package httpapi is stratus's HTTP API: routes, authentication, request
// decoding and the one mapping from errors to HTTP statuses. The wire types
// are in package api.
package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/schedule"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/web"
)

// maxBody bounds request bodies (a request file is a few hundred bytes).
const maxBody = 1 << 20

// Handler serves the API.
type Handler struct {
	Store    store.Store
	Clusters *cluster.Service
	Jobs     *scheduler.Service
	Cost     *cost.Reporter
	Hub      *dispatch.Hub
	// Regions serves /v1/regions (regions.go); nil refuses those calls.
	Regions *region.Service
	// Schedules serves /v1/schedules (schedules.go); nil serves none.
	Schedules *schedule.Service
	// Dropbox takes the drop-box's event notifications (dropbox.go); nil
	// answers them with not found.
	Dropbox *DropboxEvents
	// Binary, if set, is served at /v1/agent/binary for instances to
	// install the agent from.
	Binary *Binary
	// Metrics, if set, is served at /metrics (Prometheus text format).
	Metrics http.Handler
	Logger  *slog.Logger
	Version api.Version
	// Stopping is closed when the server shuts down, ending long polls.
	Stopping <-chan struct{}
	// ExecPickupTimeout bounds how long an exec waits for the agent to pick
	// it up (default 30s).
	ExecPickupTimeout time.Duration
	// PollWait caps an agent's long poll (default 25s).
	PollWait time.Duration

	mux *http.ServeMux
}

// ServeHTTP implements http.Handler. A /v1 path no API route matches gets
// a JSON error: 405 with an Allow header when the path is served for other
// methods, else 404. (The web pages' catch-all would take it otherwise.)
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.mux == nil {
		h.routes()
	}
	if p := r.URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
		if _, pat := h.mux.Handler(r); pat == webPattern {
			h.noRoute(w, r)
			return
		}
	}
	h.mux.ServeHTTP(w, r)
}

// webPattern is the pattern the web pages are served at.
const webPattern = "/"

// noRoute answers an API path no route serves with r's method.
func (h *Handler) noRoute(w http.ResponseWriter, r *http.Request) {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		other := r.WithContext(r.Context())
		other.Method = m
		if _, pat := h.mux.Handler(other); pat != webPattern && pat != "" {
			allowed = append(allowed, m)
		}
	}
	if len(allowed) == 0 {
		writeError(w, h.Logger, fmt.Errorf("no API call at %s %s: %w", r.Method, r.URL.Path, store.ErrNotFound))
		return
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	writeError(w, h.Logger, methodNotAllowed{method: r.Method, path: r.URL.Path, allowed: allowed})
}

// Init builds the routes; call it once before serving concurrently.
func (h *Handler) Init() { h.routes() }

func (h *Handler) routes() {
	m := http.NewServeMux()
	m.HandleFunc("GET /v1/version", h.version)
	m.HandleFunc("GET /v1/whoami", h.user(h.whoami))
	m.HandleFunc("POST /v1/clusters", h.user(h.createCluster))
	m.HandleFunc("GET /v1/clusters", h.user(h.listClusters))
	m.HandleFunc("GET /v1/clusters/{name}", h.user(h.getCluster))
	m.HandleFunc("DELETE /v1/clusters/{name}", h.user(h.deleteCluster))
	m.HandleFunc("POST /v1/clusters/{name}/stop", h.user(h.stopCluster))
	m.HandleFunc("POST /v1/clusters/{name}/start", h.user(h.startCluster))
	m.HandleFunc("POST /v1/clusters/{name}/exec", h.user(h.exec))
	m.HandleFunc("POST /v1/agent/register", h.agentRegister)
	m.HandleFunc("POST /v1/agent/heartbeat", h.agent(h.agentHeartbeat))
	m.HandleFunc("GET /v1/agent/work", h.agent(h.agentWork))
	m.HandleFunc("POST /v1/agent/work", h.agent(h.agentWork))
	m.HandleFunc("POST /v1/agent/execs/{id}/stream", h.agent(h.agentStream))
	h.jobRoutes(m)
	h.scheduleRoutes(m)
	h.regionRoutes(m)
	h.userRoutes(m)
	h.checkRoutes(m)
	h.dropboxRoutes(m)
	h.customisationRoutes(m)
	m.HandleFunc("GET /v1/agent/binary", h.serveBinary)
	if h.Metrics != nil {
		m.Handle("GET /metrics", h.Metrics)
	}
	// The web pages (internal/web) get every path the API does not have.
	m.Handle(webPattern, web.Handler(web.Config{Auth: h.Authenticate, Store: h.Store, Clusters: h.Clusters, Jobs: h.Jobs, Cost: h.Cost, Schedules: h.Schedules, Regions: h.Regions, Logger: h.Logger}))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintln(w, "ok")
	})
	h.mux = m
}

type userHandler func(w http.ResponseWriter, r *http.Request, caller cluster.Caller)

// user authenticates an API token.
func (h *Handler) user(next userHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			writeError(w, h.Logger, errUnauthorized)
			return
		}
		caller, err := h.Authenticate(r.Context(), tok)
		if err != nil {
			writeError(w, h.Logger, err)
			return
		}
		h.withAudit(w, r, caller.User, func(w http.ResponseWriter, r *http.Request) { next(w, r, caller) })
	}
}

// Authenticate looks up an API token and returns the caller it stands for:
// an unknown token is an unauthorized error, a disabled user's a forbidden
// one. The API and the web pages both authenticate through it.
func (h *Handler) Authenticate(ctx context.Context, tok string) (cluster.Caller, error) {
	t, err := h.Store.GetTokenByHash(ctx, auth.Hash(tok))
	if errors.Is(err, store.ErrNotFound) {
		return cluster.Caller{}, errUnauthorized
	}
	if err != nil {
		return cluster.Caller{}, err
	}
	role := t.Role
	u, err := h.Store.GetUser(ctx, t.User)
	switch {
	case err == nil && u.Disabled:
		return cluster.Caller{}, errDisabled(t.User)
	case err == nil:
		role = u.Role
	case !errors.Is(err, store.ErrNotFound):
		return cluster.Caller{}, err
	}
	return cluster.Caller{User: t.User, Admin: role == "admin"}, nil
}

type agentHandler func(w http.ResponseWriter, r *http.Request, token string, node *store.Node)

// agent authenticates an agent token.
func (h *Handler) agent(next agentHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
		if !ok {
			writeError(w, h.Logger, errUnauthorized)
			return
		}
		n, err := h.Clusters.AgentNode(r.Context(), tok)
		if errors.Is(err, store.ErrNotFound) {
			writeError(w, h.Logger, errUnauthorized)
			return
		}
		if err != nil {
			writeError(w, h.Logger, err)
			return
		}
		next(w, r, tok, n)
	}
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest{"request body is not valid JSON for this call: " + err.Error()}
	}
	return nil
}

func (h *Handler) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, h.Version)
}

func (h *Handler) whoami(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	role := "user"
	if c.Admin {
		role = "admin"
	}
	writeJSON(w, http.StatusOK, api.WhoAmI{User: c.User, Role: role})
}

func (h *Handler) createCluster(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.CreateClusterRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	cl, err := h.Clusters.Create(r.Context(), c, req)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, cl)
}

func (h *Handler) listClusters(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cls, err := h.Clusters.List(r.Context(), c)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, cls)
}

func (h *Handler) getCluster(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cl, err := h.Clusters.Get(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, cl)
}

func (h *Handler) deleteCluster(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cl, err := h.Clusters.Delete(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, cl)
}

// exec runs a command on the head node: the command is queued for the
// head's agent, and the frames the agent streams back are written to the
// response as they come.
func (h *Handler) exec(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.ExecRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		writeError(w, h.Logger, badRequest{"argv: give the command to run"})
		return
	}
	head, err := h.Clusters.HeadNode(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	s := h.Hub.Start(head.ID, req)
	defer h.Hub.Cancel(s) // a caller gone cuts the agent's stream: the command is killed
	timeout := h.ExecPickupTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	select {
	case <-s.Picked():
	case <-time.After(timeout):
		writeError(w, h.Logger, fmt.Errorf("the head node's agent did not pick up the command within %s; check `stratus cluster show %s`: %w",
			timeout, r.PathValue("name"), cluster.ErrNotReady))
		return
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	ended := false
frames:
	for {
		select {
		case f, ok := <-s.Frames:
			if !ok {
				break frames
			}
			if err := enc.Encode(f); err != nil {
				return
			}
			if flusher != nil {
				flusher.Flush()
			}
			ended = ended || f.Exit != nil || f.Error != ""
		case <-r.Context().Done():
			return // the caller went away; the deferred cleanup cuts the agent's stream
		}
	}
	if !ended {
		_ = enc.Encode(api.ExecFrame{Error: "the agent's stream ended before the command finished"})
	}
}

func (h *Handler) agentRegister(w http.ResponseWriter, r *http.Request) {
	tok, ok := auth.BearerToken(r.Header.Get("Authorization"))
	if !ok {
		writeError(w, h.Logger, errUnauthorized)
		return
	}
	var req api.RegisterRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	resp, err := h.Clusters.RegisterAgent(r.Context(), tok, req)
	if errors.Is(err, store.ErrNotFound) {
		err = errUnauthorized
	}
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) agentHeartbeat(w http.ResponseWriter, r *http.Request, tok string, _ *store.Node) {
	if err := h.Clusters.Heartbeat(r.Context(), tok); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// agentWork answers an agent's (long) poll: the job ranks it should start
// or kill, and the execs waiting for it. It returns at once when there is
// something, else waits until an exec arrives or the node is woken.
func (h *Handler) agentWork(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	var req api.PollRequest
	if r.Method == http.MethodPost {
		if err := decode(r, &req); err != nil {
			writeError(w, h.Logger, err)
			return
		}
	}
	wait := h.pollWait()
	if d, err := time.ParseDuration(r.URL.Query().Get("wait")); err == nil && d >= 0 && d < wait {
		wait = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), wait)
	defer cancel()
	ctx, stop := h.untilStopping(ctx)
	defer stop()
	var work api.Work
	for {
		var err error
		if h.Jobs != nil {
			work.Jobs, work.Kill, err = h.Jobs.Work(r.Context(), n, req.Running)
			if err != nil {
				if r.Context().Err() == nil { // else the agent went away: nobody to answer
					writeError(w, h.Logger, err)
				}
				return
			}
		}
		if len(work.Jobs) > 0 || len(work.Kill) > 0 || ctx.Err() != nil {
			break
		}
		if work.Execs = h.Hub.Poll(ctx, n.ID); len(work.Execs) > 0 {
			break
		}
	}
	writeJSON(w, http.StatusOK, work)
}

func (h *Handler) agentStream(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	id := r.PathValue("id")
	var gone <-chan struct{} // stays nil when no caller waits (Stream refuses the exec)
	if s := h.Hub.Session(id); s != nil {
		gone = s.Done()
	}
	// The frames are read in their own goroutine so that, if the caller
	// goes away while the command is silent, the agent is answered at once
	// (while it is still sending) and kills the command.
	_ = http.NewResponseController(w).EnableFullDuplex()
	lines := make(chan []byte)
	stop, readerDone := make(chan struct{}), make(chan struct{})
	var startReader sync.Once
	defer func() {
		close(stop)
		startReader.Do(func() { close(readerDone) })
		<-readerDone // never read the body after returning
	}()
	var bad error
	callerGone := false
	next := func() (api.ExecFrame, bool) {
		startReader.Do(func() {
			go func() {
				defer close(readerDone)
				defer close(lines)
				sc := bufio.NewScanner(r.Body)
				sc.Buffer(make([]byte, 64*1024), 16<<20)
				for sc.Scan() {
					select {
					case lines <- bytes.Clone(sc.Bytes()):
					case <-stop:
						return
					}
				}
			}()
		})
		var line []byte
		select {
		case l, ok := <-lines:
			if !ok {
				return api.ExecFrame{}, false
			}
			line = l
		case <-gone:
			callerGone = true
			return api.ExecFrame{}, false
		}
		var f api.ExecFrame
		if err := json.Unmarshal(line, &f); err != nil {
			bad = err
			return api.ExecFrame{Error: "agent sent a malformed frame"}, true
		}
		return f, true
	}
	err := h.Hub.Stream(r.Context(), n.ID, id, next)
	switch {
	case errors.Is(err, dispatch.ErrUnknownExec):
		writeError(w, h.Logger, fmt.Errorf("exec %s: %w", id, store.ErrNotFound))
	case bad != nil:
		writeError(w, h.Logger, badRequest{"malformed exec frame: " + bad.Error()})
	case err != nil || callerGone:
		writeError(w, h.Logger, fmt.Errorf("exec %s: the caller went away: %w", id, store.ErrNotFound))
	default:
		w.WriteHeader(http.StatusNoContent)
	}
	// Send the answer now: an agent still sending learns to stop, and
	// closes its side, which ends the reader.
	_ = http.NewResponseController(w).Flush()
}

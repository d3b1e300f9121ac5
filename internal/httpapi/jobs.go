package httpapi

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/store"
)

func (h *Handler) jobRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/clusters/{name}/jobs", h.user(h.submitJob))
	m.HandleFunc("GET /v1/jobs", h.user(h.listJobs))
	m.HandleFunc("GET /v1/jobs/{id}", h.user(h.getJob))
	m.HandleFunc("POST /v1/jobs/{id}/cancel", h.user(h.cancelJob))
	m.HandleFunc("GET /v1/jobs/{id}/output", h.user(h.jobOutput))
	m.HandleFunc("GET /v1/cost", h.user(h.cost))
	m.HandleFunc("POST /v1/agent/jobs/{id}/output", h.agent(h.agentJobOutput))
	m.HandleFunc("POST /v1/agent/jobs/{id}/exit", h.agent(h.agentJobExit))
	m.HandleFunc("POST /v1/agent/notice", h.agent(h.agentNotice))
}

func jobID(r *http.Request) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return 0, badRequest{"job id must be a positive whole number, got " + strconv.Quote(r.PathValue("id"))}
	}
	return id, nil
}

func (h *Handler) submitJob(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.SubmitJobRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	j, err := h.Jobs.Submit(r.Context(), c, r.PathValue("name"), req)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, j)
}

func (h *Handler) listJobs(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	js, err := h.Jobs.List(r.Context(), c, r.URL.Query().Get("cluster"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, js)
}

func (h *Handler) getJob(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	id, err := jobID(r)
	if err == nil {
		var j api.Job
		if j, err = h.Jobs.Get(r.Context(), c, id); err == nil {
			writeJSON(w, http.StatusOK, j)
			return
		}
	}
	writeError(w, h.Logger, err)
}

func (h *Handler) cancelJob(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	id, err := jobID(r)
	if err == nil {
		var j api.Job
		if j, err = h.Jobs.Cancel(r.Context(), c, id); err == nil {
			writeJSON(w, http.StatusOK, j)
			return
		}
	}
	writeError(w, h.Logger, err)
}

func (h *Handler) jobOutput(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	id, err := jobID(r)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	q := r.URL.Query()
	after := int64(0)
	if v := q.Get("after"); v != "" {
		if after, err = strconv.ParseInt(v, 10, 64); err != nil || after < 0 {
			writeError(w, h.Logger, badRequest{"after must be a whole number"})
			return
		}
	}
	wait := time.Duration(0)
	if v := q.Get("wait"); v != "" {
		if wait, err = time.ParseDuration(v); err != nil || wait < 0 {
			writeError(w, h.Logger, badRequest{"wait must be a duration like 25s"})
			return
		}
		wait = min(wait, h.pollWait())
	}
	ctx, cancel := h.untilStopping(r.Context())
	defer cancel()
	out, err := h.Jobs.Output(ctx, c, id, after, wait)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// untilStopping returns a context that also ends when the server stops.
func (h *Handler) untilStopping(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		select {
		case <-h.Stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

func (h *Handler) pollWait() time.Duration {
	if h.PollWait > 0 {
		return h.PollWait
	}
	return 25 * time.Second
}

func (h *Handler) cost(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	q := r.URL.Query()
	rq := cost.ReportQuery{Cluster: q.Get("cluster"), By: q.Get("by"), Until: h.Clusters.Clock.Now()}
	if !c.Admin {
		rq.Owner = c.User
	}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, h.Logger, badRequest{"since must be an RFC 3339 time like 2026-11-01T00:00:00Z"})
			return
		}
		rq.Since = t
	}
	if rq.Cluster != "" {
		if _, err := h.Clusters.Get(r.Context(), c, rq.Cluster); err != nil && !errors.Is(err, store.ErrNotFound) {
			writeError(w, h.Logger, err)
			return
		}
	}
	rep, err := h.Cost.Report(r.Context(), rq)
	if err != nil {
		writeError(w, h.Logger, badRequest{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (h *Handler) agentJobOutput(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	var b api.JobOutputBatch
	if err := decode(r, &b); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	if err := h.Jobs.AgentOutput(r.Context(), n, b); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) agentJobExit(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	var e api.JobExit
	if err := decode(r, &e); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	if err := h.Jobs.AgentExit(r.Context(), n, e); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *Handler) agentNotice(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	var notice api.Notice
	if err := decode(r, &notice); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	if err := h.Jobs.AgentNotice(r.Context(), n, notice); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

package httpapi

import (
	"net/http"
	"strconv"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
)

// scheduleRoutes serves schedules: users see and change their own, an
// administrator every one.
func (h *Handler) scheduleRoutes(m *http.ServeMux) {
	if h.Schedules == nil {
		return
	}
	m.HandleFunc("POST /v1/schedules", h.user(h.createSchedule))
	m.HandleFunc("GET /v1/schedules", h.user(h.listSchedules))
	m.HandleFunc("GET /v1/schedules/{name}", h.user(h.getSchedule))
	m.HandleFunc("DELETE /v1/schedules/{name}", h.user(h.deleteSchedule))
	m.HandleFunc("POST /v1/schedules/{name}/run", h.user(h.runSchedule))
	m.HandleFunc("GET /v1/schedules/{name}/runs", h.user(h.listScheduleRuns))
	m.HandleFunc("GET /v1/schedules/{name}/runs/{number}", h.user(h.getScheduleRun))
	m.HandleFunc("GET /v1/schedules/{name}/runs/{number}/output", h.user(h.scheduleRunOutput))
}

// runNumber reads {number}: a run number, or "latest" (0).
func runNumber(r *http.Request) (int, error) {
	v := r.PathValue("number")
	if v == "latest" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest{"run number must be a positive whole number or latest, got " + strconv.Quote(v)}
	}
	return n, nil
}

func (h *Handler) createSchedule(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.CreateScheduleRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	s, err := h.Schedules.Create(r.Context(), c, req)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, s)
}

func (h *Handler) listSchedules(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	ss, err := h.Schedules.List(r.Context(), c)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, ss)
}

func (h *Handler) getSchedule(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	s, err := h.Schedules.Get(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, s)
}

func (h *Handler) deleteSchedule(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	s, err := h.Schedules.Delete(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	status := http.StatusOK
	if s.State != "deleted" {
		status = http.StatusAccepted // a run is being cut short first
	}
	writeJSON(w, status, s)
}

func (h *Handler) runSchedule(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	run, err := h.Schedules.RunNow(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, run)
}

func (h *Handler) listScheduleRuns(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	runs, err := h.Schedules.Runs(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, runs)
}

func (h *Handler) getScheduleRun(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	n, err := runNumber(r)
	if err == nil {
		var run api.ScheduleRun
		if run, err = h.Schedules.Run(r.Context(), c, r.PathValue("name"), n); err == nil {
			writeJSON(w, http.StatusOK, run)
			return
		}
	}
	writeError(w, h.Logger, err)
}

func (h *Handler) scheduleRunOutput(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	n, err := runNumber(r)
	if err == nil {
		var out api.ScheduleRunOutput
		if out, err = h.Schedules.Output(r.Context(), c, r.PathValue("name"), n); err == nil {
			writeJSON(w, http.StatusOK, out)
			return
		}
	}
	writeError(w, h.Logger, err)
}

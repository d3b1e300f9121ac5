package httpapi

import (
	"net/http"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/store"
)

// customisationRoutes are the agent's side of per-user customisation: what
// to install before registering, and the report of how it went.
func (h *Handler) customisationRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/agent/customisation", h.agent(h.agentCustomisation))
	m.HandleFunc("POST /v1/agent/customisation/report", h.agent(h.agentCustomisationReport))
}

func (h *Handler) agentCustomisation(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	c, err := h.Clusters.NodeCustomisation(r.Context(), n)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *Handler) agentCustomisationReport(w http.ResponseWriter, r *http.Request, _ string, n *store.Node) {
	var rep api.CustomisationReport
	if err := decode(r, &rep); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	if err := h.Clusters.ReportCustomisation(r.Context(), n, rep); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

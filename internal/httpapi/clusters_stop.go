package httpapi

import (
	"net/http"

	"github.com/stratus-cloud/stratus/internal/cluster"
)

// stopCluster stops a cluster's instances (owner or admin).
func (h *Handler) stopCluster(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cl, err := h.Clusters.Stop(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, cl)
}

// startCluster starts a stopped cluster's instances again (owner or admin).
func (h *Handler) startCluster(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	cl, err := h.Clusters.Start(r.Context(), c, r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusAccepted, cl)
}

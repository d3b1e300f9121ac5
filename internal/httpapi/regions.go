package httpapi

import (
	"errors"
	"net/http"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/region"
)

// regionRoutes serves capability 3: configure, check and clear regions.
// All three are for administrators only. Configure and clear answer once
// every region is done, which takes as long as copying the image and
// booting the workers.
func (h *Handler) regionRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/regions/configure", h.user(h.adminOnly(h.configureRegions)))
	m.HandleFunc("POST /v1/regions/check", h.user(h.adminOnly(h.checkRegions)))
	m.HandleFunc("POST /v1/regions/clear", h.user(h.adminOnly(h.clearRegions)))
}

// adminOnly refuses callers that are not administrators with 403.
func (h *Handler) adminOnly(next userHandler) userHandler {
	return func(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
		if !c.Admin {
			writeError(w, h.Logger, errForbidden)
			return
		}
		if h.Regions == nil {
			writeError(w, h.Logger, badRequest{"this server manages no regions"})
			return
		}
		next(w, r, c)
	}
}

// regionError maps the region service's request errors to 400: a bad
// request (unknown region, malformed key, no such image) and a provider
// without regions.
func regionError(err error) error {
	var inv *provider.InvalidError
	switch {
	case errors.As(err, &inv):
		return badRequest{inv.Error()}
	case errors.Is(err, region.ErrUnsupported):
		return badRequest{err.Error()}
	}
	return err
}

func (h *Handler) configureRegions(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.RegionConfigureRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	resp, err := h.Regions.Configure(r.Context(), c.User, req)
	if err != nil {
		writeError(w, h.Logger, regionError(err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) checkRegions(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.RegionsRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	resp, err := h.Regions.Check(r.Context(), req.Regions)
	if err != nil {
		writeError(w, h.Logger, regionError(err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func (h *Handler) clearRegions(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	var req api.RegionsRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	resp, err := h.Regions.Clear(r.Context(), req.Regions)
	if err != nil {
		writeError(w, h.Logger, regionError(err))
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

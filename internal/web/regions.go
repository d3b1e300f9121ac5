package web

import (
	"errors"
	"net/http"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/region"
)

// regionsRefresh is how often the regions page reloads itself: checking
// lists every region's resources from the provider.
const regionsRefresh = 60

type regionsData struct {
	Available bool
	Message   string
	Regions   []api.RegionCheck
}

// regions shows every region of the provider as `stratus region check`
// reports it: the resources stratus manages there and the drift from the
// region's configuration. Regions are the installation's, not a user's:
// only administrators see the page.
func (h *handler) regions(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	if !c.Admin {
		h.notFound(w, r, c, "Not found, or not yours to see.")
		return
	}
	d := regionsData{Available: h.Regions != nil}
	if h.Regions != nil {
		names, err := h.Regions.Provider.Regions(r.Context())
		if err != nil {
			h.fail(w, r, c, err)
			return
		}
		resp, err := h.Regions.Check(r.Context(), names)
		switch {
		case errors.Is(err, region.ErrUnsupported):
			d.Available, d.Message = false, err.Error()
		case err != nil:
			h.fail(w, r, c, err)
			return
		default:
			d.Regions = resp.Regions
		}
	}
	p := h.base(c, "Regions", d)
	p.Refresh = regionsRefresh
	h.render(w, http.StatusOK, "regions", p)
}

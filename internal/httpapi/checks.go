package httpapi

import (
	"net/http"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/store"
)

// checkHistory is how many results GET /v1/checks/{name} returns.
const checkHistory = 50

func (h *Handler) checkRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /v1/checks", h.user(h.listChecks))
	m.HandleFunc("GET /v1/checks/{name}", h.user(h.getCheck))
}

func apiMembers(ms []store.CheckMember) []api.CheckMember {
	var out []api.CheckMember
	for _, m := range ms {
		out = append(out, api.CheckMember{URL: m.URL, Value: m.Value, Error: m.Error, State: m.State, Since: m.Since})
	}
	return out
}

func apiCheck(s *store.CheckState) api.Check {
	return api.Check{Name: s.Name, Kind: s.Kind, State: s.State, Since: s.Since, LastProbe: s.LastProbe,
		Detail: s.Detail, Members: apiMembers(s.Members)}
}

func (h *Handler) listChecks(w http.ResponseWriter, r *http.Request, _ cluster.Caller) {
	states, err := h.Store.ListCheckStates(r.Context())
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	out := []api.Check{}
	for _, s := range states {
		out = append(out, apiCheck(s))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) getCheck(w http.ResponseWriter, r *http.Request, _ cluster.Caller) {
	name := r.PathValue("name")
	s, err := h.Store.GetCheckState(r.Context(), name)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	rs, err := h.Store.ListCheckResults(r.Context(), name, checkHistory)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	out := api.CheckDetail{Check: apiCheck(s), History: []api.CheckResult{}}
	for _, res := range rs {
		out.History = append(out.History, api.CheckResult{Time: res.Time, State: res.State, Detail: res.Detail, Members: apiMembers(res.Members)})
	}
	writeJSON(w, http.StatusOK, out)
}

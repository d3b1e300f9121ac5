package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/region"
)

func newRegionServer(t *testing.T) *server {
	t.Helper()
	p := fake.New(fake.Options{Regions: []string{"fake-1", "fake-2"}})
	return newServer(t, func(h *httpapi.Handler) {
		h.Regions = &region.Service{Store: h.Store, Provider: p, Resources: p, Clock: clock.Real{},
			Installation: "inst-test", AgentSecret: testSecret, PollInterval: time.Millisecond}
	})
}

func TestRegions_AdminOnly(t *testing.T) {
	t.Parallel()
	s := newRegionServer(t)
	ctx := ctxTimeout(t, 10*time.Second)
	c := s.client(annToken)
	_, err := c.ConfigureRegions(ctx, api.RegionConfigureRequest{Regions: []string{"fake-2"}, Home: "fake-1"})
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = c.CheckRegions(ctx, []string{"fake-2"})
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = c.ClearRegions(ctx, []string{"fake-2"})
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = s.client("").CheckRegions(ctx, []string{"fake-2"})
	statusError(t, err, http.StatusUnauthorized, "unauthorized")
}

func TestRegions_UnknownRegionIsInvalid(t *testing.T) {
	t.Parallel()
	s := newRegionServer(t)
	ctx := ctxTimeout(t, 10*time.Second)
	c := s.client(adminToken)
	_, err := c.ConfigureRegions(ctx, api.RegionConfigureRequest{Regions: []string{"fake-2", "mars-1"}, Home: "fake-1"})
	if se := statusError(t, err, http.StatusBadRequest, "invalid"); !strings.Contains(se.Body.Message, `"mars-1"`) {
		t.Errorf("message %q does not name the region", se.Body.Message)
	}
	_, err = c.ClearRegions(ctx, []string{"mars-1"})
	statusError(t, err, http.StatusBadRequest, "invalid")
	resp, err := c.CheckRegions(ctx, []string{"fake-2"})
	if err != nil || len(resp.Regions) != 1 || resp.Regions[0].Configured || len(resp.Regions[0].Drift) != 0 {
		t.Errorf("check of an empty region = %+v, %v", resp, err)
	}
}

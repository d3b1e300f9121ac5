package web_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/httpapi"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/store"
)

// The regions page is the administrators': it lists what stratus manages
// in each region and the drift, as region check does; users get no link
// and a 404.
func TestRegionsPage_AdminOnlyWithDrift(t *testing.T) {
	p := fake.New(fake.Options{Regions: []string{"fake-1", "fake-2"}})
	e := newEnvWith(t, func(h *httpapi.Handler) {
		h.Regions = &region.Service{Store: h.Store, Provider: p, Resources: p, Clock: clock.Real{},
			Installation: "inst-test", AgentSecret: "secret", PollInterval: time.Millisecond}
	})
	// A group stratus made in fake-2, which is not configured: drift.
	tags := map[string]string{provider.TagInstallation: "inst-test", region.TagManagedBy: region.ManagedByRegion, region.TagRegionSet: "fake-1"}
	g, err := p.CreateSecurityGroup(context.Background(), "fake-2", "stratus", "made by stratus", tags)
	if err != nil {
		t.Fatal(err)
	}
	// Somebody else's group is not listed.
	if _, err := p.CreateSecurityGroup(context.Background(), "fake-2", "handmade", "not ours", nil); err != nil {
		t.Fatal(err)
	}

	admin := e.signIn(t, adminToken)
	code, body := get(t, admin, e.srv.URL+"/regions")
	if code != http.StatusOK {
		t.Fatalf("/regions = %d:\n%s", code, body)
	}
	for _, want := range []string{
		`id="region-fake-1"`, `id="region-fake-2"`, g.ID, "security_group",
		"made by stratus but the region is not configured", `state-drift">drift`,
		`<a href="/regions" class="here">Regions</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/regions lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "handmade") {
		t.Errorf("/regions lists a group stratus did not make:\n%s", body)
	}
	fake1 := body[strings.Index(body, `id="region-fake-1"`):strings.Index(body, `id="region-fake-2"`)]
	if !strings.Contains(fake1, "stratus manages nothing here") || strings.Contains(fake1, "Drift") {
		t.Errorf("fake-1 section, want nothing managed and no drift:\n%s", fake1)
	}

	ann := e.signIn(t, annToken)
	code, body = get(t, ann, e.srv.URL+"/regions")
	if code != http.StatusNotFound || strings.Contains(body, g.ID) || strings.Contains(body, "fake-2") {
		t.Errorf("/regions for a user = %d, want a 404 that shows nothing:\n%s", code, body)
	}
	if _, body := get(t, ann, e.srv.URL+"/"); strings.Contains(body, `href="/regions"`) {
		t.Errorf("a user's navigation links the regions page:\n%s", body)
	}
}

// Without a region service the page says so.
func TestRegionsPage_NotManaged(t *testing.T) {
	e := newEnv(t)
	code, body := get(t, e.signIn(t, adminToken), e.srv.URL+"/regions")
	if code != http.StatusOK || !strings.Contains(body, "Regions are not managed on this server") {
		t.Errorf("/regions = %d:\n%s", code, body)
	}
}

// The costs page draws cost over time as SVG charts by cluster and by
// owner, with a legend entry per cluster and owner and its exact total;
// a user's charts hold only their own usage.
func TestCostsPage_Chart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	now := time.Now()
	for i, u := range []store.Usage{
		{Cluster: "annlab", Owner: "ann", PriceMicros: 3_600_000, Start: now.Add(-3 * time.Hour), End: now.Add(-time.Hour)},
		{Cluster: "annsim", Owner: "ann", PriceMicros: 1_800_000, Start: now.Add(-150 * time.Minute)},
		{Cluster: "boblab", Owner: "bob", PriceMicros: 7_200_000, Start: now.Add(-2 * time.Hour)},
	} {
		u.InstanceID, u.Type, u.Region, u.State = "i-"+string(rune('a'+i)), "t3.micro", "local-1", "running"
		end := u.End
		u.End = time.Time{}
		if err := e.st.OpenUsage(ctx, &u); err != nil {
			t.Fatal(err)
		}
		if !end.IsZero() {
			if err := e.st.CloseUsage(ctx, u.ID, end); err != nil {
				t.Fatal(err)
			}
		}
	}
	legend := regexp.MustCompile(`<li><svg class="swatch"[^>]*><rect width="10" height="10" fill="#[0-9a-f]{6}"></rect></svg><span class="key">([^<]*)</span> <span class="num">\$([0-9.]+)</span></li>`)

	code, body := get(t, e.signIn(t, adminToken), e.srv.URL+"/costs")
	if code != http.StatusOK {
		t.Fatalf("/costs = %d:\n%s", code, body)
	}
	if n := strings.Count(body, `<svg class="chart"`); n != 2 {
		t.Errorf("%d charts, want 2 (by cluster, by owner):\n%s", n, body)
	}
	if !strings.Contains(body, "Cost by cluster, per hour") {
		t.Errorf("no hourly chart by cluster for a 3-hour history:\n%s", body)
	}
	got := map[string]string{}
	for _, m := range legend.FindAllStringSubmatch(body, -1) {
		got[m[1]] = m[2]
	}
	// annlab ran 2 hours at $3.60; ann's clusters and bob's are both
	// still accruing, so only the closed one's total is known exactly.
	if got["annlab"] != "7.20" || got["annsim"] == "" || got["boblab"] == "" || got["ann"] == "" || got["bob"] == "" {
		t.Errorf("legend entries %v, want annlab $7.20 and annsim, boblab, ann, bob", got)
	}
	if n := strings.Count(body, "<rect x="); n < 3 {
		t.Errorf("%d bars, want at least one per hour with usage:\n%s", n, body)
	}

	_, body = get(t, e.signIn(t, annToken), e.srv.URL+"/costs")
	if strings.Contains(body, "boblab") || strings.Contains(body, ">bob<") {
		t.Errorf("ann's costs show bob's usage:\n%s", body)
	}
	if !strings.Contains(body, `<span class="key">annlab</span>`) {
		t.Errorf("ann's chart lacks her cluster:\n%s", body)
	}
}

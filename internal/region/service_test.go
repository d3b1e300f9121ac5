package region_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/region/regiontest"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

type env struct {
	svc *region.Service
	p   *fake.Provider
	st  store.Store
	pub string
}

// newEnv returns a region service on a fake provider with regions fake-1
// (home) to fake-3 and a SQLite store, and a stand-in for agents: a
// worker registers as soon as its instance runs.
func newEnv(t *testing.T) *env {
	t.Helper()
	st := sqlitetest.Open(t)
	p := fake.New(fake.Options{Regions: []string{"fake-1", "fake-2", "fake-3"}})
	regiontest.RegisterWorkers(t, st, func(ctx context.Context, n *store.Node) bool {
		ins, err := p.Describe(ctx, n.Region, provider.Filter{IDs: []string{n.InstanceID}})
		return err == nil && len(ins) == 1 && ins[0].State == provider.StateRunning
	})
	return &env{svc: regiontest.Service(st, p, inst), p: p, st: st, pub: string(providertest.TestPublicKey("me@host"))}
}

func (e *env) request(regions ...string) api.RegionConfigureRequest {
	return api.RegionConfigureRequest{Regions: regions, Home: "fake-1", PublicKey: e.pub}
}

func (e *env) configure(t *testing.T, req api.RegionConfigureRequest) api.RegionConfigureResponse {
	t.Helper()
	resp, err := e.svc.Configure(context.Background(), "admin", req)
	if err != nil {
		t.Fatalf("Configure: %v", err)
	}
	return resp
}

// results maps "region step" to its result.
func results(rs []api.RegionResult) map[string]string {
	out := map[string]string{}
	for _, r := range rs {
		for _, s := range r.Steps {
			k := r.Region + " " + s.Step
			if out[k] != "" {
				out[k] += ","
			}
			out[k] += s.Result
		}
	}
	return out
}

func allOK(t *testing.T, rs []api.RegionResult) {
	t.Helper()
	for _, r := range rs {
		if !r.OK {
			t.Errorf("region %s failed: %+v", r.Region, r.Steps)
		}
	}
}

func TestService_ConfigureTwiceCreatesNothingTheSecondTime(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	first := e.configure(t, e.request("fake-2", "fake-3"))
	allOK(t, first.Regions)
	for _, r := range []string{"fake-2", "fake-3"} {
		for _, step := range []string{"image", "key_pair", "security_group", "worker"} {
			if got := results(first.Regions)[r+" "+step]; got != api.RegionCreated {
				t.Errorf("first configure: %s %s = %q, want created", r, step, got)
			}
		}
	}
	if len(first.HomeSteps) != 2 || first.HomeSteps[1].Result != api.RegionCreated {
		t.Errorf("home steps = %+v; want the image found and the missing home group created", first.HomeSteps)
	}
	// Each target region has one stopped worker from the copied image,
	// tagged as ours, with a record made before it.
	for _, r := range []string{"fake-2", "fake-3"} {
		nodes, _ := e.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: r})
		ins, _ := e.p.Describe(ctx, r, provider.Filter{Tags: map[string]string{provider.TagInstallation: inst}})
		if len(nodes) != 1 || len(ins) != 1 || ins[0].State != provider.StateStopped || ins[0].Tags[provider.TagNode] != nodes[0].ID {
			t.Fatalf("%s: nodes %+v, instances %+v; want one stopped worker with its record", r, nodes, ins)
		}
		for k, v := range map[string]string{provider.TagRole: "worker", provider.TagOwner: "admin", region.TagManagedBy: "region", region.TagRegionSet: "fake-1"} {
			if ins[0].Tags[k] != v {
				t.Errorf("worker tag %s = %q, want %q", k, ins[0].Tags[k], v)
			}
		}
	}
	for _, l := range e.p.Launches() {
		if !strings.HasPrefix(l.Image, "ami-") || l.Image == fake.BaseImageID || l.Agent.Token == "" {
			t.Errorf("worker launched from %q with agent %+v; want the copy and a bootstrap", l.Image, l.Agent)
		}
	}

	e.p.ResetCalls()
	second := e.configure(t, e.request("fake-2", "fake-3"))
	allOK(t, second.Regions)
	for k, v := range results(second.Regions) {
		if v != api.RegionFound {
			t.Errorf("second configure: %s = %s, want found", k, v)
		}
	}
	for _, m := range []string{fake.MethodCopyImage, fake.MethodImportKeyPair, fake.MethodCreateSecurityGroup, fake.MethodLaunch,
		fake.MethodAuthorizeIngress, fake.MethodStop, fake.MethodStart} {
		if n := e.p.Calls(m); n != 0 {
			t.Errorf("second configure called %s %d times, want 0", m, n)
		}
	}
}

func TestService_RerunAfterFailureFinishes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.p.FailNext(fake.MethodCopyImage, 1, errors.New("throttled"))
	e.p.FailNext(fake.MethodLaunch, 1, errors.New("launch lost"))
	first := e.configure(t, e.request("fake-2", "fake-3"))
	failed := 0
	for _, r := range first.Regions {
		if !r.OK {
			failed++
		}
	}
	if failed == 0 {
		t.Fatalf("no region failed: %+v", first.Regions)
	}
	got := results(first.Regions)
	if !strings.Contains(got["fake-2 image"]+got["fake-3 image"], api.RegionFailed) {
		t.Errorf("no image step failed: %v", got)
	}
	second := e.configure(t, e.request("fake-2", "fake-3"))
	allOK(t, second.Regions)
	third := e.configure(t, e.request("fake-2", "fake-3"))
	for k, v := range results(third.Regions) {
		if v != api.RegionFound {
			t.Errorf("third configure: %s = %s, want found", k, v)
		}
	}
	// Exactly one live worker per region, whatever failed on the way.
	for _, r := range []string{"fake-2", "fake-3"} {
		ins, _ := e.p.Describe(context.Background(), r, provider.Filter{Tags: map[string]string{provider.TagRole: "worker"}})
		live := 0
		for _, in := range ins {
			if !in.State.Gone() {
				live++
			}
		}
		if live != 1 {
			t.Errorf("%s has %d live workers, want 1", r, live)
		}
	}
}

func drift(c api.RegionCheck) []string {
	var out []string
	for _, d := range c.Drift {
		out = append(out, d.Kind+": "+d.Problem)
	}
	return out
}

func TestService_CheckReportsDriftAndConfigureRepairs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	allOK(t, e.configure(t, e.request("fake-2")).Regions)
	check := func() api.RegionCheck {
		t.Helper()
		resp, err := e.svc.Check(ctx, []string{"fake-2"})
		if err != nil || len(resp.Regions) != 1 || resp.Regions[0].Error != "" {
			t.Fatalf("Check = %+v, %v", resp, err)
		}
		return resp.Regions[0]
	}
	c := check()
	if len(c.Drift) != 0 || !c.Configured || c.Home != "fake-1" {
		t.Fatalf("check after configure = %+v, want clean", c)
	}
	kinds := map[string]int{}
	for _, r := range c.Resources {
		kinds[r.Kind]++
	}
	if kinds["image"] != 1 || kinds["key_pair"] != 1 || kinds["security_group"] != 1 || kinds["worker"] != 1 {
		t.Errorf("resources = %+v, want one of each", c.Resources)
	}

	// By hand: revoke the rule, delete the key, terminate the worker.
	gs, _ := e.p.ListSecurityGroups(ctx, "fake-2", provider.Filter{Tags: map[string]string{provider.TagInstallation: inst}})
	if err := e.p.RevokeIngress(ctx, "fake-2", gs[0].ID, gs[0].Rules); err != nil {
		t.Fatal(err)
	}
	kps, _ := e.p.ListKeyPairs(ctx, "fake-2", provider.Filter{})
	if err := e.p.DeleteKeyPair(ctx, "fake-2", kps[0].Name); err != nil {
		t.Fatal(err)
	}
	ins, _ := e.p.Describe(ctx, "fake-2", provider.Filter{Tags: map[string]string{provider.TagRole: "worker"}})
	if err := e.p.Terminate(ctx, "fake-2", ins[0].ID); err != nil {
		t.Fatal(err)
	}
	got := strings.Join(drift(check()), "\n")
	for _, want := range []string{"key_pair: no key pair", "security_group: rules changed: missing tcp 22 from 0.0.0.0/0", "worker: the worker's instance"} {
		if !strings.Contains(got, want) {
			t.Errorf("drift:\n%s\nwant a line with %q", got, want)
		}
	}

	res := results(e.configure(t, e.request("fake-2")).Regions)
	if res["fake-2 key_pair"] != api.RegionCreated || res["fake-2 security_group"] != api.RegionRepaired || res["fake-2 worker"] != api.RegionCreated {
		t.Errorf("repairing configure = %v", res)
	}
	if d := drift(check()); len(d) != 0 {
		t.Errorf("drift after repair: %v", d)
	}
	// The relaunched worker has a new generation (a new token).
	nodes, _ := e.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: "fake-2"})
	if len(nodes) != 1 || nodes[0].Generation != 2 {
		t.Errorf("worker records = %+v, want one at generation 2", nodes)
	}
}

func TestService_ClearRemovesOnlyOurs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// Someone else's group and key, before and after configure.
	theirs, err := e.p.CreateSecurityGroup(ctx, "fake-2", "theirs", "", map[string]string{"team": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.ImportKeyPair(ctx, "fake-2", "theirs", []byte(e.pub), nil); err != nil {
		t.Fatal(err)
	}
	other, err := e.p.Launch(ctx, provider.LaunchSpec{Region: "fake-2", Type: "t3.micro", ClientToken: "x",
		Tags: map[string]string{provider.TagRole: "worker", provider.TagInstallation: "another"}})
	if err != nil {
		t.Fatal(err)
	}
	allOK(t, e.configure(t, e.request("fake-2")).Regions)

	resp, err := e.svc.Clear(ctx, []string{"fake-2"})
	if err != nil {
		t.Fatal(err)
	}
	allOK(t, resp.Regions)
	got := results(resp.Regions)
	for _, k := range []string{"fake-2 worker", "fake-2 image", "fake-2 key_pair", "fake-2 security_group"} {
		if got[k] != api.RegionRemoved {
			t.Errorf("clear %s = %q, want removed", k, got[k])
		}
	}
	gs, _ := e.p.ListSecurityGroups(ctx, "fake-2", provider.Filter{})
	kps, _ := e.p.ListKeyPairs(ctx, "fake-2", provider.Filter{})
	imgs, _ := e.p.ListImages(ctx, "fake-2", provider.Filter{})
	if len(gs) != 1 || gs[0].ID != theirs.ID || len(kps) != 1 || kps[0].Name != "theirs" || len(imgs) != 1 || imgs[0].ID != fake.BaseImageID {
		t.Errorf("after clear: groups %+v, keys %+v, images %+v; want only what was not ours", gs, kps, imgs)
	}
	ins, _ := e.p.Describe(ctx, "fake-2", provider.Filter{IDs: []string{other.ID}})
	if len(ins) != 1 || ins[0].State.Gone() {
		t.Errorf("another installation's instance: %+v, want it untouched", ins)
	}
	if nodes, _ := e.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker}); len(nodes) != 0 {
		t.Errorf("worker records after clear: %+v", nodes)
	}
	c, err := e.svc.Check(ctx, []string{"fake-2"})
	if err != nil || c.Regions[0].Configured || len(c.Regions[0].Drift) != 0 || len(c.Regions[0].Resources) != 0 {
		t.Errorf("check after clear = %+v, %v; want not configured and clean", c, err)
	}
	// Clearing again is harmless.
	if resp, err := e.svc.Clear(ctx, []string{"fake-2"}); err != nil || len(resp.Regions[0].Steps) != 0 {
		t.Errorf("second clear = %+v, %v", resp, err)
	}
}

func TestService_BadRequestsChangeNothing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name  string
		req   func(r *api.RegionConfigureRequest)
		field string
		msg   string
	}{
		{"UnknownRegion", func(r *api.RegionConfigureRequest) { r.Regions = []string{"fake-2", "mars-1"} }, "regions", `"mars-1"`},
		{"NoRegions", func(r *api.RegionConfigureRequest) { r.Regions = nil }, "regions", "at least one"},
		{"NoHome", func(r *api.RegionConfigureRequest) { r.Home = "" }, "home", "--from"},
		{"UnknownHome", func(r *api.RegionConfigureRequest) { r.Home = "venus-2" }, "home", `"venus-2"`},
		{"BadKey", func(r *api.RegionConfigureRequest) { r.PublicKey = "hello" }, "public_key", "ssh public key"},
		{"UnknownType", func(r *api.RegionConfigureRequest) { r.WorkerType = "t3.mikro" }, "worker_type", `unknown instance type "t3.mikro"`},
		{"NoSuchImage", func(r *api.RegionConfigureRequest) { r.Image = "golden" }, "image", `"golden"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := e.request("fake-2")
			tc.req(&req)
			_, err := e.svc.Configure(context.Background(), "admin", req)
			var inv *provider.InvalidError
			if !errors.As(err, &inv) || inv.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Configure = %v; want *InvalidError on %s mentioning %s", err, tc.field, tc.msg)
			}
		})
	}
	for _, m := range []string{fake.MethodCopyImage, fake.MethodCreateSecurityGroup, fake.MethodLaunch, fake.MethodImportKeyPair} {
		if n := e.p.Calls(m); n != 0 {
			t.Errorf("bad requests called %s %d times", m, n)
		}
	}
	if _, err := e.svc.Check(context.Background(), []string{"fake-9"}); err == nil || !strings.Contains(err.Error(), "fake-9") {
		t.Errorf("Check(fake-9) = %v, want an error naming it", err)
	}
}

func TestService_HomeRegionAsTargetUsesTheHomeImage(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	resp := e.configure(t, e.request("fake-1"))
	allOK(t, resp.Regions)
	got := results(resp.Regions)
	if got["fake-1 image"] != api.RegionFound || got["fake-1 security_group"] != api.RegionFound || got["fake-1 worker"] != api.RegionCreated {
		t.Errorf("configure of the home region = %v", got)
	}
	if n := e.p.Calls(fake.MethodCopyImage); n != 0 {
		t.Errorf("copied the image %d times into its own region", n)
	}
	if l := e.p.Launches(); len(l) != 1 || l[0].Image != fake.BaseImageID {
		t.Errorf("launches = %+v, want one from the base image", l)
	}
}

// A worker is launched with what configure made in its region, and
// WorkerLaunchSpec, which schedules use, gives the same.
func TestService_WorkerLaunchesWithTheRegionsGroupKeyAndProfile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()

	n := &store.Node{ID: "n-x", Role: store.RoleWorker, Region: "fake-2", Type: "t3.micro", Generation: 1}
	if _, configured, err := e.svc.WorkerLaunchSpec(ctx, n, nil); err != nil || configured {
		t.Fatalf("WorkerLaunchSpec before configure: configured %v, %v; want not configured", configured, err)
	}

	allOK(t, e.configure(t, e.request("fake-2")).Regions)
	imgs, _ := e.p.ListImages(ctx, "fake-2", provider.Filter{Tags: map[string]string{provider.TagInstallation: inst}})
	gs, _ := e.p.ListSecurityGroups(ctx, "fake-2", provider.Filter{Tags: map[string]string{provider.TagInstallation: inst}})
	ins, _ := e.p.Describe(ctx, "fake-2", provider.Filter{Tags: map[string]string{provider.TagInstallation: inst}})
	if len(imgs) != 1 || len(gs) != 1 || len(ins) != 1 {
		t.Fatalf("fake-2 holds images %+v, groups %+v, instances %+v; want one of each", imgs, gs, ins)
	}
	wantKey := region.DefaultKeyPrefix + inst
	if in := ins[0]; in.KeyName != wantKey || len(in.SecurityGroups) != 1 || in.SecurityGroups[0] != gs[0].ID ||
		in.InstanceProfile != region.DefaultInstanceProfile {
		t.Errorf("worker launched with key %q, groups %v, profile %q; want %q, [%s], %q",
			in.KeyName, in.SecurityGroups, in.InstanceProfile, wantKey, gs[0].ID, region.DefaultInstanceProfile)
	}
	launches := e.p.Launches()
	if len(launches) != 1 || launches[0].Image != imgs[0].ID {
		t.Fatalf("launches %+v, want one from the copy %s", launches, imgs[0].ID)
	}

	spec, configured, err := e.svc.WorkerLaunchSpec(ctx, n, map[string]string{provider.TagOwner: "ada"})
	if err != nil || !configured {
		t.Fatalf("WorkerLaunchSpec: configured %v, %v", configured, err)
	}
	if spec.Image != imgs[0].ID || spec.KeyName != wantKey || len(spec.SecurityGroups) != 1 || spec.SecurityGroups[0] != gs[0].ID ||
		spec.InstanceProfile != region.DefaultInstanceProfile || spec.Region != "fake-2" || spec.Type != "t3.micro" {
		t.Errorf("WorkerLaunchSpec = %+v", spec)
	}
	if spec.Tags[provider.TagOwner] != "ada" || spec.Tags[region.TagManagedBy] != region.ManagedByRegion ||
		spec.Tags[provider.TagNode] != "n-x" || spec.Agent.Token == "" {
		t.Errorf("WorkerLaunchSpec tags %v, agent %+v; want the region's tags, owner ada, node n-x and a token", spec.Tags, spec.Agent)
	}
	// The same fields as configure's own launch, but for the node.
	got, want := spec, launches[0]
	got.Tags, want.Tags, got.ClientToken, want.ClientToken, got.Agent, want.Agent = nil, nil, "", "", provider.AgentBootstrap{}, provider.AgentBootstrap{}
	if got.Image != want.Image || got.KeyName != want.KeyName || got.InstanceProfile != want.InstanceProfile ||
		strings.Join(got.SecurityGroups, ",") != strings.Join(want.SecurityGroups, ",") {
		t.Errorf("WorkerLaunchSpec %+v differs from configure's launch %+v", got, want)
	}

	if typ, err := e.svc.WorkerType(ctx, e.st, "fake-2"); err != nil || typ != region.DefaultWorkerType {
		t.Errorf("WorkerType(fake-2) = %q, %v; want %s", typ, err, region.DefaultWorkerType)
	}
	if typ, err := e.svc.WorkerType(ctx, e.st, "fake-3"); err != nil || typ != "" {
		t.Errorf("WorkerType(fake-3), not configured = %q, %v; want none", typ, err)
	}

	// The copy gone: no spec, and a message saying what to do.
	if err := e.p.DeregisterImage(ctx, "fake-2", imgs[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.WorkerLaunchSpec(ctx, n, nil); err == nil ||
		!strings.Contains(err.Error(), "no available copy") || !strings.Contains(err.Error(), "stratus region configure fake-2 --from fake-1") {
		t.Errorf("WorkerLaunchSpec without the copy: %v", err)
	}
}

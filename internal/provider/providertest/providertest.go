// Package providertest is the conformance suite for provider.Provider. Every
// implementation (fake, local, aws) runs it from its own tests:
//
//	func TestConformance(t *testing.T) {
//		providertest.Run(t, providertest.Harness{
//			New: func(t *testing.T) provider.Provider { return newTestProvider(t) },
//		})
//	}
//
// The suite holds the contract documented on provider.Provider: launch
// idempotency by client token, Filter semantics, the lifecycle pending →
// running → stopping → stopped → pending → running → shutting-down →
// terminated (the transitional states may be brief or skipped, and the
// suite waits through them), typed errors for bad input and
// missing capacity, region isolation, prices from the catalog, copies of tags,
// and safety under concurrent calls. Optional capabilities (capacity errors,
// spot reclaim) are tested when the Harness provides a hook for them.
package providertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
)

// Harness tells the suite how to make and steer providers under test.
type Harness struct {
	// New returns a fresh provider with no instances. Required. It is called
	// once per subtest; subtests run in parallel.
	New func(t *testing.T) provider.Provider
	// WaitTimeout bounds, in real time, how long the suite polls Describe for
	// a state change (pending → running, stopping → stopped, shutting-down
	// → terminated, reclaim). Default 10s.
	WaitTimeout time.Duration
	// Advance, when set, moves p's clock forward by d. The suite calls it
	// with d = 1s between polls, so providers on a fake clock make progress.
	// Leave it nil for providers on the real clock.
	Advance func(p provider.Provider, d time.Duration)
	// Catalog is the price list the provider uses. Default
	// cost.DefaultCatalog().
	Catalog *cost.Catalog
	// Type is the instance type the suite launches. Default "t3.micro" if the
	// catalog has it, else the catalog's first type.
	Type string
	// Agent is put into every LaunchSpec the suite makes.
	Agent provider.AgentBootstrap
	// SetNoCapacity, when set, makes p report no capacity for typ from now
	// on; the suite then checks that Launch returns a *provider.CapacityError.
	SetNoCapacity func(t *testing.T, p provider.Provider, typ string)
	// Reclaim, when set, makes p announce that it reclaims the spot instance
	// id after notice; the suite then checks InterruptionAt and that the
	// instance ends terminated.
	Reclaim func(t *testing.T, p provider.Provider, region, id string, notice time.Duration) error
}

// Run runs the conformance suite against the providers h makes.
func Run(t *testing.T, h Harness) {
	t.Helper()
	if h.New == nil {
		t.Fatal("providertest: Harness.New is required")
	}
	if h.WaitTimeout <= 0 {
		h.WaitTimeout = 10 * time.Second
	}
	if h.Catalog == nil {
		h.Catalog = cost.DefaultCatalog()
	}
	names := h.Catalog.Names()
	if len(names) < 2 {
		t.Fatal("providertest: the catalog needs at least two instance types")
	}
	if h.Type == "" {
		h.Type = names[0]
		if _, ok := h.Catalog.Lookup("t3.micro"); ok {
			h.Type = "t3.micro"
		}
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s *suite)
	}{
		{"Regions", testRegions},
		{"LaunchReturnsInstance", testLaunchReturnsInstance},
		{"LaunchWithGroupsKeyAndProfile", testLaunchAccess},
		{"DescribeByID", testDescribeByID},
		{"DescribeByTags", testDescribeByTags},
		{"ReachesRunningWithAddress", testReachesRunning},
		{"LaunchSameTokenIsIdempotent", testSameToken},
		{"LaunchSameTokenAfterTerminate", testSameTokenAfterTerminate},
		{"LaunchSameTokenOtherTypeIsInvalid", testSameTokenOtherType},
		{"LaunchDifferentTokens", testDifferentTokens},
		{"LaunchEmptyTokenNotDeduplicated", testEmptyToken},
		{"LaunchUnknownTypeIsInvalid", testUnknownType},
		{"UnknownRegionIsInvalid", testUnknownRegion},
		{"StopStart", testStopStart},
		{"Terminate", testTerminate},
		{"TerminateStopped", testTerminateStopped},
		{"TerminateStopping", testTerminateStopping},
		{"StartStopUnknownIsNotFound", testStartStopUnknown},
		{"StartTerminatedFails", testStartTerminated},
		{"OtherRegionIsolated", testOtherRegion},
		{"SpotPrice", testSpot},
		{"OnDemandPrice", testOnDemandPrice},
		{"TagsAreCopies", testTagsCopied},
		{"ConcurrentLaunchDistinctTokens", testConcurrentDistinct},
		{"ConcurrentLaunchSameToken", testConcurrentSame},
		{"NoCapacity", testNoCapacity},
		{"SpotReclaim", testReclaim},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := h.New(t)
			s := &suite{h: h, p: p, run: randomHex(6)}
			t.Cleanup(func() { s.cleanup(t) })
			regions, err := p.Regions(context.Background())
			if err != nil {
				t.Fatalf("Regions: %v", err)
			}
			if len(regions) == 0 {
				t.Fatal("Regions returned no region")
			}
			s.regions = regions
			tc.fn(t, s)
		})
	}
}

// suite is the state of one subtest.
type suite struct {
	h       Harness
	p       provider.Provider
	run     string // unique tag value for this subtest
	regions []string

	mu       sync.Mutex
	launched []provider.Instance
}

const (
	tagSuite = "providertest:run"
	pollStep = time.Second // clock step handed to Harness.Advance
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// spec returns a launch spec in the default region with a fresh token and
// the subtest's tag.
func (s *suite) spec() provider.LaunchSpec {
	return provider.LaunchSpec{
		Region:       s.regions[0],
		ClientToken:  "tok-" + randomHex(8),
		Type:         s.h.Type,
		RootVolumeGB: 8,
		Tags: map[string]string{
			tagSuite:              s.run,
			provider.TagOwner:     "alice",
			provider.TagCluster:   "c1",
			provider.TagRole:      "compute",
			provider.TagNode:      randomHex(4),
			"providertest:unique": randomHex(8),
		},
		Agent: s.h.Agent,
	}
}

func (s *suite) launch(t *testing.T, spec provider.LaunchSpec) provider.Instance {
	t.Helper()
	in, err := s.p.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch(type %s, region %s): %v", spec.Type, spec.Region, err)
	}
	s.track(in)
	return in
}

func (s *suite) track(in provider.Instance) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.launched = append(s.launched, in)
}

func (s *suite) cleanup(t *testing.T) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, in := range s.launched {
		if err := s.p.Terminate(context.Background(), in.Region, in.ID); err != nil {
			t.Errorf("cleanup: Terminate(%s): %v", in.ID, err)
		}
	}
}

func (s *suite) describe(t *testing.T, region string, f provider.Filter) []provider.Instance {
	t.Helper()
	ins, err := s.p.Describe(context.Background(), region, f)
	if err != nil {
		t.Fatalf("Describe(%s, %+v): %v", region, f, err)
	}
	return ins
}

// get returns the instance id in region, and whether Describe listed it.
func (s *suite) get(t *testing.T, region, id string) (provider.Instance, bool) {
	t.Helper()
	ins := s.describe(t, region, provider.Filter{IDs: []string{id}})
	switch len(ins) {
	case 0:
		return provider.Instance{}, false
	case 1:
		if ins[0].ID != id {
			t.Fatalf("Describe by id %s returned %s", id, ins[0].ID)
		}
		return ins[0], true
	default:
		t.Fatalf("Describe by id %s returned %d instances", id, len(ins))
		return provider.Instance{}, false
	}
}

// waitFor polls Describe until cond holds for instance id (absent instances
// are passed as found=false), advancing the provider's clock if it can.
func (s *suite) waitFor(t *testing.T, region, id, what string, cond func(in provider.Instance, found bool) bool) provider.Instance {
	t.Helper()
	deadline := time.Now().Add(s.h.WaitTimeout)
	for {
		in, found := s.get(t, region, id)
		if cond(in, found) {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: not %s after %v (state %q, listed %v)", id, what, s.h.WaitTimeout, in.State, found)
		}
		if s.h.Advance != nil {
			s.h.Advance(s.p, pollStep)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *suite) waitState(t *testing.T, region, id string, want provider.State) provider.Instance {
	t.Helper()
	return s.waitFor(t, region, id, string(want), func(in provider.Instance, found bool) bool {
		return found && in.State == want
	})
}

func (s *suite) waitGone(t *testing.T, region, id string) {
	t.Helper()
	s.waitFor(t, region, id, "terminated", func(in provider.Instance, found bool) bool {
		return !found || in.State == provider.StateTerminated
	})
}

func ids(ins []provider.Instance) []string {
	out := make([]string, 0, len(ins))
	for _, in := range ins {
		out = append(out, in.ID)
	}
	slices.Sort(out)
	return out
}

func sorted(ss ...string) []string {
	out := slices.Clone(ss)
	slices.Sort(out)
	return out
}

func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	var ie *provider.InvalidError
	if !errors.As(err, &ie) {
		t.Errorf("%s: got error %v (%T), want a *provider.InvalidError", what, err, err)
	}
}

func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("%s: got error %v, want provider.ErrNotFound", what, err)
	}
}

func testRegions(t *testing.T, s *suite) {
	seen := map[string]bool{}
	for _, r := range s.regions {
		if r == "" {
			t.Errorf("Regions %q contains an empty name", s.regions)
		}
		if seen[r] {
			t.Errorf("Regions %q lists %s twice", s.regions, r)
		}
		seen[r] = true
	}
	if s.p.Name() == "" {
		t.Error("Name() is empty")
	}
}

func testLaunchReturnsInstance(t *testing.T, s *suite) {
	spec := s.spec()
	in := s.launch(t, spec)
	if in.ID == "" {
		t.Error("Launch returned an empty id")
	}
	if in.Type != spec.Type {
		t.Errorf("Type = %q, want %q", in.Type, spec.Type)
	}
	if in.Region != spec.Region {
		t.Errorf("Region = %q, want %q", in.Region, spec.Region)
	}
	if !maps.Equal(in.Tags, spec.Tags) {
		t.Errorf("Tags = %v, want %v", in.Tags, spec.Tags)
	}
	if in.State != provider.StatePending && in.State != provider.StateRunning {
		t.Errorf("State = %q, want pending or running", in.State)
	}
	if in.Spot {
		t.Error("on-demand launch reports Spot = true")
	}
	if in.RootVolumeGB != spec.RootVolumeGB {
		t.Errorf("RootVolumeGB = %d, want %d", in.RootVolumeGB, spec.RootVolumeGB)
	}
	if in.LaunchedAt.IsZero() {
		t.Error("LaunchedAt is zero")
	}
	if in.StateChangedAt.Before(in.LaunchedAt) {
		t.Errorf("StateChangedAt %v is before LaunchedAt %v", in.StateChangedAt, in.LaunchedAt)
	}
}

func testDescribeByID(t *testing.T, s *suite) {
	a := s.launch(t, s.spec())
	b := s.launch(t, s.spec())
	got, ok := s.get(t, s.regions[0], a.ID)
	if !ok {
		t.Fatalf("Describe by id does not list %s", a.ID)
	}
	if got.Type != a.Type || got.Region != a.Region || !maps.Equal(got.Tags, a.Tags) {
		t.Errorf("Describe by id = %+v, want the launched %+v", got, a)
	}
	all := s.describe(t, s.regions[0], provider.Filter{IDs: []string{a.ID, b.ID, "i-doesnotexist"}})
	if diff := ids(all); !slices.Equal(diff, sorted(a.ID, b.ID)) {
		t.Errorf("Describe by ids = %v, want %v", diff, sorted(a.ID, b.ID))
	}
	none := s.describe(t, s.regions[0], provider.Filter{IDs: []string{"i-doesnotexist"}})
	if len(none) != 0 {
		t.Errorf("Describe of an unknown id = %v, want none", ids(none))
	}
}

func testDescribeByTags(t *testing.T, s *suite) {
	specA := s.spec()
	specA.Tags[provider.TagRole] = "head"
	specA.Tags["color"] = "red"
	specB := s.spec()
	specB.Tags[provider.TagRole] = "compute"
	a := s.launch(t, specA)
	b := s.launch(t, specB)
	region := s.regions[0]
	for _, tc := range []struct {
		name string
		f    provider.Filter
		want []string
	}{
		{"run tag", provider.Filter{Tags: map[string]string{tagSuite: s.run}}, sorted(a.ID, b.ID)},
		{"one value", provider.Filter{Tags: map[string]string{tagSuite: s.run, provider.TagRole: "head"}}, []string{a.ID}},
		{"any value", provider.Filter{Tags: map[string]string{tagSuite: s.run, provider.TagRole: ""}}, sorted(a.ID, b.ID)},
		{"any value of a key only one has", provider.Filter{Tags: map[string]string{tagSuite: s.run, "color": ""}}, []string{a.ID}},
		{"tags ANDed, all match", provider.Filter{Tags: map[string]string{tagSuite: s.run, provider.TagRole: "head", "color": "red"}}, []string{a.ID}},
		{"tags ANDed, one differs", provider.Filter{Tags: map[string]string{tagSuite: s.run, provider.TagRole: "head", "color": "blue"}}, nil},
		{"missing key", provider.Filter{Tags: map[string]string{tagSuite: s.run, "no-such-key": ""}}, nil},
		{"ids and tags", provider.Filter{IDs: []string{a.ID, b.ID}, Tags: map[string]string{provider.TagRole: "compute"}}, []string{b.ID}},
		{"id with non-matching tag", provider.Filter{IDs: []string{a.ID}, Tags: map[string]string{provider.TagRole: "compute"}}, nil},
	} {
		got := ids(s.describe(t, region, tc.f))
		if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("%s: Describe(%v) = %v, want %v", tc.name, tc.f.Tags, got, tc.want)
		}
	}
	// The empty filter lists everything in the region, ours included.
	all := ids(s.describe(t, region, provider.Filter{}))
	for _, id := range []string{a.ID, b.ID} {
		if !slices.Contains(all, id) {
			t.Errorf("Describe with an empty filter does not list %s", id)
		}
	}
}

func testReachesRunning(t *testing.T, s *suite) {
	in := s.launch(t, s.spec())
	got := s.waitState(t, in.Region, in.ID, provider.StateRunning)
	if got.Address == "" {
		t.Error("running instance has no Address")
	}
	if got.StateChangedAt.Before(got.LaunchedAt) {
		t.Errorf("StateChangedAt %v before LaunchedAt %v", got.StateChangedAt, got.LaunchedAt)
	}
	if !got.LaunchedAt.Equal(in.LaunchedAt) {
		t.Errorf("LaunchedAt changed from %v to %v", in.LaunchedAt, got.LaunchedAt)
	}
}

func testSameToken(t *testing.T, s *suite) {
	spec := s.spec()
	a := s.launch(t, spec)
	b := s.launch(t, spec)
	if a.ID != b.ID {
		t.Fatalf("second Launch with the same token returned %s, first %s", b.ID, a.ID)
	}
	got := s.describe(t, spec.Region, provider.Filter{Tags: map[string]string{"providertest:unique": spec.Tags["providertest:unique"]}})
	if len(got) != 1 {
		t.Errorf("Describe by tag after two launches with one token lists %d instances %v, want 1", len(got), ids(got))
	}
	// Still the same once it is running.
	s.waitState(t, spec.Region, a.ID, provider.StateRunning)
	c := s.launch(t, spec)
	if c.ID != a.ID {
		t.Errorf("Launch with the same token after boot returned %s, want %s", c.ID, a.ID)
	}
	if c.State != provider.StateRunning {
		t.Errorf("repeated Launch returned state %q, want the current state running", c.State)
	}
}

func testSameTokenAfterTerminate(t *testing.T, s *suite) {
	spec := s.spec()
	a := s.launch(t, spec)
	if err := s.p.Terminate(context.Background(), spec.Region, a.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	b, err := s.p.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch with the token of a terminated instance: %v", err)
	}
	s.track(b)
	if b.ID != a.ID {
		t.Errorf("Launch with the token of terminated %s made %s, want the terminated one back", a.ID, b.ID)
	}
	if b.State != provider.StateTerminated && b.State != provider.StateShuttingDown {
		t.Errorf("Launch with the token of a terminated instance returned state %q, want terminated", b.State)
	}
}

func testSameTokenOtherType(t *testing.T, s *suite) {
	spec := s.spec()
	s.launch(t, spec)
	other := spec
	for _, n := range s.h.Catalog.Names() {
		if n != spec.Type {
			other.Type = n
			break
		}
	}
	in, err := s.p.Launch(context.Background(), other)
	if err == nil {
		s.track(in)
	}
	wantInvalid(t, "Launch reusing a token with another type", err)
}

func testDifferentTokens(t *testing.T, s *suite) {
	a := s.launch(t, s.spec())
	b := s.launch(t, s.spec())
	if a.ID == b.ID {
		t.Fatalf("two launches with different tokens both returned %s", a.ID)
	}
	got := ids(s.describe(t, s.regions[0], provider.Filter{Tags: map[string]string{tagSuite: s.run}}))
	if !slices.Equal(got, sorted(a.ID, b.ID)) {
		t.Errorf("Describe = %v, want %v", got, sorted(a.ID, b.ID))
	}
}

func testEmptyToken(t *testing.T, s *suite) {
	spec := s.spec()
	spec.ClientToken = ""
	a := s.launch(t, spec)
	b := s.launch(t, spec)
	if a.ID == b.ID {
		t.Errorf("two launches without a token both returned %s", a.ID)
	}
}

func testUnknownType(t *testing.T, s *suite) {
	spec := s.spec()
	spec.Type = "no-such.type"
	in, err := s.p.Launch(context.Background(), spec)
	if err == nil {
		s.track(in)
	}
	wantInvalid(t, "Launch of an unknown type", err)
	if got := s.describe(t, spec.Region, provider.Filter{Tags: map[string]string{tagSuite: s.run}}); len(got) != 0 {
		t.Errorf("a failed Launch left instances %v", ids(got))
	}
}

func testUnknownRegion(t *testing.T, s *suite) {
	ctx := context.Background()
	const bad = "no-such-region-9"
	spec := s.spec()
	spec.Region = bad
	in, err := s.p.Launch(ctx, spec)
	if err == nil {
		s.track(in)
	}
	wantInvalid(t, "Launch in an unknown region", err)
	_, err = s.p.Describe(ctx, bad, provider.Filter{})
	wantInvalid(t, "Describe in an unknown region", err)
	wantInvalid(t, "Start in an unknown region", s.p.Start(ctx, bad, "i-0123456789abcdef0"))
	wantInvalid(t, "Stop in an unknown region", s.p.Stop(ctx, bad, "i-0123456789abcdef0"))
	wantInvalid(t, "Terminate in an unknown region", s.p.Terminate(ctx, bad, "i-0123456789abcdef0"))
}

func testStopStart(t *testing.T, s *suite) {
	ctx := context.Background()
	in := s.launch(t, s.spec())
	s.waitState(t, in.Region, in.ID, provider.StateRunning)

	if err := s.p.Stop(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if got, _ := s.get(t, in.Region, in.ID); got.State != provider.StateStopping && got.State != provider.StateStopped {
		t.Errorf("just after Stop the state is %q, want stopping or stopped", got.State)
	}
	// Stop while it may still be stopping: a no-op.
	if err := s.p.Stop(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Stop of a stopping instance: %v, want nil", err)
	}
	stopped := s.waitState(t, in.Region, in.ID, provider.StateStopped)
	if stopped.ID != in.ID {
		t.Errorf("stopped instance id = %s, want %s", stopped.ID, in.ID)
	}
	for i := 0; i < 2; i++ {
		if err := s.p.Stop(ctx, in.Region, in.ID); err != nil {
			t.Fatalf("Stop of a stopped instance: %v, want nil", err)
		}
	}
	if got, _ := s.get(t, in.Region, in.ID); got.State != provider.StateStopped {
		t.Errorf("after a repeated Stop the state is %q, want stopped", got.State)
	}

	if err := s.p.Start(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if got, _ := s.get(t, in.Region, in.ID); got.State != provider.StatePending && got.State != provider.StateRunning {
		t.Errorf("just after Start the state is %q, want pending or running", got.State)
	}
	running := s.waitState(t, in.Region, in.ID, provider.StateRunning)
	if running.Address == "" {
		t.Error("restarted instance has no Address")
	}
	for i := 0; i < 2; i++ {
		if err := s.p.Start(ctx, in.Region, in.ID); err != nil {
			t.Fatalf("Start of a running instance: %v, want nil", err)
		}
	}
	if got, _ := s.get(t, in.Region, in.ID); got.State != provider.StateRunning {
		t.Errorf("after a repeated Start the state is %q, want running", got.State)
	}
	if !maps.Equal(running.Tags, in.Tags) || running.Type != in.Type {
		t.Errorf("after stop/start the instance is %+v, want the type and tags of %+v", running, in)
	}
}

func testTerminate(t *testing.T, s *suite) {
	ctx := context.Background()
	in := s.launch(t, s.spec())
	other := s.launch(t, s.spec())
	if err := s.p.Terminate(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	if got, ok := s.get(t, in.Region, in.ID); ok && got.State != provider.StateShuttingDown && got.State != provider.StateTerminated {
		t.Errorf("just after Terminate the state is %q, want shutting-down or terminated", got.State)
	}
	// Terminate while it may still be shutting down: a no-op.
	if err := s.p.Terminate(ctx, in.Region, in.ID); err != nil {
		t.Errorf("Terminate of a shutting-down instance: %v, want nil", err)
	}
	s.waitGone(t, in.Region, in.ID)
	for _, tc := range []struct{ what, id string }{
		{"Terminate of a terminated instance", in.ID},
		{"Terminate of an unknown instance", "i-0123456789abcdef0"},
	} {
		if err := s.p.Terminate(ctx, in.Region, tc.id); err != nil {
			t.Errorf("%s: %v, want nil", tc.what, err)
		}
	}
	if got, ok := s.get(t, other.Region, other.ID); !ok || got.State.Gone() {
		t.Errorf("terminating %s affected %s: listed %v, state %q", in.ID, other.ID, ok, got.State)
	}
}

func testTerminateStopped(t *testing.T, s *suite) {
	ctx := context.Background()
	in := s.launch(t, s.spec())
	s.waitState(t, in.Region, in.ID, provider.StateRunning)
	if err := s.p.Stop(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	s.waitState(t, in.Region, in.ID, provider.StateStopped)
	if err := s.p.Terminate(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Terminate of a stopped instance: %v", err)
	}
	s.waitGone(t, in.Region, in.ID)
}

// testTerminateStopping terminates an instance right after asking it to
// stop, while it may still be stopping: the termination proceeds.
func testTerminateStopping(t *testing.T, s *suite) {
	ctx := context.Background()
	in := s.launch(t, s.spec())
	s.waitState(t, in.Region, in.ID, provider.StateRunning)
	if err := s.p.Stop(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := s.p.Terminate(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Terminate of a stopping instance: %v", err)
	}
	s.waitGone(t, in.Region, in.ID)
}

func testStartStopUnknown(t *testing.T, s *suite) {
	ctx := context.Background()
	const id = "i-0123456789abcdef0"
	wantNotFound(t, "Start of an unknown instance", s.p.Start(ctx, s.regions[0], id))
	wantNotFound(t, "Stop of an unknown instance", s.p.Stop(ctx, s.regions[0], id))
}

func testStartTerminated(t *testing.T, s *suite) {
	ctx := context.Background()
	in := s.launch(t, s.spec())
	if err := s.p.Terminate(ctx, in.Region, in.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	s.waitGone(t, in.Region, in.ID)
	if err := s.p.Start(ctx, in.Region, in.ID); err == nil {
		t.Error("Start of a terminated instance succeeded")
	}
	if got, ok := s.get(t, in.Region, in.ID); ok && got.State != provider.StateTerminated {
		t.Errorf("after Start of a terminated instance its state is %q", got.State)
	}
}

func testOtherRegion(t *testing.T, s *suite) {
	if len(s.regions) < 2 {
		t.Skip("provider has one region")
	}
	ctx := context.Background()
	in := s.launch(t, s.spec())
	other := s.regions[1]
	for _, f := range []provider.Filter{{}, {IDs: []string{in.ID}}, {Tags: map[string]string{tagSuite: s.run}}} {
		if got := s.describe(t, other, f); slices.Contains(ids(got), in.ID) {
			t.Errorf("Describe(%s, %+v) lists %s, launched in %s", other, f, in.ID, in.Region)
		}
	}
	wantNotFound(t, "Stop in the wrong region", s.p.Stop(ctx, other, in.ID))
	wantNotFound(t, "Start in the wrong region", s.p.Start(ctx, other, in.ID))
	if got, ok := s.get(t, in.Region, in.ID); !ok || got.State.Gone() || got.State == provider.StateStopped {
		t.Errorf("calls in %s affected %s in %s: state %q", other, in.ID, in.Region, got.State)
	}

	spec := s.spec()
	spec.Region = other
	b := s.launch(t, spec)
	if b.Region != other {
		t.Errorf("launched in %s, Region = %q", other, b.Region)
	}
	if _, ok := s.get(t, s.regions[0], b.ID); ok {
		t.Errorf("instance launched in %s is listed in %s", other, s.regions[0])
	}
}

func testSpot(t *testing.T, s *suite) {
	onDemand := s.price(t, s.h.Type)
	for _, tc := range []struct {
		name string
		max  int64
	}{
		{"max is on-demand", onDemand},
		{"no max", 0},
		{"high max", onDemand * 10},
	} {
		spec := s.spec()
		spec.Spot = true
		spec.MaxPriceMicros = tc.max
		in := s.launch(t, spec)
		limit := tc.max
		if limit == 0 {
			limit = onDemand
		}
		if !in.Spot {
			t.Errorf("%s: spot launch reports Spot = false", tc.name)
		}
		if in.PriceMicros <= 0 || in.PriceMicros > limit {
			t.Errorf("%s: PriceMicros = %d, want in (0, %d]", tc.name, in.PriceMicros, limit)
		}
		got, _ := s.get(t, in.Region, in.ID)
		if !got.Spot || got.PriceMicros != in.PriceMicros {
			t.Errorf("%s: Describe shows Spot %v price %d, Launch said %v %d", tc.name, got.Spot, got.PriceMicros, in.Spot, in.PriceMicros)
		}
	}
	// A max price below the spot price is either honoured or refused for
	// lack of capacity; it is never exceeded.
	spec := s.spec()
	spec.Spot = true
	spec.MaxPriceMicros = 1
	in, err := s.p.Launch(context.Background(), spec)
	switch {
	case err == nil:
		s.track(in)
		if in.PriceMicros > 1 {
			t.Errorf("max price 1: PriceMicros = %d", in.PriceMicros)
		}
	case !provider.IsCapacity(err):
		t.Errorf("max price 1: %v, want success or a *provider.CapacityError", err)
	}
	spec = s.spec()
	spec.Spot = true
	spec.MaxPriceMicros = -1
	in, err = s.p.Launch(context.Background(), spec)
	if err == nil {
		s.track(in)
	}
	wantInvalid(t, "negative max price", err)
}

func (s *suite) price(t *testing.T, typ string) int64 {
	t.Helper()
	it, ok := s.h.Catalog.Lookup(typ)
	if !ok {
		t.Fatalf("type %s is not in the catalog", typ)
	}
	return int64(it.HourlyMicros)
}

func testOnDemandPrice(t *testing.T, s *suite) {
	for _, typ := range []string{s.h.Type, s.h.Catalog.Names()[len(s.h.Catalog.Names())-1]} {
		spec := s.spec()
		spec.Type = typ
		in := s.launch(t, spec)
		if want := s.price(t, typ); in.PriceMicros != want {
			t.Errorf("%s: PriceMicros = %d, want the catalog price %d", typ, in.PriceMicros, want)
		}
		if in.Spot {
			t.Errorf("%s: on-demand launch reports Spot", typ)
		}
	}
}

func testTagsCopied(t *testing.T, s *suite) {
	spec := s.spec()
	want := maps.Clone(spec.Tags)
	in := s.launch(t, spec)
	spec.Tags[provider.TagOwner] = "mallory"
	spec.Tags["added-by-caller"] = "x"
	in.Tags[provider.TagRole] = "changed"
	in.Tags["added-to-result"] = "x"
	got, ok := s.get(t, in.Region, in.ID)
	if !ok {
		t.Fatalf("Describe does not list %s", in.ID)
	}
	if !maps.Equal(got.Tags, want) {
		t.Errorf("after mutating the spec's and the result's tags, Describe shows %v, want %v", got.Tags, want)
	}
	got.Tags[provider.TagCluster] = "changed"
	again, _ := s.get(t, in.Region, in.ID)
	if !maps.Equal(again.Tags, want) {
		t.Errorf("after mutating Describe's tags, Describe shows %v, want %v", again.Tags, want)
	}
}

const concurrency = 8

func testConcurrentDistinct(t *testing.T, s *suite) {
	var wg sync.WaitGroup
	results := make([]provider.Instance, concurrency)
	errs := make([]error, concurrency)
	for i := range concurrency {
		spec := s.spec()
		wg.Go(func() {
			results[i], errs[i] = s.p.Launch(context.Background(), spec)
			if errs[i] == nil {
				s.track(results[i])
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range concurrency {
		if errs[i] != nil {
			t.Errorf("launch %d: %v", i, errs[i])
			continue
		}
		if seen[results[i].ID] {
			t.Errorf("two launches with distinct tokens returned %s", results[i].ID)
		}
		seen[results[i].ID] = true
	}
	got := s.describe(t, s.regions[0], provider.Filter{Tags: map[string]string{tagSuite: s.run}})
	if len(got) != concurrency {
		t.Errorf("Describe lists %d instances after %d concurrent launches, want %d", len(got), concurrency, concurrency)
	}
}

func testConcurrentSame(t *testing.T, s *suite) {
	spec := s.spec()
	var wg sync.WaitGroup
	results := make([]provider.Instance, concurrency)
	errs := make([]error, concurrency)
	for i := range concurrency {
		wg.Go(func() {
			results[i], errs[i] = s.p.Launch(context.Background(), spec)
			if errs[i] == nil {
				s.track(results[i])
			}
		})
	}
	wg.Wait()
	var first string
	for i := range concurrency {
		if errs[i] != nil {
			t.Errorf("launch %d: %v", i, errs[i])
			continue
		}
		if first == "" {
			first = results[i].ID
		}
		if results[i].ID != first {
			t.Errorf("concurrent launches with one token returned %s and %s", first, results[i].ID)
		}
	}
	got := s.describe(t, spec.Region, provider.Filter{Tags: map[string]string{tagSuite: s.run}})
	if len(got) != 1 {
		t.Errorf("Describe lists %d instances %v after concurrent launches with one token, want 1", len(got), ids(got))
	}
}

func testNoCapacity(t *testing.T, s *suite) {
	if s.h.SetNoCapacity == nil {
		t.Skip("Harness.SetNoCapacity not set")
	}
	var typ string
	for _, n := range s.h.Catalog.Names() {
		if n != s.h.Type {
			typ = n
			break
		}
	}
	s.h.SetNoCapacity(t, s.p, typ)
	spec := s.spec()
	spec.Type = typ
	in, err := s.p.Launch(context.Background(), spec)
	if err == nil {
		s.track(in)
		t.Fatalf("Launch of %s with no capacity succeeded: %s", typ, in.ID)
	}
	var ce *provider.CapacityError
	if !errors.As(err, &ce) || !provider.IsCapacity(err) {
		t.Fatalf("Launch of %s with no capacity: %v (%T), want a *provider.CapacityError", typ, err, err)
	}
	if ce.Type != typ || ce.Region != spec.Region {
		t.Errorf("CapacityError names type %q region %q, want %q %q", ce.Type, ce.Region, typ, spec.Region)
	}
	if got := s.describe(t, spec.Region, provider.Filter{Tags: map[string]string{tagSuite: s.run}}); len(got) != 0 {
		t.Errorf("a Launch refused for capacity left instances %v", ids(got))
	}
	// Other types still launch.
	s.launch(t, s.spec())
}

func testReclaim(t *testing.T, s *suite) {
	if s.h.Reclaim == nil {
		t.Skip("Harness.Reclaim not set")
	}
	spec := s.spec()
	spec.Spot = true
	in := s.launch(t, spec)
	s.waitState(t, in.Region, in.ID, provider.StateRunning)

	onDemand := s.launch(t, s.spec())
	if err := s.h.Reclaim(t, s.p, onDemand.Region, onDemand.ID, time.Second); err == nil {
		t.Error("Reclaim of an on-demand instance succeeded")
	}

	const notice = 500 * time.Millisecond
	if err := s.h.Reclaim(t, s.p, in.Region, in.ID, notice); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	got, ok := s.get(t, in.Region, in.ID)
	if ok && !got.State.Gone() {
		if got.InterruptionAt.IsZero() {
			t.Error("after Reclaim, InterruptionAt is zero")
		}
		if got.InterruptionAt.Before(got.LaunchedAt) {
			t.Errorf("InterruptionAt %v is before LaunchedAt %v", got.InterruptionAt, got.LaunchedAt)
		}
	}
	s.waitGone(t, in.Region, in.ID)
	if got, ok := s.get(t, onDemand.Region, onDemand.ID); !ok || got.State.Gone() {
		t.Errorf("reclaiming %s affected %s", in.ID, onDemand.ID)
	}
}

// testLaunchAccess launches with security groups, a key pair and an
// instance profile (made through provider.Resources when the provider has
// them, so that a real cloud accepts them) and checks that the instance
// reports them, where the provider reports them at all, as given.
func testLaunchAccess(t *testing.T, s *suite) {
	ctx := context.Background()
	spec := s.spec()
	spec.SecurityGroups = []string{"sg-0" + randomHex(8)}
	spec.KeyName = "pt-key-" + s.run
	spec.InstanceProfile = "pt-profile"
	if r, ok := s.p.(provider.Resources); ok {
		g, err := r.CreateSecurityGroup(ctx, spec.Region, "pt-sg-"+s.run, "providertest", map[string]string{tagSuite: s.run})
		if err != nil {
			t.Fatalf("CreateSecurityGroup: %v", err)
		}
		defer func() {
			if err := r.DeleteSecurityGroup(ctx, spec.Region, g.ID); err != nil {
				t.Errorf("DeleteSecurityGroup: %v", err)
			}
		}()
		if _, err := r.ImportKeyPair(ctx, spec.Region, spec.KeyName, TestPublicKey("pt"), map[string]string{tagSuite: s.run}); err != nil {
			t.Fatalf("ImportKeyPair: %v", err)
		}
		defer func() {
			if err := r.DeleteKeyPair(ctx, spec.Region, spec.KeyName); err != nil {
				t.Errorf("DeleteKeyPair: %v", err)
			}
		}()
		if _, err := r.EnsureInstanceProfile(ctx, spec.InstanceProfile, map[string]string{tagSuite: s.run}); err != nil {
			t.Fatalf("EnsureInstanceProfile: %v", err)
		}
		spec.SecurityGroups = []string{g.ID}
	}
	in := s.launch(t, spec)
	check := func(what string, got provider.Instance) {
		t.Helper()
		if got.KeyName == "" && len(got.SecurityGroups) == 0 && got.InstanceProfile == "" {
			return // the provider does not report them
		}
		if got.KeyName != spec.KeyName || !slices.Equal(got.SecurityGroups, spec.SecurityGroups) || got.InstanceProfile != spec.InstanceProfile {
			t.Errorf("%s: key %q, groups %v, profile %q; want %q, %v, %q", what,
				got.KeyName, got.SecurityGroups, got.InstanceProfile, spec.KeyName, spec.SecurityGroups, spec.InstanceProfile)
		}
	}
	check("Launch", in)
	if got, ok := s.get(t, spec.Region, in.ID); !ok {
		t.Fatalf("Describe does not list %s", in.ID)
	} else {
		check("Describe", got)
	}
	// The group can go only once no instance uses it.
	if err := s.p.Terminate(ctx, spec.Region, in.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	s.waitGone(t, spec.Region, in.ID)
}

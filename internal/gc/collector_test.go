package gc

import (
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

// TestCollectorReconcile_OnePassTerminatesOnlyOrphans runs the collector
// once against a fake cloud holding one instance of each kind: the pass
// terminates both orphans of this installation, in whichever region they
// are, records an event for each, and touches nothing else.
func TestCollectorReconcile_OnePassTerminatesOnlyOrphans(t *testing.T) {
	ctx := t.Context()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	prov := fake.New(fake.Options{Clock: clk})
	st := sqlitetest.Open(t)

	if err := st.CreateCluster(ctx, &store.Cluster{Name: "demo", Owner: "ann", State: store.ClusterRunning, Spec: []byte("{}"), CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateNode(ctx, &store.Node{ID: "n-known", Cluster: "demo", Role: store.RoleHead, Region: "fake-1", Type: "t3.micro", Generation: 1, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}

	launch := func(name, region string, tags map[string]string) string {
		t.Helper()
		in, err := prov.Launch(ctx, provider.LaunchSpec{Region: region, ClientToken: name, Type: "t3.micro", Tags: tags})
		if err != nil {
			t.Fatalf("launch %s: %v", name, err)
		}
		return in.ID
	}
	ours := func(kv ...string) map[string]string {
		tags := map[string]string{provider.TagInstallation: "inst-me"}
		for i := 0; i+1 < len(kv); i += 2 {
			tags[kv[i]] = kv[i+1]
		}
		return tags
	}
	known := launch("known", "fake-1", ours(provider.TagCluster, "demo", provider.TagNode, "n-known"))
	orphan := launch("orphan", "fake-2", ours(provider.TagCluster, "gone", provider.TagNode, "n-gone"))
	noNode := launch("no-node", "fake-1", ours())
	untagged := launch("untagged", "fake-1", nil)
	other := launch("other", "fake-1", map[string]string{provider.TagInstallation: "inst-other", provider.TagNode: "n-elsewhere"})
	clk.Advance(time.Minute) // every instance is running

	c := &Collector{Store: st, Provider: prov, Installation: "inst-me", Clock: clk, Logger: slog.New(slog.DiscardHandler)}
	if _, err := c.Reconcile(ctx); err != nil {
		t.Fatalf("Reconcile: %v", err)
	}

	state := map[string]provider.State{}
	for _, region := range []string{"fake-1", "fake-2"} {
		insts, err := prov.Describe(ctx, region, provider.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range insts {
			state[in.ID] = in.State
		}
	}
	want := map[string]provider.State{
		known:    provider.StateRunning,
		orphan:   provider.StateTerminated,
		noNode:   provider.StateTerminated,
		untagged: provider.StateRunning,
		other:    provider.StateRunning,
	}
	if diff := cmp.Diff(want, state); diff != "" {
		t.Errorf("instance states after one pass (-want +got):\n%s", diff)
	}
	if got := prov.Calls(fake.MethodTerminate); got != 2 {
		t.Errorf("Terminate called %d times, want 2 (the two orphans only)", got)
	}

	events, err := st.ListEvents(ctx, store.EventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	type ev struct{ Kind, Cluster, Node, Message string }
	var got []ev
	for _, e := range events {
		if !e.Time.Equal(clk.Now()) {
			t.Errorf("event %q at %v, want the clock's %v", e.Message, e.Time, clk.Now())
		}
		got = append(got, ev{e.Kind, e.Cluster, e.Node, e.Message})
	}
	byMessage := func(a, b ev) int { return strings.Compare(a.Message, b.Message) }
	slices.SortFunc(got, byMessage)
	wantEvents := []ev{
		{"gc.orphan_terminated", "gone", "n-gone", "terminated orphaned instance " + orphan + " in fake-2"},
		{"gc.orphan_terminated", "", "", "terminated orphaned instance " + noNode + " in fake-1"},
	}
	slices.SortFunc(wantEvents, byMessage)
	if diff := cmp.Diff(wantEvents, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}

	// A second pass finds nothing more to do.
	if _, err := c.Reconcile(ctx); err != nil {
		t.Fatalf("second Reconcile: %v", err)
	}
	if got := prov.Calls(fake.MethodTerminate); got != 2 {
		t.Errorf("after a second pass Terminate was called %d times, want still 2", got)
	}
}

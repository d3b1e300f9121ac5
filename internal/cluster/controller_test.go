package cluster_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

const (
	testSecret       = "test-agent-secret"
	testInstallation = "inst-test"
	testRegion       = "fake-1"
	testAdvertise    = "http://control-plane.test:7070"
)

var start = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

var (
	ann   = cluster.Caller{User: "ann"}
	bob   = cluster.Caller{User: "bob"}
	admin = cluster.Caller{User: "admin", Admin: true}
)

// Requests in the native format.
const (
	// reqHeadOnly is a head node (t3.small, from the template) and no
	// compute nodes.
	reqHeadOnly = "compute: {max_nodes: 2}\n"
	// reqMixed is an on-demand t3.medium head and two spot r5.large
	// compute nodes at most $0.05 an hour.
	reqMixed = "head: {type: t3.medium}\ncompute: {types: [r5.large], initial_nodes: 2, max_nodes: 4, spot_price: \"0.05\"}\n"
	// reqOneCompute is a t3.small head and one on-demand t3.small compute
	// node.
	reqOneCompute = "compute: {initial_nodes: 1, max_nodes: 2}\n"
)

// env is a control plane without HTTP: the service and the controller over
// a real SQLite store, the fake provider and a fake clock.
type env struct {
	clk  *clock.Fake
	prov *fake.Provider
	st   *sqlite.Store
	svc  *cluster.Service
	ctrl *cluster.Controller
}

func newEnv(t *testing.T) *env {
	t.Helper()
	clk := clock.NewFake(start)
	prov := fake.New(fake.Options{Clock: clk})
	return newEnvWith(t, clk, prov, prov)
}

// newEnvWith builds an env whose controller talks to p (a wrapper of prov).
func newEnvWith(t *testing.T, clk *clock.Fake, prov *fake.Provider, p provider.Provider) *env {
	t.Helper()
	st := sqlitetest.Open(t)
	log := slog.New(slog.DiscardHandler)
	return &env{
		clk: clk, prov: prov, st: st,
		svc: &cluster.Service{
			Store: st, Catalog: cost.DefaultCatalog(), Template: spec.DefaultTemplate(),
			DefaultRegion: testRegion, Regions: []string{"fake-1", "fake-2"},
			Clock: clk, Logger: log, AgentSecret: testSecret, HeartbeatTimeout: 30 * time.Second,
		},
		ctrl: &cluster.Controller{
			Store: st, Provider: p, Clock: clk, Logger: log, Installation: testInstallation,
			AgentSecret: testSecret, AdvertiseURL: testAdvertise,
		},
	}
}

func (e *env) create(t *testing.T, name, request string) api.Cluster {
	t.Helper()
	cl, err := e.svc.Create(context.Background(), ann, api.CreateClusterRequest{Name: name, Request: request})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return cl
}

// pass runs one controller pass and returns its error.
func (e *env) pass(t *testing.T) error {
	t.Helper()
	e.clk.Advance(time.Second)
	_, err := e.ctrl.Reconcile(context.Background())
	return err
}

func (e *env) mustPass(t *testing.T) {
	t.Helper()
	if err := e.pass(t); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

func (e *env) nodes(t *testing.T, clusterName string) []*store.Node {
	t.Helper()
	ns, err := e.st.ListNodes(context.Background(), store.NodeFilter{Cluster: clusterName})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	return ns
}

func (e *env) node(t *testing.T, id string) *store.Node {
	t.Helper()
	n, err := e.st.GetNode(context.Background(), id)
	if err != nil {
		t.Fatalf("get node %s: %v", id, err)
	}
	return n
}

func (e *env) get(t *testing.T, name string) api.Cluster {
	t.Helper()
	cl, err := e.svc.Get(context.Background(), ann, name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return cl
}

// instances lists every instance the provider has for the cluster.
func (e *env) instances(t *testing.T, clusterName string) []provider.Instance {
	t.Helper()
	insts, err := e.prov.Describe(context.Background(), testRegion, provider.Filter{Tags: map[string]string{provider.TagCluster: clusterName}})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	return insts
}

// liveByNode counts the live instances of each node.
func liveByNode(insts []provider.Instance) map[string]int {
	out := map[string]int{}
	for _, in := range insts {
		if cluster.Live(in) {
			out[in.Tags[provider.TagNode]]++
		}
	}
	return out
}

// register plays a node's agent registering with its derived token.
func (e *env) register(t *testing.T, n *store.Node) {
	t.Helper()
	tok := auth.AgentToken(testSecret, n.ID, n.Generation)
	_, err := e.svc.RegisterAgent(context.Background(), tok, api.RegisterRequest{InstanceID: n.InstanceID, Address: n.Address, Version: "test"})
	if err != nil {
		t.Fatalf("register node %s: %v", n.ID, err)
	}
}

// running creates a cluster and drives it to running.
func (e *env) running(t *testing.T, name, request string) []*store.Node {
	t.Helper()
	e.create(t, name, request)
	e.mustPass(t) // launch
	e.mustPass(t) // observe running
	for _, n := range e.nodes(t, name) {
		e.register(t, n)
	}
	e.mustPass(t)
	if got := e.get(t, name).State; got != "running" {
		t.Fatalf("cluster %s is %s, want running", name, got)
	}
	return e.nodes(t, name)
}

func (e *env) events(t *testing.T, clusterName string) []*store.Event {
	t.Helper()
	evs, err := e.st.ListEvents(context.Background(), store.EventFilter{Cluster: clusterName})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return evs
}

func hasEvent(evs []*store.Event, kind, node string) bool {
	for _, ev := range evs {
		if ev.Kind == kind && (node == "" || ev.Node == node) {
			return true
		}
	}
	return false
}

func TestController_CreateLaunchesEachNodeOnceAndRunsWhenAllRegistered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.prov.SetBootDelay(30 * time.Second)
	e.create(t, "lab", reqMixed)
	nodes := e.nodes(t, "lab")
	if len(nodes) != 3 {
		t.Fatalf("got %d node records, want 3 (head + 2 compute)", len(nodes))
	}

	e.mustPass(t)
	launches := e.prov.Launches()
	if len(launches) != 3 {
		t.Fatalf("first pass made %d launches, want 3", len(launches))
	}
	byNode := map[string]provider.LaunchSpec{}
	for _, l := range launches {
		byNode[l.Tags[provider.TagNode]] = l
	}
	for _, n := range nodes {
		l, ok := byNode[n.ID]
		if !ok {
			t.Errorf("node %s (%s) was not launched", n.ID, n.Role)
			continue
		}
		want := provider.LaunchSpec{
			Region:       testRegion,
			ClientToken:  auth.ClientToken(testInstallation, n.ID, 1),
			Type:         "t3.medium",
			RootVolumeGB: 16,
			Tags: map[string]string{
				provider.TagInstallation: testInstallation,
				provider.TagCluster:      "lab",
				provider.TagRole:         string(n.Role),
				provider.TagOwner:        "ann",
				provider.TagNode:         n.ID,
			},
			Agent: provider.AgentBootstrap{ServerURL: testAdvertise, Token: auth.AgentToken(testSecret, n.ID, 1)},
		}
		if n.Role == store.RoleCompute {
			want.Type, want.Spot, want.MaxPriceMicros = "r5.large", true, 50_000
		}
		if diff := cmp.Diff(want, l); diff != "" {
			t.Errorf("launch of %s node (-want +got):\n%s", n.Role, diff)
		}
	}
	if got := e.get(t, "lab"); got.State != "creating" || got.Nodes.Pending != 3 {
		t.Errorf("after launching: state %s, nodes %+v; want creating with 3 pending", got.State, got.Nodes)
	}

	e.clk.Advance(time.Minute) // boots finish
	e.mustPass(t)
	nodes = e.nodes(t, "lab")
	for _, n := range nodes {
		if n.InstanceID == "" || n.InstanceState != "running" {
			t.Errorf("node %s: instance %q in state %q, want a running instance", n.ID, n.InstanceID, n.InstanceState)
		}
	}
	// Registering one by one: running only once the last one is in.
	for i, n := range nodes {
		if got := e.get(t, "lab").State; got != "creating" {
			t.Fatalf("with %d of 3 agents registered the cluster is %s, want creating", i, got)
		}
		e.register(t, n)
		e.mustPass(t)
	}
	got := e.get(t, "lab")
	if got.State != "running" || got.Reason != "" {
		t.Errorf("with every agent registered: state %s (%q), want running", got.State, got.Reason)
	}
	var headAddr string
	for _, in := range e.instances(t, "lab") {
		if in.Tags[provider.TagRole] == "head" {
			headAddr = in.Address
		}
	}
	if headAddr == "" || got.LoginAddress != headAddr {
		t.Errorf("login address %q, want the head instance's address %q", got.LoginAddress, headAddr)
	}
	if diff := cmp.Diff(api.NodeCounts{Total: 3, Running: 3, Registered: 3}, got.Nodes); diff != "" {
		t.Errorf("node counts (-want +got):\n%s", diff)
	}
	if !hasEvent(e.events(t, "lab"), "cluster.running", "") {
		t.Errorf("no cluster.running event")
	}

	// More passes change nothing.
	e.mustPass(t)
	e.mustPass(t)
	if n := e.prov.Calls(fake.MethodLaunch); n != 3 {
		t.Errorf("Launch called %d times in all, want 3", n)
	}
	if diff := cmp.Diff(map[string]int{nodes[0].ID: 1, nodes[1].ID: 1, nodes[2].ID: 1}, liveByNode(e.instances(t, "lab"))); diff != "" {
		t.Errorf("live instances per node (-want +got):\n%s", diff)
	}
}

// hidingProvider hides every instance from Describe while hide > 0, as an
// eventually consistent cloud does right after a launch.
type hidingProvider struct {
	*fake.Provider
	mu   sync.Mutex
	hide int
}

func (p *hidingProvider) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	insts, err := p.Provider.Describe(ctx, region, f)
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hide > 0 {
		p.hide--
		return nil, err
	}
	return insts, err
}

func TestController_LostLaunchResponseMakesOneInstancePerNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// hidden is how many Describe calls miss the instance after the
		// lost launch.
		hidden int
		// wantLaunches is how many Launch calls the node gets in all.
		wantLaunches int
	}{
		{name: "found by its node tag", hidden: 0, wantLaunches: 1},
		{name: "not listed yet: launched again with the same token", hidden: 1, wantLaunches: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clk := clock.NewFake(start)
			prov := fake.New(fake.Options{Clock: clk})
			hp := &hidingProvider{Provider: prov}
			e := newEnvWith(t, clk, prov, hp)
			e.create(t, "lab", reqHeadOnly)
			prov.FailNextAfterEffect(fake.MethodLaunch, 1, errors.New("connection reset by peer"))
			if err := e.pass(t); err == nil {
				t.Fatal("the pass whose launch response was lost reported no error")
			}
			n := e.nodes(t, "lab")[0]
			if n.InstanceID != "" {
				t.Fatalf("node recorded instance %s although the launch's response was lost", n.InstanceID)
			}
			hp.mu.Lock()
			hp.hide = tc.hidden
			hp.mu.Unlock()
			for range 3 {
				e.mustPass(t)
			}

			insts := e.instances(t, "lab")
			if len(insts) != 1 {
				t.Fatalf("provider has %d instances, want 1: %+v", len(insts), insts)
			}
			launches := prov.Launches()
			if len(launches) != tc.wantLaunches {
				t.Fatalf("%d launches, want %d", len(launches), tc.wantLaunches)
			}
			for _, l := range launches {
				if want := auth.ClientToken(testInstallation, n.ID, 1); l.ClientToken != want {
					t.Errorf("launch with client token %q, want %q", l.ClientToken, want)
				}
			}
			n = e.node(t, n.ID)
			if n.InstanceID != insts[0].ID || n.Generation != 1 {
				t.Errorf("node has instance %q generation %d, want %q generation 1", n.InstanceID, n.Generation, insts[0].ID)
			}
			e.register(t, n)
			e.mustPass(t)
			got := e.get(t, "lab")
			if got.State != "running" {
				t.Errorf("cluster is %s (%s), want running", got.State, got.Reason)
			}
			if le := got.Instances[0].LastError; le != "" {
				t.Errorf("the instance is up but still shows the lost launch's error: %q", le)
			}
		})
	}
}

func TestController_CapacityErrorWaitsAndRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "lab", reqHeadOnly)
	e.prov.SetNoCapacity("t3.small", true)
	for i := 1; i <= 2; i++ {
		err := e.pass(t)
		if !provider.IsCapacity(err) {
			t.Fatalf("pass %d: err = %v, want a capacity error", i, err)
		}
		got := e.get(t, "lab")
		if got.State != "creating" || !strings.Contains(got.Reason, "capacity") {
			t.Errorf("pass %d: cluster is %s (%q), want creating with a reason about capacity", i, got.State, got.Reason)
		}
		if le := got.Instances[0].LastError; !strings.Contains(le, "capacity") {
			t.Errorf("pass %d: node's last error %q does not mention capacity", i, le)
		}
		if n := e.prov.Calls(fake.MethodLaunch); n != i {
			t.Errorf("after pass %d: %d launch attempts, want %d", i, n, i)
		}
	}
	if !hasEvent(e.events(t, "lab"), "node.launch_failed", "") {
		t.Error("no node.launch_failed event")
	}

	e.prov.SetNoCapacity("t3.small", false)
	e.mustPass(t)
	n := e.nodes(t, "lab")[0]
	if n.InstanceID == "" || n.LastError != "" {
		t.Errorf("once capacity is back: instance %q, last error %q; want an instance and no error", n.InstanceID, n.LastError)
	}
	if got := len(e.instances(t, "lab")); got != 1 {
		t.Errorf("%d instances, want 1", got)
	}
}

func TestController_InvalidLaunchFailsCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "lab", reqOneCompute)
	e.prov.FailNext(fake.MethodLaunch, 1, &provider.InvalidError{Field: "image", Reason: "image ami-123 is not offered here"})
	if err := e.pass(t); err == nil {
		t.Fatal("a pass with an invalid launch reported no error")
	}
	got := e.get(t, "lab")
	if got.State != "failed" || !strings.Contains(got.Reason, "image ami-123 is not offered here") {
		t.Errorf("cluster is %s (%q), want failed with the provider's reason", got.State, got.Reason)
	}
	calls := e.prov.Calls(fake.MethodLaunch)
	e.mustPass(t)
	e.mustPass(t)
	if n := e.prov.Calls(fake.MethodLaunch); n != calls {
		t.Errorf("a failed cluster is still launching: %d launch calls, was %d", n, calls)
	}
	if got := e.get(t, "lab").State; got != "failed" {
		t.Errorf("cluster is %s later, want it to stay failed", got)
	}
}

// checkNoLiveInstanceForgotten fails if a live instance of the cluster has
// no node record.
func (e *env) checkNoLiveInstanceForgotten(t *testing.T, clusterName string) {
	t.Helper()
	ids := map[string]bool{}
	for _, n := range e.nodes(t, clusterName) {
		ids[n.ID] = true
	}
	for _, in := range e.instances(t, clusterName) {
		if cluster.Live(in) && !ids[in.Tags[provider.TagNode]] {
			t.Errorf("instance %s (%s) is not terminated but its node record %s is gone", in.ID, in.State, in.Tags[provider.TagNode])
		}
	}
}

func TestController_DeleteForgetsNodesOnlyOnceTerminated(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nodes := e.running(t, "lab", reqOneCompute)
	if _, err := e.svc.Delete(context.Background(), ann, "lab"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if got := e.get(t, "lab").State; got != "deleting" {
		t.Fatalf("after Delete the cluster is %s, want deleting", got)
	}

	e.prov.FailNext(fake.MethodTerminate, 1, errors.New("throttled"))
	if err := e.pass(t); err == nil {
		t.Fatal("a pass whose terminate failed reported no error")
	}
	if got := len(e.nodes(t, "lab")); got != 2 {
		t.Fatalf("after a pass in which a terminate failed, %d node records are left, want 2", got)
	}
	e.checkNoLiveInstanceForgotten(t, "lab")

	for i := 0; i < 5 && len(e.nodes(t, "lab")) > 0; i++ {
		e.mustPass(t)
		e.checkNoLiveInstanceForgotten(t, "lab")
	}
	if got := len(e.nodes(t, "lab")); got != 0 {
		t.Fatalf("%d node records left after the instances are gone", got)
	}
	for _, in := range e.instances(t, "lab") {
		if in.State != provider.StateTerminated {
			t.Errorf("instance %s is %s, want terminated", in.ID, in.State)
		}
	}
	if got := len(e.instances(t, "lab")); got != len(nodes) {
		t.Errorf("%d instances listed, want %d (terminated)", got, len(nodes))
	}
	_, err := e.svc.Get(context.Background(), ann, "lab")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after deletion: err = %v, want not found", err)
	}
	if n := e.prov.Calls(fake.MethodTerminate); n != len(nodes)+1 {
		t.Errorf("Terminate called %d times, want %d (one per node plus the failed one)", n, len(nodes)+1)
	}
}

// hookProvider runs onDescribe (once) during the next Describe, after the
// controller has read the cluster and its nodes.
type hookProvider struct {
	*fake.Provider
	mu         sync.Mutex
	onDescribe func()
}

func (p *hookProvider) Describe(ctx context.Context, region string, f provider.Filter) ([]provider.Instance, error) {
	p.mu.Lock()
	fn := p.onDescribe
	p.onDescribe = nil
	p.mu.Unlock()
	if fn != nil {
		fn()
	}
	return p.Provider.Describe(ctx, region, f)
}

func TestController_DeleteDuringPassIsNotLost(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(start)
	prov := fake.New(fake.Options{Clock: clk})
	hp := &hookProvider{Provider: prov}
	e := newEnvWith(t, clk, prov, hp)
	e.create(t, "lab", reqHeadOnly)
	e.mustPass(t)
	e.mustPass(t)
	e.register(t, e.nodes(t, "lab")[0])
	// The next pass moves the cluster to running; the user deletes it
	// while that pass is under way.
	hp.mu.Lock()
	hp.onDescribe = func() {
		if _, err := e.svc.Delete(context.Background(), ann, "lab"); err != nil {
			t.Errorf("delete: %v", err)
		}
	}
	hp.mu.Unlock()
	for range 4 {
		e.mustPass(t)
	}
	cl, err := e.svc.Get(context.Background(), ann, "lab")
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cluster deleted during a pass is still there: %s with %d instances (err %v)", cl.State, len(cl.Instances), err)
	}
	if got := liveByNode(e.instances(t, "lab")); len(got) != 0 {
		t.Errorf("live instances left: %v", got)
	}
}

func TestController_RelaunchesHeadTerminatedBehindItsBack(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	nodes := e.running(t, "lab", reqOneCompute)
	var victim *store.Node
	for _, n := range nodes {
		if n.Role == store.RoleHead {
			victim = n
		}
	}
	if err := e.prov.Terminate(context.Background(), testRegion, victim.InstanceID); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	e.prov.ResetCalls()
	e.mustPass(t)

	launches := e.prov.Launches()
	if len(launches) != 1 {
		t.Fatalf("%d launches after the instance vanished, want 1", len(launches))
	}
	l := launches[0]
	if l.Tags[provider.TagNode] != victim.ID {
		t.Errorf("relaunched node %s, want %s", l.Tags[provider.TagNode], victim.ID)
	}
	if want := auth.ClientToken(testInstallation, victim.ID, 2); l.ClientToken != want || l.ClientToken == auth.ClientToken(testInstallation, victim.ID, 1) {
		t.Errorf("relaunch client token %q, want generation 2's %q", l.ClientToken, want)
	}
	if want := auth.AgentToken(testSecret, victim.ID, 2); l.Agent.Token != want {
		t.Errorf("relaunch agent token is not generation 2's")
	}
	n := e.node(t, victim.ID)
	if n.Generation != 2 {
		t.Errorf("generation %d, want 2", n.Generation)
	}
	if want := auth.Hash(auth.AgentToken(testSecret, victim.ID, 2)); n.TokenHash != want {
		t.Errorf("token hash is not generation 2's")
	}
	if n.InstanceID == "" || n.InstanceID == victim.InstanceID || !n.RegisteredAt.IsZero() {
		t.Errorf("node has instance %q (old %q), registered at %v; want a new, unregistered instance", n.InstanceID, victim.InstanceID, n.RegisteredAt)
	}
	if !hasEvent(e.events(t, "lab"), "node.replacing", victim.ID) {
		t.Error("no node.replacing event for the node")
	}
	got := e.get(t, "lab")
	if got.LoginAddress == "" || got.LoginAddress != n.Address {
		t.Errorf("login address %q, want the new head instance's %q", got.LoginAddress, n.Address)
	}
	if _, err := e.svc.HeadNode(context.Background(), ann, "lab"); !errors.Is(err, cluster.ErrNotReady) {
		t.Errorf("HeadNode before the new head registers: err = %v, want ErrNotReady", err)
	}
	// The old agent token no longer works; the new one does.
	_, err := e.svc.RegisterAgent(context.Background(), auth.AgentToken(testSecret, victim.ID, 1), api.RegisterRequest{})
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("registering with the old generation's token: err = %v, want not found", err)
	}
	e.register(t, n)

	e.mustPass(t)
	e.mustPass(t)
	if got := len(e.prov.Launches()); got != 1 {
		t.Errorf("%d launches after more passes, want still 1", got)
	}
	want := map[string]int{}
	for _, n := range nodes {
		want[n.ID] = 1
	}
	if diff := cmp.Diff(want, liveByNode(e.instances(t, "lab"))); diff != "" {
		t.Errorf("live instances per node (-want +got):\n%s", diff)
	}
}

func TestController_CreateTimeoutFailsCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ctrl.CreateTimeout = 10 * time.Minute
	e.create(t, "lab", reqHeadOnly)
	e.mustPass(t)
	e.clk.Advance(11 * time.Minute)
	e.mustPass(t)
	got := e.get(t, "lab")
	if got.State != "failed" || !strings.Contains(got.Reason, "0 of 1 nodes registered") {
		t.Errorf("cluster is %s (%q), want failed because no node registered", got.State, got.Reason)
	}
}

func TestService_CreateInvalidStoresNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, cluster, request string
		wantField              string
	}{
		{name: "bad name", cluster: "-lab", request: reqHeadOnly, wantField: "name"},
		{name: "empty name", cluster: "", request: reqHeadOnly, wantField: "name"},
		{name: "unknown head type", cluster: "lab", request: "head: {type: t3.smal}\n", wantField: "head.type"},
		{name: "region the provider lacks", cluster: "lab", request: "region: mars-1\n", wantField: "region"},
		{name: "volume too small", cluster: "lab", request: "compute: {volume_gb: 7}\n", wantField: "compute.volume_gb"},
		{name: "not a spec", cluster: "lab", request: "[1, 2]\n", wantField: ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			ctx := context.Background()
			_, err := e.svc.Create(ctx, ann, api.CreateClusterRequest{Name: tc.cluster, Request: tc.request})
			var se spec.Errors
			if !errors.As(err, &se) {
				t.Fatalf("err = %v (%T), want spec.Errors", err, err)
			}
			if tc.wantField != "" {
				var fields []string
				for _, f := range se {
					fields = append(fields, f.Field)
				}
				if !contains(fields, tc.wantField) {
					t.Errorf("errors name fields %q, want %q among them", fields, tc.wantField)
				}
			}
			cls, err := e.st.ListClusters(ctx)
			if err != nil || len(cls) != 0 {
				t.Errorf("clusters stored: %d (err %v), want none", len(cls), err)
			}
			if ns := e.nodes(t, ""); len(ns) != 0 {
				t.Errorf("%d nodes stored, want none", len(ns))
			}
			if evs := e.events(t, ""); len(evs) != 0 {
				t.Errorf("%d events stored, want none", len(evs))
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestService_CreateDuplicateNameConflicts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.create(t, "lab", reqOneCompute)
	before := len(e.nodes(t, ""))
	_, err := e.svc.Create(context.Background(), bob, api.CreateClusterRequest{Name: "lab", Request: reqMixed})
	if !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: err = %v, want store.ErrConflict", err)
	}
	if after := len(e.nodes(t, "")); after != before {
		t.Errorf("the failed create stored nodes: %d, was %d", after, before)
	}
	if got := e.get(t, "lab"); got.Owner != "ann" {
		t.Errorf("owner is %s, want ann (the first creator)", got.Owner)
	}
}

func TestService_OthersCannotSeeACluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "lab", reqHeadOnly)
	e.mustPass(t)
	e.register(t, e.nodes(t, "lab")[0])

	if _, err := e.svc.Get(ctx, bob, "lab"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get by bob: err = %v, want not found", err)
	}
	if _, err := e.svc.HeadNode(ctx, bob, "lab"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("HeadNode by bob: err = %v, want not found", err)
	}
	if _, err := e.svc.Delete(ctx, bob, "lab"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Delete by bob: err = %v, want not found", err)
	}
	if got := e.get(t, "lab").State; got != "creating" {
		t.Errorf("after bob's delete the cluster is %s, want creating", got)
	}
	for _, n := range e.nodes(t, "lab") {
		if n.Terminate {
			t.Errorf("bob's delete marked node %s for termination", n.ID)
		}
	}
	names := func(c cluster.Caller) []string {
		cls, err := e.svc.List(ctx, c)
		if err != nil {
			t.Fatalf("list: %v", err)
		}
		out := []string{}
		for _, cl := range cls {
			out = append(out, cl.Name)
		}
		return out
	}
	if got := names(bob); len(got) != 0 {
		t.Errorf("bob lists %v, want nothing", got)
	}
	if got := names(ann); !cmp.Equal(got, []string{"lab"}) {
		t.Errorf("ann lists %v, want [lab]", got)
	}
	if got := names(admin); !cmp.Equal(got, []string{"lab"}) {
		t.Errorf("admin lists %v, want [lab]", got)
	}
	if _, err := e.svc.Get(ctx, admin, "lab"); err != nil {
		t.Errorf("Get by admin: %v", err)
	}
	if _, err := e.svc.HeadNode(ctx, ann, "lab"); err != nil {
		t.Errorf("HeadNode by ann: %v", err)
	}
}

func TestService_HeadNodeNotReadyUntilRegistered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "lab", reqHeadOnly)
	e.mustPass(t)
	if _, err := e.svc.HeadNode(ctx, ann, "lab"); !errors.Is(err, cluster.ErrNotReady) {
		t.Errorf("HeadNode before registration: err = %v, want ErrNotReady", err)
	}
	head := e.nodes(t, "lab")[0]
	e.register(t, head)
	n, err := e.svc.HeadNode(ctx, ann, "lab")
	if err != nil || n.ID != head.ID {
		t.Errorf("HeadNode after registration = %v, %v; want node %s", n, err, head.ID)
	}
}

func TestService_HeartbeatNeedsRegistration(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	e.create(t, "lab", reqHeadOnly)
	n := e.nodes(t, "lab")[0]
	tok := auth.AgentToken(testSecret, n.ID, 1)
	if err := e.svc.Heartbeat(ctx, tok); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("heartbeat before registering: err = %v, want not found", err)
	}
	if err := e.svc.Heartbeat(ctx, "sta_unknown"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("heartbeat with an unknown token: err = %v, want not found", err)
	}
	e.register(t, n)
	e.clk.Advance(time.Minute)
	if err := e.svc.Heartbeat(ctx, tok); err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if got := e.node(t, n.ID).LastHeartbeat; !got.Equal(e.clk.Now()) {
		t.Errorf("last heartbeat %v, want %v", got, e.clk.Now())
	}
}

func TestNodeHealth(t *testing.T) {
	t.Parallel()
	now := start.Add(time.Hour)
	const timeout = 30 * time.Second
	tests := []struct {
		name          string
		registered    bool
		heartbeatAgo  time.Duration
		timeout       time.Duration
		want          string
		noHeartbeatOK bool
		state         string
	}{
		{name: "never registered", want: cluster.HealthUnregistered, timeout: timeout},
		{name: "fresh heartbeat", registered: true, heartbeatAgo: 5 * time.Second, timeout: timeout, want: cluster.HealthRegistered},
		{name: "heartbeat exactly timeout ago", registered: true, heartbeatAgo: timeout, timeout: timeout, want: cluster.HealthRegistered},
		{name: "heartbeat just past timeout", registered: true, heartbeatAgo: timeout + time.Millisecond, timeout: timeout, want: cluster.HealthUnhealthy},
		{name: "heartbeat long ago", registered: true, heartbeatAgo: time.Hour, timeout: timeout, want: cluster.HealthUnhealthy},
		{name: "no timeout configured", registered: true, heartbeatAgo: time.Hour, timeout: 0, want: cluster.HealthRegistered},
		{name: "stopping", registered: true, heartbeatAgo: 5 * time.Second, timeout: timeout, state: "stopping", want: cluster.HealthStopped},
		{name: "stopped long ago", registered: true, heartbeatAgo: time.Hour, timeout: timeout, state: "stopped", want: cluster.HealthStopped},
		{name: "running, silent", registered: true, heartbeatAgo: time.Hour, timeout: timeout, state: "running", want: cluster.HealthUnhealthy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := &store.Node{ID: "n-1", InstanceState: tc.state}
			if tc.registered {
				n.RegisteredAt = now.Add(-2 * time.Hour)
				n.LastHeartbeat = now.Add(-tc.heartbeatAgo)
			}
			if got := cluster.NodeHealth(n, now, tc.timeout); got != tc.want {
				t.Errorf("NodeHealth = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestService_ViewCountsAndCostsMixedCluster(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	// A head and five spot compute nodes.
	e.create(t, "lab", "compute: {types: [r5.large], initial_nodes: 5, max_nodes: 5, spot_price: \"0.05\"}\n")
	nodes := e.nodes(t, "lab")
	sort.SliceStable(nodes, func(i, j int) bool { return nodes[i].Role == store.RoleHead && nodes[j].Role != store.RoleHead })
	if len(nodes) != 6 || nodes[0].Role != store.RoleHead {
		t.Fatalf("want a head and 5 compute nodes, got %d nodes", len(nodes))
	}
	now := e.clk.Now()
	fresh, stale := now.Add(-10*time.Second), now.Add(-2*time.Minute)
	type obs struct {
		state     string
		price     int64
		heartbeat time.Time // zero: never registered
	}
	set := []obs{
		{"running", 20_800, fresh},          // head: t3.small on demand, healthy
		{"running", 37_800, stale},          // registered but heartbeats stopped
		{"running", 37_800, time.Time{}},    // up, agent not registered yet
		{"pending", 37_800, time.Time{}},    // booting: billed
		{"", 0, time.Time{}},                // not launched yet
		{"terminated", 37_800, time.Time{}}, // gone: not billed
	}
	for i, o := range set {
		n := nodes[i]
		n.InstanceState, n.PriceMicros = o.state, o.price
		if o.state != "" {
			n.InstanceID, n.Address = fmt.Sprintf("i-%d", i), fmt.Sprintf("10.0.0.%d", i+1)
		}
		if !o.heartbeat.IsZero() {
			n.RegisteredAt, n.LastHeartbeat = o.heartbeat.Add(-time.Minute), o.heartbeat
		}
		if err := e.st.UpdateNode(ctx, n); err != nil {
			t.Fatalf("update node: %v", err)
		}
	}
	got := e.get(t, "lab")
	if diff := cmp.Diff(api.NodeCounts{Total: 6, Pending: 2, Running: 3, Registered: 2, Unhealthy: 1}, got.Nodes); diff != "" {
		t.Errorf("node counts (-want +got):\n%s", diff)
	}
	// 0.0208 + 3 × 0.0378 (two running, one pending) = 0.134200
	if got.HourlyCost != "0.1342" {
		t.Errorf("hourly cost %q, want \"0.1342\"", got.HourlyCost)
	}
	wantInst := []struct{ state, health, cost string }{
		{"running", cluster.HealthRegistered, "0.0208"},
		{"running", cluster.HealthUnhealthy, "0.0378"},
		{"running", cluster.HealthUnregistered, "0.0378"},
		{"pending", cluster.HealthUnregistered, "0.0378"},
		{"launching", cluster.HealthUnregistered, "0.00"},
		{"terminated", cluster.HealthUnregistered, "0.00"},
	}
	byNode := map[string]api.Instance{}
	for _, in := range got.Instances {
		byNode[in.Node] = in
	}
	for i, w := range wantInst {
		in := byNode[nodes[i].ID]
		if in.State != w.state || in.Health != w.health || in.HourlyCost != w.cost {
			t.Errorf("node %d: state %s health %s cost %s; want %s %s %s", i, in.State, in.Health, in.HourlyCost, w.state, w.health, w.cost)
		}
	}
	if got.LoginAddress != "10.0.0.1" {
		t.Errorf("login address %q, want the head's 10.0.0.1", got.LoginAddress)
	}
	// The list shows the same counts and cost.
	cls, err := e.svc.List(ctx, ann)
	if err != nil || len(cls) != 1 {
		t.Fatalf("list: %v, %d clusters", err, len(cls))
	}
	if cls[0].HourlyCost != got.HourlyCost || cls[0].Nodes != got.Nodes {
		t.Errorf("list shows %s %+v, show %s %+v", cls[0].HourlyCost, cls[0].Nodes, got.HourlyCost, got.Nodes)
	}
}

func TestService_RecreatedNameShowsOnlyItsOwnCostAndEvents(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.ctrl.Usage = &cluster.UsageRecorder{Store: e.st, Clock: e.clk}
	reporter := &cost.Reporter{Store: e.st, Billing: cost.PerSecond, Catalog: cost.DefaultCatalog()}
	e.svc.CostSoFar = reporter.SoFar

	e.running(t, "lab", reqHeadOnly)
	e.clk.Advance(time.Hour)
	e.mustPass(t)
	first := e.get(t, "lab").CostSoFar
	if first == "0" || first == "0.000000" {
		t.Fatalf("the first cluster cost %s after an hour, want more than nothing", first)
	}
	if _, err := e.svc.Delete(context.Background(), ann, "lab"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	for i := 0; i < 5; i++ {
		e.mustPass(t)
	}
	if _, err := e.svc.Get(context.Background(), ann, "lab"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after deletion: err = %v, want not found", err)
	}

	e.clk.Advance(time.Minute)
	cl := e.create(t, "lab", reqHeadOnly)
	got := e.get(t, "lab")
	if got.CostSoFar != cost.Micros(0).String() {
		t.Errorf("the new cluster %q shows cost so far %s before any instance ran, want %s (the old one cost %s)",
			got.Name, got.CostSoFar, cost.Micros(0), first)
	}
	for _, ev := range got.Events {
		if ev.Time.Before(cl.CreatedAt) {
			t.Errorf("the new cluster shows event %s %q of %s, from before it was created at %s", ev.Kind, ev.Message, ev.Time, cl.CreatedAt)
		}
	}
	if len(got.Events) == 0 {
		t.Error("the new cluster shows no events, want at least its creation")
	}
}

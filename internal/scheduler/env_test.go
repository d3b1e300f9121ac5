package scheduler_test

// The test control plane: the real cluster.Service, cluster.Controller,
// scheduler.Service and scheduler.Controller, wired as internal/server
// wires them, over a SQLite store and a fake clock, with a provider the
// test picks (the fake provider, or the aws provider over ec2fake). Agents
// are simulated: once the provider runs an instance, its agent registers,
// and tests play the job ranks it is given.

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/fake"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

const (
	// envStep is how far the clock moves before each pass of converge.
	envStep = 5 * time.Second
	// envMaxPasses bounds converge.
	envMaxPasses = 40

	fakeRegion = "fake-1"
	fakeSecret = "fake-agent-secret"
)

var (
	ann      = cluster.Caller{User: "ann"}
	envStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
)

// env is a control plane without HTTP.
type env struct {
	clk      *clock.Fake
	st       *sqlite.Store
	clusters *cluster.Service
	ctrl     *cluster.Controller
	jobs     *scheduler.Service
	sched    *scheduler.Controller
	capacity *scheduler.Capacity
	// agents registers the agent of every node whose instance runs.
	agents func(t *testing.T)
}

// newEnv wires a control plane over prov in region, on clk.
func newEnv(t *testing.T, clk *clock.Fake, prov provider.Provider, region, secret string) *env {
	t.Helper()
	st := sqlitetest.Open(t)
	return newEnvOn(t, clk, prov, st, region, secret)
}

// newEnvOn wires a control plane over prov and an existing store, as a
// control plane restarted on the same database would be.
func newEnvOn(t *testing.T, clk *clock.Fake, prov provider.Provider, st *sqlite.Store, region, secret string) *env {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	hub := dispatch.NewHub()
	capacity := &scheduler.Capacity{Clock: clk}
	jobs := &scheduler.Service{Store: st, Clock: clk, Logger: log, Hub: hub}
	sched := &scheduler.Controller{
		Store: st, Clock: clk, Logger: log, Hub: hub, Jobs: jobs, Billing: prov.Billing(),
		Capacity: capacity, AgentSecret: secret,
	}
	return &env{
		clk: clk, st: st, jobs: jobs, sched: sched, capacity: capacity,
		clusters: &cluster.Service{
			Store: st, Catalog: cost.DefaultCatalog(), Template: spec.DefaultTemplate(),
			DefaultRegion: region, Regions: []string{region},
			Clock: clk, Logger: log, AgentSecret: secret, HeartbeatTimeout: 30 * time.Second,
			FleetStatus: sched.FleetStatus,
		},
		ctrl: &cluster.Controller{
			Store: st, Provider: prov, Clock: clk, Logger: log, Installation: "inst-test",
			AgentSecret: secret, AdvertiseURL: "https://stratus.example:7070", CreateTimeout: 15 * time.Minute,
			OnCapacity: capacity.Report, Usage: &cluster.UsageRecorder{Store: st, Clock: clk},
		},
	}
}

// fakeEnv is the test control plane over the fake provider.
type fakeEnv struct {
	*env
	prov *fake.Provider
}

func newFakeEnv(t *testing.T) *fakeEnv {
	t.Helper()
	clk := clock.NewFake(envStart)
	prov := fake.New(fake.Options{Clock: clk, Regions: []string{fakeRegion}, BootDelay: 10 * time.Second})
	e := &fakeEnv{env: newEnv(t, clk, prov, fakeRegion, fakeSecret), prov: prov}
	e.agents = e.registerAgents
	return e
}

// restart returns a new control plane on the same store, provider and
// clock: what is in memory is lost.
func (e *fakeEnv) restart(t *testing.T) *fakeEnv {
	t.Helper()
	r := &fakeEnv{env: newEnvOn(t, e.clk, e.prov, e.st, fakeRegion, fakeSecret), prov: e.prov}
	r.agents = r.registerAgents
	return r
}

// registerAgents registers, with its derived token, the agent of every
// node whose instance the fake provider runs.
func (e *fakeEnv) registerAgents(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	nodes, err := e.st.ListNodes(ctx, store.NodeFilter{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	insts, err := e.prov.Describe(ctx, fakeRegion, provider.Filter{})
	if err != nil {
		t.Fatalf("describe: %v", err)
	}
	running := map[string]bool{}
	for _, in := range insts {
		if in.State == provider.StateRunning {
			running[in.ID] = true
		}
	}
	for _, n := range nodes {
		if n.InstanceID == "" || !n.RegisteredAt.IsZero() || !running[n.InstanceID] {
			continue
		}
		tok := auth.AgentToken(fakeSecret, n.ID, n.Generation)
		if _, err := e.clusters.RegisterAgent(ctx, tok, api.RegisterRequest{InstanceID: n.InstanceID, Address: n.Address, Version: "test"}); err != nil {
			t.Fatalf("agent of node %s cannot register: %v", n.ID, err)
		}
	}
}

// pass moves the clock by step and runs the scheduler, the cluster
// controller and the agents' registrations once.
func (e *env) pass(t *testing.T, step time.Duration) []error {
	t.Helper()
	ctx := context.Background()
	var errs []error
	e.clk.Advance(step)
	if _, err := e.sched.Reconcile(ctx); err != nil {
		errs = append(errs, err)
	}
	if _, err := e.ctrl.Reconcile(ctx); err != nil {
		errs = append(errs, err)
	}
	e.agents(t)
	return errs
}

// converge makes passes a step apart until done holds; it fails the test
// after envMaxPasses.
func (e *env) converge(t *testing.T, what string, done func() bool) {
	t.Helper()
	var errs []error
	for range envMaxPasses {
		errs = append(errs, e.pass(t, envStep)...)
		if done() {
			return
		}
	}
	t.Fatalf("%s: not done after %d passes; last errors: %v", what, envMaxPasses, errs[max(len(errs)-3, 0):])
}

// create asks for a cluster and drives it to running.
func (e *env) create(t *testing.T, name, request string) {
	t.Helper()
	ctx := context.Background()
	if _, err := e.clusters.Create(ctx, ann, api.CreateClusterRequest{Name: name, Request: request}); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	e.converge(t, "cluster "+name+" running", func() bool {
		cl, err := e.st.GetCluster(ctx, name)
		return err == nil && cl.State == store.ClusterRunning
	})
}

func (e *env) job(t *testing.T, id int64) *store.Job {
	t.Helper()
	j, err := e.st.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("get job %d: %v", id, err)
	}
	return j
}

func (e *env) node(t *testing.T, id string) *store.Node {
	t.Helper()
	n, err := e.st.GetNode(context.Background(), id)
	if err != nil {
		t.Fatalf("get node %s: %v", id, err)
	}
	return n
}

// computeNodes returns the cluster's compute nodes not being removed.
func (e *env) computeNodes(t *testing.T, cl string) []*store.Node {
	t.Helper()
	ns, err := e.st.ListNodes(context.Background(), store.NodeFilter{Cluster: cl, Role: store.RoleCompute})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var out []*store.Node
	for _, n := range ns {
		if !n.Terminate {
			out = append(out, n)
		}
	}
	return out
}

// startRanks plays the agents of a running job asking for work: each
// rank's node is given its rank.
func (e *env) startRanks(t *testing.T, id int64) []api.JobAssignment {
	t.Helper()
	j := e.job(t, id)
	var out []api.JobAssignment
	for rank, nid := range j.Assigned {
		start, _, err := e.jobs.Work(context.Background(), e.node(t, nid), nil)
		if err != nil || len(start) != 1 || start[0].Job != id || start[0].Rank != rank {
			t.Fatalf("node %s asks for work: %+v, %v; want rank %d of job %d", nid, start, err, rank, id)
		}
		out = append(out, start[0])
	}
	return out
}

// runJob plays the agents of a running job: each rank's node asks for
// work, is given the rank, and reports it exited 0.
func (e *env) runJob(t *testing.T, id int64) {
	t.Helper()
	ctx := context.Background()
	j := e.job(t, id)
	for i, a := range e.startRanks(t, id) {
		if err := e.jobs.AgentExit(ctx, e.node(t, j.Assigned[i]), api.JobExit{JobRef: a.JobRef}); err != nil {
			t.Fatalf("rank %d exits: %v", a.Rank, err)
		}
	}
	if j := e.job(t, id); j.State != store.JobSucceeded {
		t.Fatalf("job %d is %s (%s), want succeeded", id, j.State, j.Reason)
	}
}

func (e *env) submit(t *testing.T, cl string, nodes int) int64 {
	t.Helper()
	return e.submitReq(t, cl, api.SubmitJobRequest{Argv: []string{"hostname"}, Nodes: nodes})
}

func (e *env) submitReq(t *testing.T, cl string, req api.SubmitJobRequest) int64 {
	t.Helper()
	j, err := e.jobs.Submit(context.Background(), ann, cl, req)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	return j.ID
}

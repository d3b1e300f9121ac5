package cluster_test

// End-to-end cluster tests over the aws provider: the real cluster.Service
// and cluster.Controller, a SQLite store, a fake clock, and the aws
// provider talking to ec2fake (the programmable fake of exactly the EC2
// calls the provider makes), wired as internal/server does. Agents are
// simulated: once the fake shows an instance running, its agent registers
// with the token its user-data carries.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cluster/clustertest"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
	"github.com/stratus-cloud/stratus/internal/store/sqlite"
	"github.com/stratus-cloud/stratus/internal/store/sqlite/sqlitetest"
)

const (
	awsRegion       = "us-east-1"
	awsRegion2      = "eu-west-1"
	awsImage        = "ami-0123456789abcdef0"
	awsInstallation = "inst-aws"
	awsSecret       = "aws-agent-secret"
	awsAdvertise    = "https://stratus.example:7070"
	// awsStep is how far the clock moves before each controller pass.
	awsStep = 5 * time.Second
	// awsMaxPasses bounds every convergence loop.
	awsMaxPasses = 40
)

var (
	awsStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	awsAnn   = cluster.Caller{User: "ann"}
)

// cfCreateExample is /work/shared/examples/cf-create.json, the users'
// cf-create example, as they send it.
const cfCreateExample = `{
    "ComputeInstanceType": "other",
    "ComputeSpotPrice": "0.03",
    "ComputeInstanceTypeOther": "r4.large-2C-15.25GB",
    "MasterSystemVolumeSize": "16",
    "MasterInstanceType": "other",
    "ComputeMaxNodes": "25",
    "MasterInstanceTypeOther": "r4.large-2C-15.25GB",
    "ComputeInitialNodes": "0",
    "AutoscalingPolicy": "enabled"
}
`

// awsUserData renders user-data that carries the agent's bootstrap, so the
// simulated agent of an instance registers with the token its instance
// was launched with.
func awsUserData(b provider.AgentBootstrap) ([]byte, error) {
	return []byte("#!/bin/sh\n# server=" + b.ServerURL + "\n# token=" + b.Token + "\n"), nil
}

// faultyEC2 sits between the provider and the fake: it fails chosen calls
// before they reach EC2 (throttling), or lets them reach EC2 and then loses
// the response (a connection reset after EC2 acted).
type faultyEC2 struct {
	// EC2API passes through the calls the wrapper does not intercept.
	aws.EC2API
	next aws.EC2API

	mu     sync.Mutex
	before map[string][]error // action → errors returned instead of calling EC2
	after  map[string][]error // action → errors returned after EC2 carried out the call
	// lost lists the instance ids of RunInstances responses that were lost.
	lost []string
}

var _ aws.EC2API = (*faultyEC2)(nil)

func newFaultyEC2(next aws.EC2API) *faultyEC2 {
	return &faultyEC2{EC2API: next, next: next, before: map[string][]error{}, after: map[string][]error{}}
}

// failBefore makes the next len(errs) calls of action fail with errs
// without reaching EC2.
func (f *faultyEC2) failBefore(action string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.before[action] = append(f.before[action], errs...)
}

// loseAfter makes the next len(errs) calls of action reach EC2 and then
// fail with errs: EC2 did the work, the caller never hears of it.
func (f *faultyEC2) loseAfter(action string, errs ...error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.after[action] = append(f.after[action], errs...)
}

func (f *faultyEC2) take(m map[string][]error, action string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	errs := m[action]
	if len(errs) == 0 {
		return nil
	}
	m[action] = errs[1:]
	return errs[0]
}

func (f *faultyEC2) lostIDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.lost)
}

func (f *faultyEC2) RunInstances(ctx context.Context, in *ec2.RunInstancesInput, o ...func(*ec2.Options)) (*ec2.RunInstancesOutput, error) {
	if err := f.take(f.before, ec2fake.ActionRunInstances); err != nil {
		return nil, err
	}
	out, err := f.next.RunInstances(ctx, in, o...)
	if err == nil {
		if lost := f.take(f.after, ec2fake.ActionRunInstances); lost != nil {
			f.mu.Lock()
			for _, inst := range out.Instances {
				f.lost = append(f.lost, awssdk.ToString(inst.InstanceId))
			}
			f.mu.Unlock()
			return nil, lost
		}
	}
	return out, err
}

func (f *faultyEC2) DescribeInstances(ctx context.Context, in *ec2.DescribeInstancesInput, o ...func(*ec2.Options)) (*ec2.DescribeInstancesOutput, error) {
	if err := f.take(f.before, ec2fake.ActionDescribeInstances); err != nil {
		return nil, err
	}
	return f.next.DescribeInstances(ctx, in, o...)
}

func (f *faultyEC2) StartInstances(ctx context.Context, in *ec2.StartInstancesInput, o ...func(*ec2.Options)) (*ec2.StartInstancesOutput, error) {
	if err := f.take(f.before, ec2fake.ActionStartInstances); err != nil {
		return nil, err
	}
	return f.next.StartInstances(ctx, in, o...)
}

func (f *faultyEC2) StopInstances(ctx context.Context, in *ec2.StopInstancesInput, o ...func(*ec2.Options)) (*ec2.StopInstancesOutput, error) {
	if err := f.take(f.before, ec2fake.ActionStopInstances); err != nil {
		return nil, err
	}
	return f.next.StopInstances(ctx, in, o...)
}

func (f *faultyEC2) TerminateInstances(ctx context.Context, in *ec2.TerminateInstancesInput, o ...func(*ec2.Options)) (*ec2.TerminateInstancesOutput, error) {
	if err := f.take(f.before, ec2fake.ActionTerminateInstances); err != nil {
		return nil, err
	}
	out, err := f.next.TerminateInstances(ctx, in, o...)
	if err == nil {
		if lost := f.take(f.after, ec2fake.ActionTerminateInstances); lost != nil {
			return nil, lost
		}
	}
	return out, err
}

// throttled is EC2's throttling error as the SDK presents it.
func throttled() error {
	return ec2fake.APIError("RequestLimitExceeded", "Request limit exceeded.")
}

// errConnReset is a response lost on the way back.
var errConnReset = errors.New("read tcp 10.1.2.3:50412->52.46.1.1:443: read: connection reset by peer")

// awsEnv is a control plane without HTTP over the aws provider and ec2fake.
type awsEnv struct {
	clk   *clock.Fake
	ec2   *ec2fake.Fake
	api   *faultyEC2 // nil when the provider uses the SDK's client
	prov  *aws.Provider
	st    *sqlite.Store
	svc   *cluster.Service
	ctrl  *cluster.Controller
	usage *cluster.UsageRecorder

	provOpts aws.Options
	// registered lists the instances whose simulated agent has registered.
	registered map[string]bool
}

// restart replaces the provider with a new one over the same EC2, as a
// restart of the control plane does: its memory of recent launches is lost.
func (e *awsEnv) restart(t *testing.T) {
	t.Helper()
	prov, err := aws.New(context.Background(), e.provOpts)
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	e.prov, e.ctrl.Provider = prov, prov
}

type awsEnvOptions struct {
	fake ec2fake.Options
	// sdk makes the provider use its default client (a real *ec2.Client
	// with the adaptive retryer) answered by the fake below the retryer,
	// instead of the fake's client through faultyEC2.
	sdk         bool
	maxAttempts int
}

func newAWSEnv(t *testing.T, o awsEnvOptions) *awsEnv {
	t.Helper()
	clk := clock.NewFake(awsStart)
	o.fake.Clock = clk
	o.fake.Images = []string{awsImage}
	fake := ec2fake.New(o.fake)
	e := &awsEnv{clk: clk, ec2: fake, registered: map[string]bool{}}
	po := aws.Options{
		Regions: []aws.RegionConfig{
			{Name: awsRegion, SubnetID: "subnet-0aaa", SecurityGroupIDs: []string{"sg-0aaa"}, InstanceProfile: "stratus-node", ImageID: awsImage},
			{Name: awsRegion2, ImageID: awsImage},
		},
		Clock: clk, UserData: awsUserData,
		ConsistencyRetryDelay: time.Millisecond,
	}
	if o.sdk {
		po.MaxAttempts = o.maxAttempts
		po.MaxBackoff = time.Millisecond
		po.ClientOptions = []func(*ec2.Options){
			func(eo *ec2.Options) {
				eo.Credentials = credentials.NewStaticCredentialsProvider("AKIDSTRATUSTEST", "secret", "")
			},
			fake.ClientOptions(),
		}
	} else {
		po.NewClient = func(region string) aws.EC2API {
			api := newFaultyEC2(fake.Client(region))
			if region == awsRegion {
				e.api = api
			}
			return api
		}
	}
	e.provOpts = po
	prov, err := aws.New(context.Background(), po)
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	e.prov = prov
	regions, err := prov.Regions(context.Background())
	if err != nil {
		t.Fatalf("regions: %v", err)
	}
	st := sqlitetest.Open(t)
	e.st = st
	log := slog.New(slog.DiscardHandler)
	e.svc = &cluster.Service{
		Store: st, Catalog: cost.DefaultCatalog(), Template: spec.DefaultTemplate(),
		DefaultRegion: regions[0], Regions: regions,
		Clock: clk, Logger: log, AgentSecret: awsSecret, HeartbeatTimeout: 30 * time.Second,
	}
	e.usage = &cluster.UsageRecorder{Store: st, Clock: clk}
	// As internal/server wires it.
	e.ctrl = &cluster.Controller{
		Store: st, Provider: prov, Clock: clk, Logger: log, Installation: awsInstallation,
		AgentSecret: awsSecret, AdvertiseURL: awsAdvertise, CreateTimeout: 15 * time.Minute,
		Usage: e.usage,
	}
	return e
}

func (e *awsEnv) create(t *testing.T, name, filename, request string) {
	t.Helper()
	_, err := e.svc.Create(context.Background(), awsAnn, api.CreateClusterRequest{Name: name, Filename: filename, Request: request})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// pass moves the clock a step and runs one controller pass.
func (e *awsEnv) pass() error {
	e.clk.Advance(awsStep)
	_, err := e.ctrl.Reconcile(context.Background())
	return err
}

func (e *awsEnv) mustPass(t *testing.T) {
	t.Helper()
	if err := e.pass(); err != nil {
		t.Fatalf("reconcile: %v", err)
	}
}

// converge runs passes, each followed by the agents' registrations, until
// done holds; it fails the test after awsMaxPasses. It returns the passes'
// errors.
func (e *awsEnv) converge(t *testing.T, what string, done func() bool) []error {
	t.Helper()
	var errs []error
	for range awsMaxPasses {
		if err := e.pass(); err != nil {
			errs = append(errs, err)
		}
		e.agents(t)
		if done() {
			return errs
		}
	}
	t.Fatalf("%s: not done after %d passes; last errors: %v", what, awsMaxPasses, errs[max(len(errs)-3, 0):])
	return nil
}

// agents plays the agents of the cluster's nodes: an agent registers once
// EC2 runs its instance.
func (e *awsEnv) agents(t *testing.T) {
	t.Helper()
	clustertest.RegisterEC2Agents(t, e.st, e.svc, e.ec2, e.registered)
}

func (e *awsEnv) state(t *testing.T, name string) string {
	t.Helper()
	cl, err := e.st.GetCluster(context.Background(), name)
	if errors.Is(err, store.ErrNotFound) {
		return "gone"
	}
	if err != nil {
		t.Fatalf("get cluster %s: %v", name, err)
	}
	return string(cl.State)
}

func (e *awsEnv) running(name string) func() bool {
	return func() bool {
		cl, err := e.st.GetCluster(context.Background(), name)
		return err == nil && cl.State == store.ClusterRunning
	}
}

func (e *awsEnv) get(t *testing.T, name string) api.Cluster {
	t.Helper()
	cl, err := e.svc.Get(context.Background(), awsAnn, name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return cl
}

func (e *awsEnv) nodes(t *testing.T, name string) []*store.Node {
	t.Helper()
	ns, err := e.st.ListNodes(context.Background(), store.NodeFilter{Cluster: name})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	return ns
}

// instanceIDs returns every instance EC2 ever started, from the
// successful RunInstances calls and the lost responses.
func (e *awsEnv) instanceIDs(t *testing.T) []string {
	t.Helper()
	seen := map[string]bool{}
	var ids []string
	add := func(id string) {
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	// Read without consuming the fake's eventual consistency: the nodes'
	// instances, and those of lost responses.
	nodes, err := e.st.ListNodes(context.Background(), store.NodeFilter{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	for _, n := range nodes {
		if n.InstanceID != "" {
			add(n.InstanceID)
		}
	}
	if e.api != nil {
		for _, id := range e.api.lostIDs() {
			add(id)
		}
	}
	return ids
}

// ec2Instances lists every instance of the fake in awsRegion as EC2 shows
// it. It consumes the fake's eventual consistency: use it once new
// instances are visible (or the fake hides none).
func (e *awsEnv) ec2Instances(t *testing.T) []types.Instance {
	t.Helper()
	out, err := e.ec2.Client(awsRegion).DescribeInstances(context.Background(), &ec2.DescribeInstancesInput{})
	if err != nil {
		t.Fatalf("DescribeInstances on the fake: %v", err)
	}
	var insts []types.Instance
	for _, r := range out.Reservations {
		insts = append(insts, r.Instances...)
	}
	return insts
}

func tagMap(tags []types.Tag) map[string]string {
	m := map[string]string{}
	for _, tg := range tags {
		m[awssdk.ToString(tg.Key)] = awssdk.ToString(tg.Value)
	}
	return m
}

// liveEC2ByNode counts the instances EC2 has not terminated, per node tag.
func liveEC2ByNode(insts []types.Instance) map[string]int {
	out := map[string]int{}
	for _, in := range insts {
		if in.State.Name != types.InstanceStateNameTerminated && in.State.Name != types.InstanceStateNameShuttingDown {
			out[tagMap(in.Tags)[provider.TagNode]]++
		}
	}
	return out
}

func oneEach(nodes []*store.Node) map[string]int {
	out := map[string]int{}
	for _, n := range nodes {
		out[n.ID] = 1
	}
	return out
}

func sameCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// runInputsByNode groups the RunInstances requests by the node tag of
// their instance tag specification.
func runInputsByNode(inputs []*ec2.RunInstancesInput) map[string][]*ec2.RunInstancesInput {
	out := map[string][]*ec2.RunInstancesInput{}
	for _, in := range inputs {
		for _, ts := range in.TagSpecifications {
			if ts.ResourceType == types.ResourceTypeInstance {
				n := tagMap(ts.Tags)[provider.TagNode]
				out[n] = append(out[n], in)
			}
		}
	}
	return out
}

func TestAWS_CreateFromCFCreateExample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		request string
		compute int
	}{
		{name: "as shipped", request: cfCreateExample},
		{
			name:    "with initial spot compute nodes",
			request: strings.Replace(cfCreateExample, `"ComputeInitialNodes": "0"`, `"ComputeInitialNodes": "2"`, 1),
			compute: 2,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// EC2's r4.large spot price is below the example's $0.03.
			e := newAWSEnv(t, awsEnvOptions{fake: ec2fake.Options{BootDelay: 40 * time.Second, SpotPercent: 20}})
			e.create(t, "cf", "cf-create.json", tc.request)
			nodes := e.nodes(t, "cf")
			if len(nodes) != 1+tc.compute {
				t.Fatalf("%d node records, want a head and %d compute", len(nodes), tc.compute)
			}

			e.mustPass(t)
			inputs := e.ec2.RunInstancesInputs()
			if len(inputs) != len(nodes) {
				t.Fatalf("RunInstances called %d times, want once per node (%d)", len(inputs), len(nodes))
			}
			byNode := runInputsByNode(inputs)
			for _, n := range nodes {
				ins := byNode[n.ID]
				if len(ins) != 1 {
					t.Errorf("node %s (%s): %d RunInstances calls, want 1", n.ID, n.Role, len(ins))
					continue
				}
				in := ins[0]
				if got, want := awssdk.ToString(in.ClientToken), auth.ClientToken(awsInstallation, n.ID, 1); got != want {
					t.Errorf("%s node: ClientToken %q, want %q", n.Role, got, want)
				}
				if in.InstanceType != "r4.large" {
					t.Errorf("%s node: type %s, want r4.large", n.Role, in.InstanceType)
				}
				if awssdk.ToInt32(in.MinCount) != 1 || awssdk.ToInt32(in.MaxCount) != 1 {
					t.Errorf("%s node: MinCount %d MaxCount %d, want 1 and 1", n.Role, awssdk.ToInt32(in.MinCount), awssdk.ToInt32(in.MaxCount))
				}
				if len(in.BlockDeviceMappings) != 1 || in.BlockDeviceMappings[0].Ebs == nil || awssdk.ToInt32(in.BlockDeviceMappings[0].Ebs.VolumeSize) != 16 {
					t.Errorf("%s node: block devices %+v, want one root volume of 16 GB", n.Role, in.BlockDeviceMappings)
				}
				wantTags := map[string]string{
					provider.TagInstallation: awsInstallation,
					provider.TagCluster:      "cf",
					provider.TagRole:         string(n.Role),
					provider.TagOwner:        "ann",
					provider.TagNode:         n.ID,
				}
				tagged := map[types.ResourceType]bool{}
				for _, ts := range in.TagSpecifications {
					got := tagMap(ts.Tags)
					for k, v := range wantTags {
						if got[k] != v {
							t.Errorf("%s node: %s tag %s = %q, want %q", n.Role, ts.ResourceType, k, got[k], v)
						}
					}
					tagged[ts.ResourceType] = true
				}
				if !tagged[types.ResourceTypeInstance] || !tagged[types.ResourceTypeVolume] {
					t.Errorf("%s node: tag specifications for %v, want instance and volume", n.Role, tagged)
				}
				if got := clustertest.TokenOfUserData(t, in.UserData); got != auth.AgentToken(awsSecret, n.ID, 1) {
					t.Errorf("%s node: user-data carries another agent token", n.Role)
				}
				mo := in.InstanceMarketOptions
				switch n.Role {
				case store.RoleHead:
					if mo != nil {
						t.Errorf("head node launched with market options %+v, want on-demand", mo)
					}
				case store.RoleCompute:
					if mo == nil || mo.MarketType != types.MarketTypeSpot || mo.SpotOptions == nil ||
						awssdk.ToString(mo.SpotOptions.MaxPrice) != "0.03" ||
						mo.SpotOptions.SpotInstanceType != types.SpotInstanceTypeOneTime {
						t.Errorf("compute node: market options %+v, want one-time spot at most 0.03", mo)
					}
				}
			}
			if got := e.get(t, "cf"); got.State != "creating" {
				t.Errorf("after launching the cluster is %s, want creating", got.State)
			}

			// Booting: the cluster waits for every agent.
			e.mustPass(t)
			if got := e.get(t, "cf"); got.State != "creating" || got.Nodes.Pending != len(nodes) {
				t.Errorf("while booting: %s with %+v, want creating with every node pending", got.State, got.Nodes)
			}
			e.clk.Advance(time.Minute)
			e.mustPass(t)
			var headInst types.Instance
			for _, n := range e.nodes(t, "cf") {
				in, ok := e.ec2.Instance(awsRegion, n.InstanceID)
				if !ok || n.InstanceState != "running" {
					t.Fatalf("node %s: instance %q state %q, want a running instance EC2 has", n.ID, n.InstanceID, n.InstanceState)
				}
				if n.Role == store.RoleHead {
					headInst = in
				}
			}
			// Before any agent registers, the login address is already the
			// head's private IP, as EC2 reports it.
			wantAddr := awssdk.ToString(headInst.PrivateIpAddress)
			if got := e.get(t, "cf"); got.State != "creating" || got.LoginAddress != wantAddr {
				t.Errorf("before registration: %s, login address %q; want creating and %q", got.State, got.LoginAddress, wantAddr)
			}
			e.converge(t, "cluster running", e.running("cf"))
			got := e.get(t, "cf")
			if got.LoginAddress == "" || got.LoginAddress != wantAddr {
				t.Errorf("login address %q, want the head's private IP %q", got.LoginAddress, wantAddr)
			}
			if got.Nodes.Registered != len(nodes) || got.Nodes.Running != len(nodes) {
				t.Errorf("node counts %+v, want %d running and registered", got.Nodes, len(nodes))
			}
			for _, in := range got.Instances {
				wantSpot, wantCost := false, "0.133"
				if in.Role == string(store.RoleCompute) {
					wantSpot, wantCost = true, "0.03" // the max price: an upper bound
				}
				if in.Spot != wantSpot || in.HourlyCost != wantCost || in.Type != "r4.large" {
					t.Errorf("%s instance: type %s spot %v cost %s; want r4.large spot %v cost %s", in.Role, in.Type, in.Spot, in.HourlyCost, wantSpot, wantCost)
				}
			}
			for i := range 3 {
				if err := e.pass(); err != nil {
					t.Errorf("pass %d once running: %v", i, err)
				}
			}
			if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != len(nodes) {
				t.Errorf("RunInstances called %d times in all, want %d", n, len(nodes))
			}
			if got := liveEC2ByNode(e.ec2Instances(t)); !sameCounts(got, oneEach(nodes)) {
				t.Errorf("live instances per node %v, want one each", got)
			}
			// Billing periods are open for every instance.
			open, err := e.st.ListUsage(context.Background(), store.UsageFilter{Cluster: "cf", OpenOnly: true})
			if err != nil || len(open) != len(nodes) {
				t.Errorf("open usage periods: %d (err %v), want %d", len(open), err, len(nodes))
			}
		})
	}
}

// reqAWSMixed is an on-demand head and two on-demand compute nodes.
const reqAWSMixed = "head: {type: t3.medium}\ncompute: {types: [c5.large], initial_nodes: 2, max_nodes: 4}\n"

func TestAWS_EventualConsistencyMakesNoDuplicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// restart replaces the provider after the launches, so that only
		// the controller's consistency grace covers for EC2.
		restart bool
	}{
		{name: "the provider remembers its launches"},
		{name: "control plane restarted after the launches", restart: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Every new instance is missed by the next three calls that
			// would name it: three passes' DescribeInstances.
			e := newAWSEnv(t, awsEnvOptions{fake: ec2fake.Options{BootDelay: 10 * time.Second, HideNew: 3}})
			if tc.restart {
				// internal/server leaves the controller's grace at 0 (its
				// doc says: for a strongly consistent provider); without
				// it, this case relaunches the head and drops the compute
				// nodes as lost.
				e.ctrl.ConsistencyGrace = aws.DefaultConsistencyGrace
			}
			e.create(t, "lab", "", reqAWSMixed)
			nodes := e.nodes(t, "lab")
			e.mustPass(t)
			if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != len(nodes) {
				t.Fatalf("first pass: %d RunInstances, want %d", n, len(nodes))
			}
			if tc.restart {
				e.restart(t)
			}
			// EC2 does not list them yet: the controller neither relaunches
			// nor forgets.
			for i := range 3 {
				e.mustPass(t)
				if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != len(nodes) {
					t.Fatalf("pass %d while EC2 hides the instances: %d RunInstances in all, want %d", i+2, n, len(nodes))
				}
				ns := e.nodes(t, "lab")
				if len(ns) != len(nodes) {
					t.Fatalf("pass %d while EC2 hides the instances: %d node records, want %d", i+2, len(ns), len(nodes))
				}
				for _, n := range ns {
					if n.InstanceID == "" || n.Generation != 1 {
						t.Fatalf("pass %d: node %s has instance %q generation %d; want its first instance", i+2, n.ID, n.InstanceID, n.Generation)
					}
				}
			}
			e.converge(t, "cluster running", e.running("lab"))
			for range 3 {
				e.mustPass(t)
			}
			if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != len(nodes) {
				t.Errorf("RunInstances called %d times, want %d: a duplicate launch", n, len(nodes))
			}
			if n := e.ec2.Calls(ec2fake.ActionTerminateInstances); n != 0 {
				t.Errorf("TerminateInstances called %d times, want 0", n)
			}
			insts := e.ec2Instances(t)
			if len(insts) != len(nodes) {
				t.Errorf("EC2 has %d instances, want %d", len(insts), len(nodes))
			}
			if got := liveEC2ByNode(insts); !sameCounts(got, oneEach(nodes)) {
				t.Errorf("live instances per node %v, want one each", got)
			}
			for _, n := range e.nodes(t, "lab") {
				in, _ := e.ec2.Instance(awsRegion, n.InstanceID)
				if n.Address == "" || n.Address != awssdk.ToString(in.PrivateIpAddress) {
					t.Errorf("node %s address %q, want EC2's %q", n.ID, n.Address, awssdk.ToString(in.PrivateIpAddress))
				}
			}
		})
	}
}

func TestAWS_LostRunInstancesResponseMakesOneInstancePerNode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// hide is how many calls miss each new instance: with 1, the next
		// pass does not see the instances and launches again.
		hide int
		// wantRuns is the RunInstances calls per node.
		wantRuns int
	}{
		{name: "found by its tags", hide: 0, wantRuns: 1},
		{name: "not listed yet: launched again with the same token", hide: 1, wantRuns: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newAWSEnv(t, awsEnvOptions{fake: ec2fake.Options{HideNew: tc.hide}})
			e.create(t, "lab", "", "compute: {types: [c5.large], initial_nodes: 1, max_nodes: 2}\n")
			nodes := e.nodes(t, "lab")
			e.api.loseAfter(ec2fake.ActionRunInstances, errConnReset, errConnReset)
			err := e.pass()
			if err == nil || !strings.Contains(err.Error(), "connection reset") {
				t.Fatalf("the pass whose launch responses were lost: err = %v, want the connection reset", err)
			}
			lost := e.api.lostIDs()
			if len(lost) != len(nodes) {
				t.Fatalf("%d launches lost, want %d", len(lost), len(nodes))
			}
			for _, n := range e.nodes(t, "lab") {
				if n.InstanceID != "" {
					t.Fatalf("node %s recorded instance %s although the response was lost", n.ID, n.InstanceID)
				}
				if !strings.Contains(n.LastError, "connection reset") {
					t.Errorf("node %s last error %q, want the lost response's", n.ID, n.LastError)
				}
			}

			e.converge(t, "cluster running", e.running("lab"))
			for range 2 {
				e.mustPass(t)
			}
			byNode := runInputsByNode(e.ec2.RunInstancesInputs())
			for _, n := range e.nodes(t, "lab") {
				runs := byNode[n.ID]
				if len(runs) != tc.wantRuns {
					t.Errorf("node %s: %d RunInstances calls, want %d", n.ID, len(runs), tc.wantRuns)
				}
				for _, r := range runs {
					if got, want := awssdk.ToString(r.ClientToken), auth.ClientToken(awsInstallation, n.ID, 1); got != want {
						t.Errorf("node %s: RunInstances with ClientToken %q, want %q", n.ID, got, want)
					}
				}
				if !slices.Contains(lost, n.InstanceID) || n.Generation != 1 || n.LastError != "" {
					t.Errorf("node %s: instance %q generation %d last error %q; want the lost launch's instance (one of %v), generation 1, no error",
						n.ID, n.InstanceID, n.Generation, n.LastError, lost)
				}
			}
			insts := e.ec2Instances(t)
			if len(insts) != len(nodes) {
				t.Errorf("EC2 has %d instances, want %d (one per node)", len(insts), len(nodes))
			}
			if got := liveEC2ByNode(insts); !sameCounts(got, oneEach(nodes)) {
				t.Errorf("live instances per node %v, want one each", got)
			}
		})
	}
}

func TestAWS_ThrottlingConvergesOnTheNextPass(t *testing.T) {
	t.Parallel()
	e := newAWSEnv(t, awsEnvOptions{fake: ec2fake.Options{BootDelay: 10 * time.Second}})
	e.create(t, "lab", "", reqAWSMixed)
	nodes := e.nodes(t, "lab")
	// The first pass's DescribeInstances is throttled (by the fake), then
	// two launches (by the wrapper): their nodes wait for a later pass.
	e.ec2.Throttle(1)
	e.api.failBefore(ec2fake.ActionRunInstances, throttled(), throttled())
	err := e.pass()
	if !errors.Is(err, aws.ErrThrottled) {
		t.Fatalf("first pass: err = %v, want one wrapping aws.ErrThrottled", err)
	}
	if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != 0 {
		t.Fatalf("a pass that could not describe made %d RunInstances calls, want 0", n)
	}
	err = e.pass()
	if !errors.Is(err, aws.ErrThrottled) {
		t.Fatalf("second pass: err = %v, want one wrapping aws.ErrThrottled", err)
	}
	failed := 0
	for _, n := range e.nodes(t, "lab") {
		if n.InstanceID == "" {
			failed++
			if !strings.Contains(n.LastError, "throttling") {
				t.Errorf("node %s last error %q, want it to say EC2 was throttling", n.ID, n.LastError)
			}
		}
	}
	if failed != 2 {
		t.Errorf("%d nodes without an instance after two throttled launches, want 2", failed)
	}
	if got := e.state(t, "lab"); got != "creating" {
		t.Errorf("throttling made the cluster %s, want creating", got)
	}
	errs := e.converge(t, "cluster running", e.running("lab"))
	if len(errs) != 0 {
		t.Errorf("passes after the throttling failed: %v", errs)
	}
	if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != len(nodes) {
		t.Errorf("RunInstances reached EC2 %d times, want %d", n, len(nodes))
	}
	if got := liveEC2ByNode(e.ec2Instances(t)); !sameCounts(got, oneEach(nodes)) {
		t.Errorf("live instances per node %v, want one each", got)
	}
	for _, n := range e.nodes(t, "lab") {
		if n.LastError != "" {
			t.Errorf("node %s still shows %q", n.ID, n.LastError)
		}
	}
}

func TestAWS_DeleteTerminatesEveryInstanceBeforeForgetting(t *testing.T) {
	t.Parallel()
	e := newAWSEnv(t, awsEnvOptions{fake: ec2fake.Options{BootDelay: 10 * time.Second, TerminateDelay: 30 * time.Second}})
	e.create(t, "lab", "", reqAWSMixed)
	e.converge(t, "cluster running", e.running("lab"))
	nodes := e.nodes(t, "lab")
	ids := e.instanceIDs(t)
	if len(ids) != len(nodes) {
		t.Fatalf("%d instances for %d nodes", len(ids), len(nodes))
	}

	if _, err := e.svc.Delete(context.Background(), awsAnn, "lab"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	// The first TerminateInstances is throttled: that node is terminated on
	// a later pass, and no record goes before EC2 shows its instance
	// terminated.
	e.api.failBefore(ec2fake.ActionTerminateInstances, throttled())
	checkRecords := func(when string) {
		t.Helper()
		have := map[string]bool{}
		for _, n := range e.nodes(t, "lab") {
			have[n.ID] = true
		}
		for _, id := range ids {
			in, ok := e.ec2.Instance(awsRegion, id)
			if !ok {
				t.Fatalf("%s: EC2 no longer lists instance %s", when, id)
			}
			node := tagMap(in.Tags)[provider.TagNode]
			if in.State.Name != types.InstanceStateNameTerminated && !have[node] {
				t.Errorf("%s: instance %s is %s but the record of node %s is gone", when, id, in.State.Name, node)
			}
		}
	}
	for i := 0; e.state(t, "lab") != "gone"; i++ {
		if i == awsMaxPasses {
			t.Fatalf("cluster not deleted after %d passes", i)
		}
		_ = e.pass()
		checkRecords(fmt.Sprintf("pass %d", i+1))
		if i == 0 {
			if got := e.state(t, "lab"); got != "deleting" {
				t.Errorf("after the first pass the cluster is %s, want deleting", got)
			}
			if n := len(e.nodes(t, "lab")); n != len(nodes) {
				t.Errorf("after the first pass %d node records, want all %d (instances shutting down)", n, len(nodes))
			}
		}
	}
	for _, id := range ids {
		in, _ := e.ec2.Instance(awsRegion, id)
		if in.State.Name != types.InstanceStateNameTerminated {
			t.Errorf("instance %s is %s, want terminated", id, in.State.Name)
		}
	}
	if got := liveEC2ByNode(e.ec2Instances(t)); len(got) != 0 {
		t.Errorf("live instances left: %v", got)
	}
	if n := e.ec2.Calls(ec2fake.ActionTerminateInstances); n != len(nodes) {
		t.Errorf("TerminateInstances reached EC2 %d times, want %d (once per instance)", n, len(nodes))
	}
	if ns := e.nodes(t, "lab"); len(ns) != 0 {
		t.Errorf("%d node records left", len(ns))
	}
	if _, err := e.svc.Get(context.Background(), awsAnn, "lab"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Get after deletion: err = %v, want not found", err)
	}
	open, err := e.st.ListUsage(context.Background(), store.UsageFilter{Cluster: "lab", OpenOnly: true})
	if err != nil || len(open) != 0 {
		t.Errorf("open usage periods after deletion: %d (err %v), want none", len(open), err)
	}
}

// TestAWS_ThrottlingRetriedBySDK runs the provider's default client (a real
// *ec2.Client with the adaptive retryer) against the fake: throttled calls
// are retried within the pass, with the same client token.
func TestAWS_ThrottlingRetriedBySDK(t *testing.T) {
	// The default client loads the AWS configuration: keep it from reading
	// the developer's.
	none := filepath.Join(t.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_CONFIG_FILE": none, "AWS_SHARED_CREDENTIALS_FILE": none, "AWS_EC2_METADATA_DISABLED": "true",
		"AWS_PROFILE": "", "AWS_REGION": "", "AWS_ENDPOINT_URL": "", "AWS_ENDPOINT_URL_EC2": "",
		"AWS_RETRY_MODE": "", "AWS_MAX_ATTEMPTS": "",
	} {
		t.Setenv(k, v)
	}
	e := newAWSEnv(t, awsEnvOptions{sdk: true, maxAttempts: 4})
	e.create(t, "lab", "", "compute: {types: [c5.large], initial_nodes: 1, max_nodes: 2}\n")
	nodes := e.nodes(t, "lab")
	e.ec2.Throttle(1)
	if err := e.pass(); err != nil {
		t.Fatalf("a pass with one throttled call: %v; want the SDK to retry it", err)
	}
	e.converge(t, "cluster running", e.running("lab"))
	if n := e.ec2.Calls(ec2fake.ActionRunInstances); n != len(nodes) {
		t.Errorf("RunInstances reached EC2 %d times, want %d", n, len(nodes))
	}
	if got := liveEC2ByNode(e.ec2Instances(t)); !sameCounts(got, oneEach(nodes)) {
		t.Errorf("live instances per node %v, want one each", got)
	}
}

package scheduler_test

// End-to-end fleet tests over the aws provider: the real cluster.Service,
// cluster.Controller, scheduler.Service and scheduler.Controller, wired as
// internal/server wires them, over a SQLite store, a fake clock and the aws
// provider talking to ec2fake. Agents are simulated: once EC2 runs an
// instance, its agent registers with the token in its user-data, and runs
// the job ranks it is given.

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster/clustertest"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/store"
)

const (
	awsRegion       = "us-east-1"
	awsImage        = "ami-0123456789abcdef0"
	awsInstallation = "inst-aws"
	awsSecret       = "aws-agent-secret"
)

// awsEnv is the test control plane (env) over the aws provider and
// ec2fake.
type awsEnv struct {
	*env
	ec2 *ec2fake.Fake

	registered map[string]bool // instances whose agent has registered
}

func newAWSEnv(t *testing.T, fo ec2fake.Options) *awsEnv {
	t.Helper()
	ctx := context.Background()
	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC))
	fo.Clock = clk
	fo.Images = []string{awsImage}
	fake := ec2fake.New(fo)
	prov, err := aws.New(ctx, aws.Options{
		Regions: []aws.RegionConfig{{Name: awsRegion, ImageID: awsImage}},
		Clock:   clk,
		UserData: func(b provider.AgentBootstrap) ([]byte, error) {
			return []byte("#!/bin/sh\n# token=" + b.Token + "\n"), nil
		},
		NewClient:             func(region string) aws.EC2API { return fake.Client(region) },
		ConsistencyRetryDelay: time.Millisecond,
	})
	if err != nil {
		t.Fatalf("aws.New: %v", err)
	}
	e := &awsEnv{env: newEnv(t, clk, prov, awsRegion, awsSecret), ec2: fake, registered: map[string]bool{}}
	e.ctrl.Installation = awsInstallation
	e.ctrl.AdvertiseURL = "https://stratus.example:7070"
	e.agents = func(t *testing.T) {
		t.Helper()
		clustertest.RegisterEC2Agents(t, e.st, e.clusters, e.ec2, e.registered)
	}
	return e
}

func TestAWS_CapacityErrorFallsBackToTheNextComputeType(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newAWSEnv(t, ec2fake.Options{BootDelay: 20 * time.Second})
	_, err := e.clusters.Create(ctx, ann, api.CreateClusterRequest{Name: "lab",
		Request: "compute: {types: [c5.large, m5.large], max_nodes: 2, batch_window: 0s, scale_down: idle, idle_timeout: 1h}\n"})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	e.converge(t, "cluster running", func() bool {
		cl, err := e.st.GetCluster(ctx, "lab")
		return err == nil && cl.State == store.ClusterRunning
	})

	// EC2 has no c5.large: the first launch for a queued job fails, the
	// type cools down, and the fleet launches an m5.large instead.
	e.ec2.NoCapacity("c5.large", "InsufficientInstanceCapacity")
	id := e.submit(t, "lab", 1)
	e.converge(t, "job running", func() bool { return e.job(t, id).State == store.JobRunning })

	inputs := e.ec2.RunInstancesInputs()
	runs := map[types.InstanceType]int{}
	for _, in := range inputs {
		runs[in.InstanceType]++
	}
	if runs["c5.large"] != 1 {
		t.Errorf("RunInstances of c5.large: %d, want 1 (then the type cools down)", runs["c5.large"])
	}
	if runs["m5.large"] != 1 {
		t.Errorf("RunInstances of m5.large: %d, want 1", runs["m5.large"])
	}
	until, ok := e.capacity.Unavailable(awsRegion, e.clk.Now())["c5.large"]
	if !ok || until.Sub(e.clk.Now()) > scheduler.CapacityCooldown {
		t.Errorf("c5.large unavailable until %v (%v), want within the cool-down", until, ok)
	}
	j := e.job(t, id)
	if len(j.Assigned) != 1 {
		t.Fatalf("job assigned to %v, want one node", j.Assigned)
	}
	n := e.node(t, j.Assigned[0])
	in, ok := e.ec2.Instance(awsRegion, n.InstanceID)
	if n.Type != "m5.large" || !ok || in.InstanceType != "m5.large" || in.State.Name != types.InstanceStateNameRunning {
		t.Errorf("job runs on a %s node whose instance %s is %s %s; want a running m5.large", n.Type, n.InstanceID, in.InstanceType, in.State.Name)
	}
	nodes, err := e.st.ListNodes(ctx, store.NodeFilter{Cluster: "lab", Role: store.RoleCompute})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	for _, x := range nodes {
		if x.Type == "c5.large" {
			t.Errorf("the c5.large node %s that got no capacity is still recorded (instance %q)", x.ID, x.InstanceID)
		}
	}
	evs, err := e.st.ListEvents(ctx, store.EventFilter{Cluster: "lab"})
	if err != nil {
		t.Fatalf("events: %v", err)
	}
	var failed, fellBack bool
	for _, ev := range evs {
		failed = failed || (ev.Kind == "node.launch_failed" && strings.Contains(ev.Message, "InsufficientInstanceCapacity"))
		fellBack = fellBack || (ev.Kind == "fleet.scale_up" && strings.Contains(ev.Message, "m5.large") && strings.Contains(ev.Message, "c5.large out of capacity"))
	}
	if !failed || !fellBack {
		t.Errorf("events: launch failed for capacity %v, scale-up to m5.large naming c5.large %v; want both", failed, fellBack)
	}
	e.runJob(t, id)

	// After the cool-down (and with EC2's capacity back) the preferred type
	// is used again.
	e.ec2.NoCapacity("c5.large", "")
	e.clk.Advance(scheduler.CapacityCooldown)
	id2 := e.submit(t, "lab", 2)
	e.converge(t, "two-node job running", func() bool { return e.job(t, id2).State == store.JobRunning })
	for _, nid := range e.job(t, id2).Assigned {
		if x := e.node(t, nid); x.ID != n.ID && x.Type != "c5.large" {
			t.Errorf("after the cool-down a %s node was launched, want c5.large", x.Type)
		}
	}
	e.runJob(t, id2)
}

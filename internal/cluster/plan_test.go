package cluster

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)

// node builds a node record with defaults; opts adjust it.
func node(id string, opts ...func(*store.Node)) *store.Node {
	n := &store.Node{ID: id, Cluster: "c1", Role: store.RoleCompute, Region: "r1", Type: "t3.small", Generation: 1, CreatedAt: t0}
	for _, o := range opts {
		o(n)
	}
	return n
}

func launched(inst string) func(*store.Node) {
	return func(n *store.Node) {
		n.InstanceID, n.InstanceState, n.LaunchedAt = inst, "running", t0
		n.Address = "10.0.0.1"
	}
}

func registered(n *store.Node)  { n.RegisteredAt = t0.Add(time.Second) }
func terminating(n *store.Node) { n.Terminate = true }
func head(n *store.Node)        { n.Role = store.RoleHead }

// inst builds an instance of node id.
func inst(id, nodeID string, state provider.State) provider.Instance {
	return provider.Instance{
		ID: id, Region: "r1", Type: "t3.small", State: state, Address: "10.0.0.1",
		Tags: map[string]string{provider.TagCluster: "c1", provider.TagNode: nodeID},
	}
}

func cl(state store.ClusterState) *store.Cluster {
	return &store.Cluster{Name: "c1", Owner: "ann", State: state, CreatedAt: t0}
}

func TestMakePlan(t *testing.T) {
	tests := []struct {
		name  string
		in    PlanInput
		want  Plan
		check func(t *testing.T, p Plan)
	}{
		{
			name: "new cluster launches every node",
			in:   PlanInput{Cluster: cl(store.ClusterCreating), Nodes: []*store.Node{node("h", head), node("c")}, Now: t0},
			want: Plan{Launch: []string{"h", "c"}},
		},
		{
			name: "launch whose result was lost is found by its tag, not launched again",
			in: PlanInput{
				Cluster:   cl(store.ClusterCreating),
				Nodes:     []*store.Node{node("h", head, func(n *store.Node) { n.LaunchedAt = t0 })},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{Observe: []Observation{{Node: "h", Instance: inst("i-1", "h", provider.StateRunning)}}},
		},
		{
			name: "launch attempted but not listed is retried with the same token",
			in: PlanInput{
				Cluster: cl(store.ClusterCreating),
				Nodes:   []*store.Node{node("h", head, func(n *store.Node) { n.LaunchedAt = t0 })},
				Now:     t0.Add(time.Minute),
			},
			want: Plan{Launch: []string{"h"}},
		},
		{
			name: "all registered makes the cluster running",
			in: PlanInput{
				Cluster:   cl(store.ClusterCreating),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered), node("c", launched("i-2"), registered)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning), inst("i-2", "c", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{NewState: store.ClusterRunning},
		},
		{
			name: "one node unregistered keeps the cluster creating",
			in: PlanInput{
				Cluster:   cl(store.ClusterCreating),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered), node("c", launched("i-2"))},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning), inst("i-2", "c", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{},
		},
		{
			name: "creating past the timeout fails with the count",
			in: PlanInput{
				Cluster:       cl(store.ClusterCreating),
				Nodes:         []*store.Node{node("h", head, launched("i-1"))},
				Instances:     []provider.Instance{inst("i-1", "h", provider.StateRunning)},
				Now:           t0.Add(20 * time.Minute),
				CreateTimeout: 15 * time.Minute,
			},
			want: Plan{NewState: store.ClusterFailed, Reason: "only 0 of 1 nodes registered within 15m0s"},
		},
		{
			name: "instance with the cluster tag but no record is terminated",
			in: PlanInput{
				Cluster:   cl(store.ClusterRunning),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning), inst("i-9", "ghost", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{Terminate: []provider.Instance{inst("i-9", "ghost", provider.StateRunning)}},
		},
		{
			name: "deleting terminates live instances and keeps the record",
			in: PlanInput{
				Cluster:   cl(store.ClusterDeleting),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered, terminating)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{Terminate: []provider.Instance{inst("i-1", "h", provider.StateRunning)}},
		},
		{
			name: "deleting forgets nodes whose instance is terminated, then deletes the cluster",
			in: PlanInput{
				Cluster:   cl(store.ClusterDeleting),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), terminating), node("c", terminating)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateTerminated)},
				Now:       t0,
			},
			want: Plan{Forget: []string{"h", "c"}, DeleteCluster: true},
		},
		{
			name: "deleting waits for an instance that may not be listed yet",
			in: PlanInput{
				Cluster:          cl(store.ClusterDeleting),
				Nodes:            []*store.Node{node("h", head, launched("i-1"), terminating)},
				Now:              t0.Add(10 * time.Second),
				ConsistencyGrace: time.Minute,
			},
			want: Plan{},
		},
		{
			name: "deleting with an orphan still listed does not delete the cluster yet",
			in: PlanInput{
				Cluster:   cl(store.ClusterDeleting),
				Instances: []provider.Instance{inst("i-9", "ghost", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{Terminate: []provider.Instance{inst("i-9", "ghost", provider.StateRunning)}},
		},
		{
			name: "deleting with an orphan shutting down waits for it without terminating it again",
			in: PlanInput{
				Cluster:   cl(store.ClusterDeleting),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), terminating)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateTerminated), inst("i-9", "ghost", provider.StateShuttingDown)},
				Now:       t0,
			},
			want: Plan{Forget: []string{"h"}},
		},
		{
			name: "deleting waits for a node's instance shutting down without terminating it again",
			in: PlanInput{
				Cluster:   cl(store.ClusterDeleting),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), terminating)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateShuttingDown)},
				Now:       t0,
			},
			want: Plan{Observe: []Observation{{Node: "h", Instance: inst("i-1", "h", provider.StateShuttingDown)}}},
		},
		{
			name: "a head node whose instance was terminated is relaunched",
			in: PlanInput{
				Cluster:   cl(store.ClusterRunning),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateTerminated)},
				Now:       t0,
			},
			want: Plan{Relaunch: []string{"h"}},
		},
		{
			name: "a compute node whose instance was terminated is lost: the fleet replaces it if needed",
			in: PlanInput{
				Cluster:   cl(store.ClusterRunning),
				Nodes:     []*store.Node{node("c", launched("i-2"), registered)},
				Instances: []provider.Instance{inst("i-2", "c", provider.StateTerminated)},
				Now:       t0,
			},
			want: Plan{Lost: []string{"c"}},
		},
		{
			name: "two live instances for one node: the recorded one stays",
			in: PlanInput{
				Cluster:   cl(store.ClusterRunning),
				Nodes:     []*store.Node{node("c", launched("i-2"), registered)},
				Instances: []provider.Instance{inst("i-1", "c", provider.StateRunning), inst("i-2", "c", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{Terminate: []provider.Instance{inst("i-1", "c", provider.StateRunning)}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.in)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

// Repeating a plan after applying it must converge: a plan computed from the
// state its own application produces launches nothing again.
func TestMakePlan_IdempotentAfterApply(t *testing.T) {
	nodes := []*store.Node{node("h", head), node("c")}
	p := MakePlan(PlanInput{Cluster: cl(store.ClusterCreating), Nodes: nodes, Now: t0})
	var insts []provider.Instance
	for i, id := range p.Launch {
		in := inst("i-"+id, id, provider.StatePending)
		insts = append(insts, in)
		nodes[i].LaunchedAt = t0
		nodes[i].InstanceID = in.ID
		nodes[i].InstanceState = string(in.State)
		nodes[i].Address = in.Address
	}
	again := MakePlan(PlanInput{Cluster: cl(store.ClusterCreating), Nodes: nodes, Instances: insts, Now: t0})
	if !again.Empty() {
		t.Fatalf("second plan is not empty: %+v", again)
	}
}

package cluster

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

func TestMakePlan_StopStart(t *testing.T) {
	withState := func(c *store.Cluster, reason string) *store.Cluster { c.Reason = reason; return c }
	tests := []struct {
		name string
		in   PlanInput
		want Plan
	}{
		{
			name: "stopping stops the running instances",
			in: PlanInput{
				Cluster: withState(cl(store.ClusterStopping), "stop requested by ann"),
				Nodes:   []*store.Node{node("h", head, launched("i-1"), registered), node("c", launched("i-2"), registered)},
				Instances: []provider.Instance{
					inst("i-1", "h", provider.StateRunning), inst("i-2", "c", provider.StateRunning),
				},
				Now: t0,
			},
			want: Plan{Stop: []provider.Instance{inst("i-1", "h", provider.StateRunning), inst("i-2", "c", provider.StateRunning)}},
		},
		{
			name: "stopping waits for instances still stopping",
			in: PlanInput{
				Cluster:   cl(store.ClusterStopping),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), func(n *store.Node) { n.InstanceState = "stopping" })},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateStopping)},
				Now:       t0,
			},
		},
		{
			name: "stopping is stopped once every instance is, keeping its reason; an unlaunched node is not launched",
			in: PlanInput{
				Cluster: withState(cl(store.ClusterStopping), "max_lifetime reached"),
				Nodes: []*store.Node{
					node("h", head, launched("i-1"), func(n *store.Node) { n.InstanceState = "stopped" }),
					node("c"),
				},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateStopped)},
				Now:       t0,
			},
			want: Plan{Launch: []string{"c"}, NewState: store.ClusterStopped, Reason: "max_lifetime reached"},
		},
		{
			name: "stopped stops an instance started behind its back",
			in: PlanInput{
				Cluster:   cl(store.ClusterStopped),
				Nodes:     []*store.Node{node("h", head, launched("i-1"))},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{Stop: []provider.Instance{inst("i-1", "h", provider.StateRunning)}},
		},
		{
			name: "stopped still terminates a node marked to go",
			in: PlanInput{
				Cluster: cl(store.ClusterStopped),
				Nodes: []*store.Node{
					node("h", head, launched("i-1"), func(n *store.Node) { n.InstanceState = "stopped" }),
					node("c", launched("i-2"), terminating, func(n *store.Node) { n.InstanceState = "stopped" }),
				},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateStopped), inst("i-2", "c", provider.StateStopped)},
				Now:       t0,
			},
			want: Plan{Terminate: []provider.Instance{inst("i-2", "c", provider.StateStopped)}},
		},
		{
			name: "starting starts the stopped instances",
			in: PlanInput{
				Cluster: cl(store.ClusterStarting),
				Nodes: []*store.Node{
					node("h", head, launched("i-1"), func(n *store.Node) { n.InstanceState = "stopped" }),
					node("c", launched("i-2"), func(n *store.Node) { n.InstanceState = "stopped" }),
				},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateStopped), inst("i-2", "c", provider.StateStopped)},
				Now:       t0,
			},
			want: Plan{Start: []provider.Instance{inst("i-1", "h", provider.StateStopped), inst("i-2", "c", provider.StateStopped)}},
		},
		{
			name: "starting waits for every agent to register again",
			in: PlanInput{
				Cluster:   cl(store.ClusterStarting),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered), node("c", launched("i-2"))},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning), inst("i-2", "c", provider.StateRunning)},
				Now:       t0,
			},
		},
		{
			name: "starting is running once every agent has registered",
			in: PlanInput{
				Cluster:   cl(store.ClusterStarting),
				Nodes:     []*store.Node{node("h", head, launched("i-1"), registered), node("c", launched("i-2"), registered)},
				Instances: []provider.Instance{inst("i-1", "h", provider.StateRunning), inst("i-2", "c", provider.StateRunning)},
				Now:       t0,
			},
			want: Plan{NewState: store.ClusterRunning},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := MakePlan(tc.in)
			if d := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); d != "" {
				t.Errorf("MakePlan (-want +got):\n%s", d)
			}
		})
	}
}

// Package cluster is the cluster domain: creating, showing and deleting
// clusters (Service), and the controller that converges each cluster's
// instances to its node records (Plan decides, Controller applies).
package cluster

import (
	"fmt"
	"sort"
	"time"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// PlanInput is everything Plan looks at: one cluster, its node records, and
// the instances the provider lists with the cluster's tag.
type PlanInput struct {
	Cluster   *store.Cluster
	Nodes     []*store.Node
	Instances []provider.Instance
	Now       time.Time
	// ConsistencyGrace is how long an instance that was launched may be
	// missing from Describe before it counts as gone (0 for a provider
	// whose listing is strongly consistent).
	ConsistencyGrace time.Duration
	// CreateTimeout fails a cluster still creating after this long (0: never).
	CreateTimeout time.Duration
}

// Observation is what the provider says of a node's instance.
type Observation struct {
	Node     string
	Instance provider.Instance
}

// Plan is what to do for one cluster in one pass.
type Plan struct {
	// Observe lists nodes whose record is behind what the provider shows.
	Observe []Observation
	// Launch lists nodes to launch (or retry launching, with the same token).
	Launch []string
	// Relaunch lists head nodes whose instance has gone although the node
	// is still wanted: they get a new generation and are launched again.
	Relaunch []string
	// Lost lists compute nodes whose instance has gone (reclaimed, or
	// terminated behind stratus's back): their records go, and the fleet
	// decides whether to replace them.
	Lost []string
	// Terminate lists instances to terminate.
	Terminate []provider.Instance
	// Forget lists node records to delete: their instance is confirmed gone.
	Forget []string
	// Stop lists instances to stop (a stopping or stopped cluster's);
	// Start lists stopped instances to start (a starting cluster's).
	Stop  []provider.Instance
	Start []provider.Instance
	// NewState, when not empty, is the cluster's next state, with Reason.
	NewState store.ClusterState
	Reason   string
	// DeleteCluster is set when a deleting cluster has nothing left.
	DeleteCluster bool
}

// Empty reports whether the plan does nothing.
func (p Plan) Empty() bool {
	return len(p.Observe) == 0 && len(p.Launch) == 0 && len(p.Relaunch) == 0 && len(p.Lost) == 0 &&
		len(p.Terminate) == 0 && len(p.Forget) == 0 && len(p.Stop) == 0 && len(p.Start) == 0 &&
		p.NewState == "" && !p.DeleteCluster
}

// Live reports whether an instance still exists (it has not reached
// terminated).
func Live(in provider.Instance) bool { return !in.State.Gone() }

// MakePlan decides what to do for one cluster. It is a pure function of its
// input.
func MakePlan(in PlanInput) Plan {
	var p Plan
	going := 0                               // instances without a node, shutting down
	live := map[string][]provider.Instance{} // node id → live instances
	dead := map[string]bool{}                // node id → a terminated instance exists
	known := map[string]bool{}
	for _, n := range in.Nodes {
		known[n.ID] = true
	}
	// Instances sorted by id so the plan is deterministic.
	insts := append([]provider.Instance(nil), in.Instances...)
	sort.Slice(insts, func(i, j int) bool { return insts[i].ID < insts[j].ID })
	for _, inst := range insts {
		node := inst.Tags[provider.TagNode]
		if !Live(inst) {
			dead[node] = true
			continue
		}
		if !known[node] {
			// Tagged with this cluster but no record: an orphan (records
			// are created before launches and removed only after the
			// instance is gone), so it goes, unless it is going already.
			if inst.State == provider.StateShuttingDown {
				going++
			} else {
				p.Terminate = append(p.Terminate, inst)
			}
			continue
		}
		live[node] = append(live[node], inst)
	}

	remaining := 0
	kept := map[string]provider.Instance{} // node id → its live instance
	for _, n := range in.Nodes {
		insts := live[n.ID]
		if len(insts) > 0 {
			keep := insts[0]
			for _, inst := range insts {
				if inst.ID == n.InstanceID {
					keep = inst
				}
			}
			kept[n.ID] = keep
			for _, inst := range insts {
				if inst.ID != keep.ID && inst.State != provider.StateShuttingDown {
					p.Terminate = append(p.Terminate, inst) // a duplicate: never expected
				}
			}
			if observedChanged(n, keep) {
				p.Observe = append(p.Observe, Observation{Node: n.ID, Instance: keep})
			}
			remaining++
			if n.Terminate && keep.State != provider.StateShuttingDown {
				p.Terminate = append(p.Terminate, keep)
			}
			continue
		}
		// No live instance for this node.
		missingLong := !n.LaunchedAt.IsZero() && in.Now.Sub(n.LaunchedAt) >= in.ConsistencyGrace
		switch {
		case n.Terminate:
			if n.LaunchedAt.IsZero() || dead[n.ID] || missingLong {
				p.Forget = append(p.Forget, n.ID)
			} else {
				remaining++
			}
		case n.InstanceID == "":
			// Never launched, or a launch that failed or whose result was
			// lost: launch with the same client token.
			p.Launch = append(p.Launch, n.ID)
			remaining++
		case (dead[n.ID] || missingLong) && n.Role == store.RoleHead:
			p.Relaunch = append(p.Relaunch, n.ID)
			remaining++
		case dead[n.ID] || missingLong:
			p.Lost = append(p.Lost, n.ID)
		default:
			remaining++ // launched moments ago; not listed yet
		}
	}

	switch in.Cluster.State {
	case store.ClusterStopping, store.ClusterStopped:
		planStop(&p, in, kept)
	case store.ClusterStarting:
		planStart(&p, in, kept)
	case store.ClusterDeleting:
		if remaining == 0 && len(p.Terminate) == 0 && going == 0 {
			p.DeleteCluster = true
		}
	case store.ClusterCreating:
		wanted, registered := 0, 0
		for _, n := range in.Nodes {
			if n.Terminate {
				continue
			}
			wanted++
			if !n.RegisteredAt.IsZero() && n.InstanceID != "" && len(live[n.ID]) > 0 {
				registered++
			}
		}
		switch {
		case wanted > 0 && registered == wanted:
			p.NewState = store.ClusterRunning
		case in.CreateTimeout > 0 && in.Now.Sub(in.Cluster.CreatedAt) > in.CreateTimeout:
			p.NewState = store.ClusterFailed
			p.Reason = fmt.Sprintf("only %d of %d nodes registered within %s", registered, wanted, in.CreateTimeout)
		}
	}
	return p
}

func observedChanged(n *store.Node, inst provider.Instance) bool {
	return n.InstanceID != inst.ID || n.InstanceState != string(inst.State) ||
		n.Address != inst.Address || n.PriceMicros != inst.PriceMicros
}

// planStop stops the live instances of the nodes a stopping (or stopped)
// cluster keeps; once every one is stopped, a stopping cluster is stopped.
// Nodes without an instance are not launched while the cluster is stopped.
func planStop(p *Plan, in PlanInput, kept map[string]provider.Instance) {
	waiting := 0
	for _, n := range in.Nodes {
		inst, ok := kept[n.ID]
		if n.Terminate || !ok {
			continue
		}
		switch inst.State {
		case provider.StateStopped:
		case provider.StatePending, provider.StateRunning:
			p.Stop = append(p.Stop, inst)
			waiting++
		default:
			waiting++ // stopping, or shutting down
		}
	}
	if in.Cluster.State == store.ClusterStopping && waiting == 0 {
		p.NewState, p.Reason = store.ClusterStopped, in.Cluster.Reason
	}
}

// planStart starts the stopped instances of a starting cluster's nodes
// (nodes without an instance are launched as usual); once every node's
// agent has registered again on a running instance, the cluster is
// running.
func planStart(p *Plan, in PlanInput, kept map[string]provider.Instance) {
	wanted, ready := 0, 0
	for _, n := range in.Nodes {
		if n.Terminate {
			continue
		}
		wanted++
		inst, ok := kept[n.ID]
		if !ok {
			continue
		}
		switch {
		case inst.State == provider.StateStopped:
			p.Start = append(p.Start, inst)
		case inst.State == provider.StateRunning && !n.RegisteredAt.IsZero():
			ready++
		}
	}
	if wanted > 0 && ready == wanted {
		p.NewState = store.ClusterRunning
	}
}

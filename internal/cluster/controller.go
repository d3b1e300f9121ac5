package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/failpoint"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Controller converges every cluster's instances to its node records.
type Controller struct {
	Store    store.Store
	Provider provider.Provider
	Clock    clock.Clock
	Logger   *slog.Logger
	// Installation tags every instance this control plane launches.
	Installation string
	// AgentSecret derives each node's agent token.
	AgentSecret string
	// AdvertiseURL is the control plane's URL as agents reach it.
	AdvertiseURL     string
	ConsistencyGrace time.Duration
	CreateTimeout    time.Duration
	// OnCapacity is told when a compute type had no capacity (may be nil).
	OnCapacity func(region, typ string)
	// Usage records billing periods; nil records none.
	Usage *UsageRecorder
	// Notify is told when a cluster is created (running), fails or is
	// deleted; nil tells no one.
	Notify notify.Notifier
}

var _ reconcile.Controller = (*Controller)(nil)

// Name implements reconcile.Controller.
func (c *Controller) Name() string { return "cluster" }

// Reconcile makes one pass over every cluster.
func (c *Controller) Reconcile(ctx context.Context) (reconcile.Result, error) {
	clusters, err := c.Store.ListClusters(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	var errs []error
	busy := false
	for _, cl := range clusters {
		if ctx.Err() != nil {
			return reconcile.Result{}, ctx.Err()
		}
		more, err := c.reconcileCluster(ctx, cl)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", cl.Name, err))
		}
		busy = busy || more
	}
	res := reconcile.Result{}
	if busy {
		res.RequeueAfter = 500 * time.Millisecond
	}
	return res, errors.Join(errs...)
}

// Region returns the region a cluster runs in.
func Region(cl *store.Cluster) string {
	var s api.ClusterSpec
	_ = json.Unmarshal(cl.Spec, &s)
	return s.Region
}

// reconcileCluster makes one pass over one cluster; it reports whether the
// cluster is still converging (so the next pass should come soon).
func (c *Controller) reconcileCluster(ctx context.Context, cl *store.Cluster) (bool, error) {
	log := c.Logger.With("cluster", cl.Name)
	nodes, err := c.Store.ListNodes(ctx, store.NodeFilter{Cluster: cl.Name})
	if err != nil {
		return false, err
	}
	region := Region(cl)
	insts, err := c.Provider.Describe(ctx, region, provider.Filter{Tags: map[string]string{
		provider.TagInstallation: c.Installation,
		provider.TagCluster:      cl.Name,
	}})
	if err != nil {
		return false, fmt.Errorf("describe instances: %w", err)
	}
	if c.Usage != nil {
		if err := c.Usage.Record(ctx, cl, insts); err != nil {
			log.Warn("cannot record usage", "err", err)
		}
	}
	plan := MakePlan(PlanInput{
		Cluster: cl, Nodes: nodes, Instances: insts, Now: c.Clock.Now(),
		ConsistencyGrace: c.ConsistencyGrace, CreateTimeout: c.CreateTimeout,
	})
	if plan.Empty() {
		return converging(cl.State), nil
	}
	var errs []error
	for _, o := range plan.Observe {
		if err := c.observe(ctx, o); err != nil {
			errs = append(errs, err)
		}
	}
	for _, inst := range plan.Terminate {
		log.Info("terminating instance", "instance", inst.ID, "node", inst.Tags[provider.TagNode])
		if err := c.Provider.Terminate(ctx, inst.Region, inst.ID); err != nil {
			errs = append(errs, fmt.Errorf("terminate %s: %w", inst.ID, err))
			continue
		}
		failpoint.Hit("cluster.after-terminate")
		c.event(ctx, cl.Name, inst.Tags[provider.TagNode], "instance.terminating", "terminating instance "+inst.ID)
	}
	for _, inst := range plan.Stop {
		if err := c.stopInstance(ctx, cl, inst); err != nil {
			errs = append(errs, err)
		}
	}
	for _, inst := range plan.Start {
		if err := c.startInstance(ctx, cl, inst); err != nil {
			errs = append(errs, err)
		}
	}
	for _, id := range plan.Forget {
		if err := c.Store.DeleteNode(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
		}
	}
	for _, id := range plan.Lost {
		if err := c.Store.DeleteNode(ctx, id); err != nil && !errors.Is(err, store.ErrNotFound) {
			errs = append(errs, err)
			continue
		}
		log.Warn("compute node lost: its instance is gone", "node", id)
		c.event(ctx, cl.Name, id, "node.lost", "compute node's instance is gone (reclaimed or terminated outside stratus)")
	}
	for _, id := range plan.Relaunch {
		err := updateNode(ctx, c.Store, id, func(n *store.Node) error {
			n.Generation++
			n.TokenHash = auth.AgentTokenHash(c.AgentSecret, n.ID, n.Generation)
			n.InstanceID, n.InstanceState, n.Address, n.PriceMicros = "", "", "", 0
			n.LaunchedAt, n.RegisteredAt, n.LastHeartbeat = time.Time{}, time.Time{}, time.Time{}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
			continue
		}
		c.event(ctx, cl.Name, id, "node.replacing", "instance gone; launching a replacement")
		plan.Launch = append(plan.Launch, id)
	}
	if launches(cl.State) {
		for _, id := range plan.Launch {
			if err := c.launch(ctx, cl, id); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if plan.NewState != "" {
		changed := false
		err := c.updateClusterNotify(ctx, cl.Name, func(x *store.Cluster) error {
			// The plan was made for the state read at the start of the
			// pass; if it has changed since (a delete came in), the next
			// pass decides again rather than overwrite it.
			if x.State != cl.State {
				return nil
			}
			x.State, x.Reason = plan.NewState, plan.Reason
			changed = true
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		} else if changed {
			msg := "cluster is " + string(plan.NewState)
			if plan.Reason != "" {
				msg += ": " + plan.Reason
			}
			log.Info(msg)
			c.event(ctx, cl.Name, "", "cluster."+string(plan.NewState), msg)
		}
	}
	if plan.DeleteCluster {
		log.Info("cluster deleted: every instance is gone")
		if err := c.deleteCluster(ctx, cl); err != nil {
			errs = append(errs, err)
		}
	}
	return true, errors.Join(errs...)
}

func (c *Controller) observe(ctx context.Context, o Observation) error {
	var first bool
	var cluster string
	err := updateNode(ctx, c.Store, o.Node, func(n *store.Node) error {
		first = n.InstanceID == ""
		cluster = n.Cluster
		if first {
			n.LastError = "" // the launch did work: its response was lost
		}
		n.InstanceID = o.Instance.ID
		n.InstanceState = string(o.Instance.State)
		n.Address = o.Instance.Address
		n.PriceMicros = o.Instance.PriceMicros
		return nil
	})
	if err == nil && first {
		c.event(ctx, cluster, o.Node, "node.found", "found instance "+o.Instance.ID+" launched earlier")
	}
	return err
}

func (c *Controller) launch(ctx context.Context, cl *store.Cluster, nodeID string) error {
	now := c.Clock.Now()
	var n *store.Node
	err := updateNode(ctx, c.Store, nodeID, func(x *store.Node) error {
		if x.LaunchedAt.IsZero() {
			x.LaunchedAt = now
		}
		n = x
		return nil
	})
	if err != nil {
		return err
	}
	spec := Launcher{Installation: c.Installation, AgentSecret: c.AgentSecret, AdvertiseURL: c.AdvertiseURL}.Spec(n,
		map[string]string{provider.TagCluster: cl.Name, provider.TagOwner: cl.Owner})
	inst, lerr := c.Provider.Launch(ctx, spec)
	failpoint.Hit("cluster.after-launch")
	if lerr != nil {
		msg := lerr.Error()
		changed := false
		err := updateNode(ctx, c.Store, nodeID, func(x *store.Node) error {
			changed = x.LastError != msg
			x.LastError = msg
			return nil
		})
		if changed {
			c.event(ctx, cl.Name, nodeID, "node.launch_failed", "launch "+string(n.Role)+" node: "+msg)
		}
		var inv *provider.InvalidError
		if errors.As(lerr, &inv) {
			return errors.Join(fmt.Errorf("launch node %s: %w", nodeID, lerr), err, c.updateClusterNotify(ctx, cl.Name, func(x *store.Cluster) error {
				if x.State == store.ClusterCreating {
					x.State, x.Reason = store.ClusterFailed, "launch "+string(n.Role)+" node: "+msg
				}
				return nil
			}))
		}
		if provider.IsCapacity(lerr) && n.Role == store.RoleCompute {
			// The fleet launches another type instead.
			if c.OnCapacity != nil {
				c.OnCapacity(n.Region, n.Type)
			}
			err = errors.Join(err, updateNode(ctx, c.Store, nodeID, func(x *store.Node) error {
				x.Terminate = true
				return nil
			}))
		}
		if provider.IsCapacity(lerr) {
			err = errors.Join(err, updateCluster(ctx, c.Store, cl.Name, func(x *store.Cluster) error {
				if x.State == store.ClusterCreating {
					x.Reason = "waiting for capacity: " + msg
				}
				return nil
			}))
		}
		return errors.Join(fmt.Errorf("launch node %s: %w", nodeID, lerr), err)
	}
	err = updateNode(ctx, c.Store, nodeID, func(x *store.Node) error {
		x.InstanceID = inst.ID
		x.InstanceState = string(inst.State)
		x.Address = inst.Address
		x.PriceMicros = inst.PriceMicros
		x.LastError = ""
		return nil
	})
	if err != nil {
		return err
	}
	c.Logger.Info("launched instance", "cluster", cl.Name, "node", nodeID, "instance", inst.ID, "type", inst.Type)
	c.event(ctx, cl.Name, nodeID, "node.launched", fmt.Sprintf("launched %s node %s (%s)", n.Role, inst.ID, inst.Type))
	return nil
}

func (c *Controller) event(ctx context.Context, cluster, node, kind, msg string) {
	appendEvent(ctx, c.Store, c.Clock, c.Logger, cluster, node, kind, msg)
}

func appendEvent(ctx context.Context, st store.Queries, clk clock.Clock, log *slog.Logger, cluster, node, kind, msg string) {
	e := &store.Event{Time: clk.Now(), Cluster: cluster, Node: node, Kind: kind, Message: msg}
	if err := st.AppendEvent(ctx, e); err != nil {
		log.Warn("cannot record event", "kind", kind, "err", err)
	}
}

// updateNode re-reads a node in a transaction, applies fn and writes it.
func updateNode(ctx context.Context, st store.Store, id string, fn func(*store.Node) error) error {
	return st.WithTx(ctx, func(q store.Queries) error {
		n, err := q.GetNode(ctx, id)
		if err != nil {
			return fmt.Errorf("node %s: %w", id, err)
		}
		if err := fn(n); err != nil {
			return err
		}
		return q.UpdateNode(ctx, n)
	})
}

// updateCluster re-reads a cluster in a transaction, applies fn and writes it.
func updateCluster(ctx context.Context, st store.Store, name string, fn func(*store.Cluster) error) error {
	return st.WithTx(ctx, func(q store.Queries) error {
		_, _, err := updateClusterTx(ctx, q, name, fn)
		return err
	})
}

// updateClusterTx re-reads a cluster within q, applies fn and writes it;
// it returns the cluster as written and its state before fn.
func updateClusterTx(ctx context.Context, q store.Queries, name string, fn func(*store.Cluster) error) (*store.Cluster, store.ClusterState, error) {
	cl, err := q.GetCluster(ctx, name)
	if err != nil {
		return nil, "", fmt.Errorf("cluster %s: %w", name, err)
	}
	before := cl.State
	if err := fn(cl); err != nil {
		return nil, "", err
	}
	return cl, before, q.UpdateCluster(ctx, cl)
}

// converging reports whether a cluster in state s is on its way to another
// state, so that its next pass should come soon.
func converging(s store.ClusterState) bool {
	switch s {
	case store.ClusterCreating, store.ClusterDeleting, store.ClusterStopping, store.ClusterStarting:
		return true
	}
	return false
}

// launches reports whether nodes of a cluster in state s are launched:
// not while it is deleted, failed, stopping or stopped.
func launches(s store.ClusterState) bool {
	switch s {
	case store.ClusterDeleting, store.ClusterFailed, store.ClusterStopping, store.ClusterStopped:
		return false
	}
	return true
}

// stopInstance stops a node's instance (its disk is kept). Repeating it is
// harmless: stopping a stopped instance does nothing.
func (c *Controller) stopInstance(ctx context.Context, cl *store.Cluster, inst provider.Instance) error {
	node := inst.Tags[provider.TagNode]
	c.Logger.Info("stopping instance", "cluster", cl.Name, "node", node, "instance", inst.ID)
	if err := c.Provider.Stop(ctx, inst.Region, inst.ID); err != nil {
		return fmt.Errorf("stop %s: %w", inst.ID, err)
	}
	failpoint.Hit("cluster.after-stop")
	c.event(ctx, cl.Name, node, "instance.stopping", "stopping instance "+inst.ID)
	return nil
}

// startInstance starts a node's stopped instance. The node's registration
// is cleared first (its agent is not running while the instance is
// stopped), so that the cluster is running again only once the agent has
// registered anew. Repeating it is harmless.
func (c *Controller) startInstance(ctx context.Context, cl *store.Cluster, inst provider.Instance) error {
	node := inst.Tags[provider.TagNode]
	err := updateNode(ctx, c.Store, node, func(n *store.Node) error {
		n.RegisteredAt, n.LastHeartbeat = time.Time{}, time.Time{}
		return nil
	})
	if err != nil {
		return err
	}
	c.Logger.Info("starting instance", "cluster", cl.Name, "node", node, "instance", inst.ID)
	if err := c.Provider.Start(ctx, inst.Region, inst.ID); err != nil {
		return fmt.Errorf("start %s: %w", inst.ID, err)
	}
	failpoint.Hit("cluster.after-start")
	c.event(ctx, cl.Name, node, "instance.starting", "starting instance "+inst.ID)
	return nil
}

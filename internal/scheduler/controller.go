package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/fleet"
	"github.com/stratus-cloud/stratus/internal/jobs"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Defaults for knobs a cluster spec leaves empty.
const (
	defaultBatchWindow   = 10 * time.Second
	defaultIdleTimeout   = 10 * time.Minute
	defaultLaunchLatency = 2 * time.Minute
	// timeLimitGrace is how long past its time limit a job may still be
	// reported by its agents before the control plane ends it itself.
	timeLimitGrace = 30 * time.Second
	// CapacityCooldown is how long a type that ran out of capacity is
	// avoided.
	CapacityCooldown = 10 * time.Minute
)

// Capacity remembers instance types that ran out of capacity, per region,
// until their cool-down ends. The cluster controller reports, the
// scheduler reads. Safe for concurrent use.
type Capacity struct {
	Clock clock.Clock
	mu    sync.Mutex
	until map[string]time.Time // region/type → until
}

// Report records that typ had no capacity in region just now.
func (c *Capacity) Report(region, typ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	c.until[region+"/"+typ] = c.Clock.Now().Add(CapacityCooldown)
}

// Unavailable returns the types of region avoided now, with until when.
func (c *Capacity) Unavailable(region string, now time.Time) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]time.Time{}
	for k, t := range c.until {
		if len(k) > len(region) && k[:len(region)+1] == region+"/" && t.After(now) {
			out[k[len(region)+1:]] = t
		}
	}
	return out
}

// Controller places jobs and sizes fleets.
type Controller struct {
	Store       store.Store
	Clock       clock.Clock
	Logger      *slog.Logger
	Hub         *dispatch.Hub
	Jobs        *Service
	Billing     cost.Billing
	Capacity    *Capacity
	AgentSecret string
	// OnScale, if set, is told of each applied fleet decision (its Up
	// and Down codes say why nodes were added and removed).
	OnScale func(d fleet.Decision)

	mu     sync.Mutex
	status map[string]string // cluster → why the fleet has its size
	// since is when this controller made its first pass: a job's agents
	// get the grace after it to report an end that came while the control
	// plane was away, before the control plane ends the job itself.
	since time.Time
}

var _ reconcile.Controller = (*Controller)(nil)

// Name implements reconcile.Controller.
func (c *Controller) Name() string { return "scheduler" }

// FleetStatus says why a cluster's fleet has the size it has.
func (c *Controller) FleetStatus(cluster string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status[cluster]
}

// pruneStatus forgets the fleet status of clusters that no longer exist.
func (c *Controller) pruneStatus(clusters []*store.Cluster) {
	live := make(map[string]bool, len(clusters))
	for _, cl := range clusters {
		live[cl.Name] = true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for name := range c.status {
		if !live[name] {
			delete(c.status, name)
		}
	}
}

func (c *Controller) setStatus(cluster, s string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.status == nil {
		c.status = map[string]string{}
	}
	c.status[cluster] = s
}

// Reconcile makes one pass over every cluster.
func (c *Controller) Reconcile(ctx context.Context) (reconcile.Result, error) {
	if c.since.IsZero() {
		c.since = c.Clock.Now()
	}
	clusters, err := c.Store.ListClusters(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	var errs []error
	var next time.Time
	for _, cl := range clusters {
		n, err := c.reconcileCluster(ctx, cl)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", cl.Name, err))
		}
		if !n.IsZero() && (next.IsZero() || n.Before(next)) {
			next = n
		}
	}
	c.pruneStatus(clusters)
	res := reconcile.Result{}
	if !next.IsZero() {
		res.RequeueAfter = max(next.Sub(c.Clock.Now()), 100*time.Millisecond)
	}
	return res, errors.Join(errs...)
}

// nodeState is what the scheduler knows of one compute node this pass.
type nodeState struct {
	n     *store.Node
	ready bool
	busy  bool
	until time.Time
}

func (c *Controller) reconcileCluster(ctx context.Context, cl *store.Cluster) (time.Time, error) {
	now := c.Clock.Now()
	// One read of the cluster's jobs serves both the queue and the
	// fleet's view of recent arrivals.
	all, err := c.Store.ListJobs(ctx, store.JobFilter{Cluster: cl.Name})
	if err != nil {
		return time.Time{}, err
	}
	var active []*store.Job
	for _, j := range all {
		if j.State == store.JobQueued || j.State == store.JobRunning {
			active = append(active, j)
		}
	}
	if cl.State == store.ClusterDeleting || cl.State == store.ClusterFailed {
		var errs []error
		for _, j := range active {
			if err := c.endJob(ctx, j.ID, store.JobCancelled, fmt.Sprintf("cluster %s is %s", cl.Name, cl.State)); err != nil {
				errs = append(errs, err)
			}
		}
		return time.Time{}, errors.Join(errs...)
	}
	if cl.State != store.ClusterRunning {
		return time.Time{}, nil
	}
	sp := clusterSpec(cl)
	nodes, err := c.Store.ListNodes(ctx, store.NodeFilter{Cluster: cl.Name})
	if err != nil {
		return time.Time{}, err
	}
	byID := map[string]*store.Node{}
	for _, n := range nodes {
		byID[n.ID] = n
	}
	var next time.Time
	soonest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}

	// 1. Running jobs: lost nodes, time limits.
	var queued []*store.Job
	var running []*store.Job
	var errs []error
	for _, j := range active {
		if j.State == store.JobQueued {
			queued = append(queued, j)
			continue
		}
		if lost := lostNode(j, byID); lost != "" {
			if err := c.requeue(ctx, j.ID, lost, sp.Compute.MaxRequeues); err != nil {
				errs = append(errs, err)
				running = append(running, j) // its nodes stay busy until it is requeued
			}
			continue
		}
		deadline := j.StartedAt.Add(j.TimeLimit)
		if c.since.After(deadline) {
			deadline = c.since
		}
		deadline = deadline.Add(timeLimitGrace)
		if !now.Before(deadline) {
			if err := c.endJob(ctx, j.ID, store.JobTimedOut, fmt.Sprintf("killed at its time limit (%s)", j.TimeLimit)); err != nil {
				errs = append(errs, err)
				running = append(running, j)
			}
			continue
		}
		soonest(deadline)
		running = append(running, j)
	}
	if len(errs) > 0 {
		return next, errors.Join(errs...)
	}

	// 2. Placement.
	states := map[string]*nodeState{}
	var computeIDs []string
	for _, n := range nodes {
		if n.Role != store.RoleCompute || n.Terminate {
			continue
		}
		states[n.ID] = &nodeState{n: n, ready: n.InstanceState == "running" && !n.RegisteredAt.IsZero() && n.InterruptionAt.IsZero()}
		computeIDs = append(computeIDs, n.ID)
	}
	var runningIn []jobs.RunningJob
	for _, j := range running {
		ends := j.StartedAt.Add(j.TimeLimit)
		runningIn = append(runningIn, jobs.RunningJob{ID: j.ID, Nodes: j.Assigned, EndsBy: ends})
		for _, id := range j.Assigned {
			if st, ok := states[id]; ok {
				st.busy, st.until = true, ends
			}
		}
	}
	// Idle ready nodes in the order the fleet planner would keep them: the
	// ones left idle are the cheapest to remove.
	var candidates []fleet.Node
	for _, id := range computeIDs {
		if st := states[id]; st.ready && !st.busy {
			candidates = append(candidates, fleet.Node{ID: id, Type: st.n.Type, Ready: true,
				LaunchedAt: launchedAt(st.n, now), IdleSince: idleSince(st.n)})
		}
	}
	idle := fleet.UseOrder(candidates, now, c.Billing)
	var queue []jobs.QueuedJob
	for _, j := range queued {
		queue = append(queue, jobs.QueuedJob{ID: j.ID, Nodes: j.Nodes, TimeLimit: j.TimeLimit, SubmittedAt: j.SubmittedAt})
	}
	placed := jobs.Place(jobs.Input{Now: now, Queue: queue, Running: runningIn, Idle: idle})
	started := map[int64]bool{}
	for _, a := range placed.Assignments {
		if err := c.start(ctx, a, now); err != nil {
			c.Logger.Warn("cannot start job", "job", a.Job, "err", err)
			continue
		}
		started[a.Job] = true
		for _, id := range a.Nodes {
			states[id].busy = true
		}
	}

	// 3. The fleet.
	if len(sp.Compute.Types) == 0 {
		return next, nil
	}
	policy := c.policy(sp, nodes)
	var fn []fleet.Node
	for _, id := range computeIDs {
		st := states[id]
		if !st.n.InterruptionAt.IsZero() {
			continue // going away: the fleet plans without it
		}
		fn = append(fn, fleet.Node{
			ID: id, Type: st.n.Type, Ready: st.ready, Busy: st.busy, BusyUntil: st.until,
			LaunchedAt: launchedAt(st.n, now), IdleSince: idleSince(st.n),
		})
	}
	var demand []fleet.Demand
	for _, j := range queued {
		if !started[j.ID] {
			demand = append(demand, fleet.Demand{Nodes: j.Nodes, TimeLimit: j.TimeLimit, SubmittedAt: j.SubmittedAt})
		}
	}
	recent := recentArrivals(all, now)
	dec := fleet.Plan(fleet.Input{
		Now: now, Policy: policy, Nodes: fn, Queue: demand,
		Unavailable: c.Capacity.Unavailable(sp.Region, now), Recent: recent,
	})
	c.setStatus(cl.Name, dec.Reason)
	soonest(dec.NextCheck)
	if err := c.apply(ctx, cl, sp, dec); err != nil {
		return next, err
	}
	if c.OnScale != nil {
		c.OnScale(dec)
	}
	return next, nil
}

// lostNode returns the id of a node of j that is gone or going (empty if
// none): its record is gone, it is to be terminated, its instance is not
// running, or its spot instance has a reclaim notice.
func lostNode(j *store.Job, nodes map[string]*store.Node) string {
	for _, id := range j.Assigned {
		n, ok := nodes[id]
		if !ok || n.Terminate || !n.InterruptionAt.IsZero() || (n.InstanceState != "" && n.InstanceState != "running") {
			return id
		}
	}
	return ""
}

func idleSince(n *store.Node) time.Time {
	if n.IdleSince.After(n.RegisteredAt) {
		return n.IdleSince
	}
	return n.RegisteredAt
}

func launchedAt(n *store.Node, now time.Time) time.Time {
	if n.LaunchedAt.IsZero() {
		return now
	}
	return n.LaunchedAt
}

// policy builds the fleet policy from a cluster's spec; the launch latency
// is the median boot time seen on the cluster's nodes.
func (c *Controller) policy(sp api.ClusterSpec, nodes []*store.Node) fleet.Policy {
	p := fleet.Policy{
		Min: sp.Compute.MinNodes, Max: sp.Compute.MaxNodes, Types: sp.Compute.Types,
		Autoscaling: sp.Compute.Autoscaling != "disabled",
		ScaleDown:   fleet.ScaleDown(sp.Compute.ScaleDown),
		IdleTimeout: durationOr(sp.Compute.IdleTimeout, defaultIdleTimeout),
		BatchWindow: durationOr(sp.Compute.BatchWindow, defaultBatchWindow),
		Billing:     c.Billing,
	}
	if p.ScaleDown == "" {
		p.ScaleDown = fleet.ScaleDownStratus
	}
	if !p.Autoscaling {
		p.Min, p.Max = sp.Compute.InitialNodes, sp.Compute.InitialNodes
	}
	var boots []time.Duration
	for _, n := range nodes {
		if !n.LaunchedAt.IsZero() && n.RegisteredAt.After(n.LaunchedAt) {
			boots = append(boots, n.RegisteredAt.Sub(n.LaunchedAt))
		}
	}
	p.LaunchLatency = defaultLaunchLatency
	if len(boots) > 0 {
		sort.Slice(boots, func(i, j int) bool { return boots[i] < boots[j] })
		p.LaunchLatency = boots[len(boots)/2]
	}
	return p
}

// recentArrivals returns the jobs submitted in the last hours, oldest first,
// for the fleet's prediction.
func recentArrivals(all []*store.Job, now time.Time) []fleet.Arrival {
	var out []fleet.Arrival
	for _, j := range all {
		if now.Sub(j.SubmittedAt) > fleet.RecentWindow {
			continue
		}
		a := fleet.Arrival{At: j.SubmittedAt, Nodes: j.Nodes}
		if j.State.Done() && !j.StartedAt.IsZero() {
			a.Runtime = j.EndedAt.Sub(j.StartedAt)
		}
		out = append(out, a)
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].At.Before(out[b].At) })
	return out
}

// start moves a queued job to running on nodes.
func (c *Controller) start(ctx context.Context, a jobs.Assignment, now time.Time) error {
	err := c.Store.WithTx(ctx, func(q store.Queries) error {
		j, err := q.GetJob(ctx, a.Job)
		if err != nil {
			return err
		}
		if j.State != store.JobQueued {
			return fmt.Errorf("job %d is %s, not queued", j.ID, j.State)
		}
		j.State, j.Reason = store.JobRunning, ""
		j.Attempt++
		j.Assigned = a.Nodes
		j.RankExit = make([]int, len(a.Nodes))
		for i := range j.RankExit {
			j.RankExit[i] = -1
		}
		j.StartedAt = now
		return q.UpdateJob(ctx, j)
	})
	if err != nil {
		return err
	}
	c.Logger.Info("job started", "job", a.Job, "nodes", a.Nodes)
	for _, id := range a.Nodes {
		c.Hub.Wake(id)
	}
	return nil
}

// requeue puts a running job whose node was lost back in the queue, or
// fails it once it has been requeued maxRequeues times.
func (c *Controller) requeue(ctx context.Context, id int64, lost string, maxRequeues int) error {
	var j *store.Job
	var nodes []string
	err := c.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		j, err = q.GetJob(ctx, id)
		if err != nil || j.State != store.JobRunning {
			return err
		}
		nodes = j.Assigned
		now := c.Clock.Now()
		if err := markIdle(ctx, q, j.Assigned, now); err != nil {
			return err
		}
		if j.Requeues >= maxRequeues {
			j.State, j.EndedAt = store.JobFailed, now
			j.Reason = fmt.Sprintf("node %s was lost and the job was already requeued %d times (max_requeues)", lost, j.Requeues)
			j.ExitCode = -1
			return q.UpdateJob(ctx, j)
		}
		j.Requeues++
		j.State = store.JobQueued
		j.Reason = fmt.Sprintf("node %s was lost (reclaimed or gone); requeued, %d of %d", lost, j.Requeues, maxRequeues)
		j.Assigned, j.RankExit, j.StartedAt = nil, nil, time.Time{}
		return q.UpdateJob(ctx, j)
	})
	if err != nil {
		return fmt.Errorf("requeue job %d: %w", id, err)
	}
	c.Logger.Warn("job requeued: node lost", "job", id, "node", lost, "requeues", j.Requeues)
	// Wake the old attempt's nodes: their ranks are to be killed.
	c.Jobs.afterEnd(&store.Job{ID: id, Assigned: nodes})
	return nil
}

// endJob ends a job the control plane itself stops (time limit, cluster
// gone); agents kill its processes on their next poll.
func (c *Controller) endJob(ctx context.Context, id int64, state store.JobState, reason string) error {
	var j *store.Job
	err := c.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		j, err = q.GetJob(ctx, id)
		if err != nil || j.State.Done() {
			return err
		}
		wasRunning := j.State == store.JobRunning
		j.State, j.Reason, j.EndedAt = state, reason, c.Clock.Now()
		if err := q.UpdateJob(ctx, j); err != nil {
			return err
		}
		if wasRunning {
			return markIdle(ctx, q, j.Assigned, j.EndedAt)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("end job %d: %w", id, err)
	}
	c.Logger.Info("job ended by the control plane", "job", id, "state", state, "reason", reason)
	c.Jobs.afterEnd(j)
	return nil
}

// apply carries out a fleet decision: new node records (the cluster
// controller launches them) and idle nodes marked for removal.
func (c *Controller) apply(ctx context.Context, cl *store.Cluster, sp api.ClusterSpec, dec fleet.Decision) error {
	now := c.Clock.Now()
	return c.Store.WithTx(ctx, func(q store.Queries) error {
		cur, err := q.GetCluster(ctx, cl.Name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if cur.State != store.ClusterRunning {
			return nil // deleted (or failed) since this pass read it: add nothing
		}
		for _, l := range dec.Launch {
			for i := 0; i < l.Count; i++ {
				n := cluster.NewNode(c.AgentSecret, cl.Name, sp, store.RoleCompute, l.Type, now)
				if err := q.CreateNode(ctx, n); err != nil {
					return err
				}
			}
			if l.Count > 0 {
				if err := q.AppendEvent(ctx, &store.Event{Time: now, Cluster: cl.Name, Kind: "fleet.scale_up",
					Message: fmt.Sprintf("adding %d %s node(s): %s", l.Count, l.Type, dec.Reason)}); err != nil {
					return err
				}
			}
		}
		for _, id := range dec.Remove {
			n, err := q.GetNode(ctx, id)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if n.Terminate {
				continue
			}
			n.Terminate = true
			if err := q.UpdateNode(ctx, n); err != nil {
				return err
			}
			if err := q.AppendEvent(ctx, &store.Event{Time: now, Cluster: cl.Name, Node: id, Kind: "fleet.scale_down",
				Message: "removing idle node: " + dec.Reason}); err != nil {
				return err
			}
		}
		return nil
	})
}

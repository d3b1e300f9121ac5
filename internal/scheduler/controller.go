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
	// startWindow is how long after its creation a cluster's fleet is
	// started with initial_nodes (see fleetStarted).
	startWindow = time.Hour
)

// startedKeyPrefix prefixes the installation-wide (meta) key that says a
// cluster's fleet has started: fleet.started.CLUSTER, valued with the
// cluster's creation time (so a new cluster of the same name has not).
const startedKeyPrefix = "fleet.started."

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
	// started caches the clusters whose fleet has started: cluster →
	// its creation time (see fleetStarted).
	started map[string]time.Time
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
		if cl.State == store.ClusterDeleting {
			if err := c.forgetStarted(ctx, cl.Name); err != nil {
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
	if err := c.syncCapacity(ctx, sp.Region, sp.Compute.Types, now); err != nil {
		// The cool-downs in memory still hold; the store gets them on a
		// later pass.
		c.Logger.Warn("capacity cool-downs not in sync with the store", "cluster", cl.Name, "err", err)
	}
	fleetStarted, err := c.fleetStarted(ctx, cl, now)
	if err != nil {
		return next, err
	}
	initial := 0
	if !fleetStarted {
		initial = sp.Compute.InitialNodes
	}
	dec := fleet.Plan(fleet.Input{
		Now: now, Policy: policy, Nodes: fn, Queue: demand,
		Unavailable: c.Capacity.Unavailable(sp.Region, now), Recent: recent, Initial: initial,
	})
	c.setStatus(cl.Name, dec.Reason)
	soonest(dec.NextCheck)
	if err := c.apply(ctx, cl, sp, dec, !fleetStarted); err != nil {
		return next, err
	}
	if !fleetStarted {
		c.markStarted(cl)
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
			j.Reason = fmt.Sprintf("node %s was lost and the job was already requeued %s (max_requeues)", lost, times(j.Requeues))
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

// times says how many times: "1 time", "3 times".
func times(n int) string {
	if n == 1 {
		return "1 time"
	}
	return fmt.Sprintf("%d times", n)
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
// controller launches them) and idle nodes marked for removal; with start,
// it also records that the cluster's fleet has started, in the same
// transaction.
func (c *Controller) apply(ctx context.Context, cl *store.Cluster, sp api.ClusterSpec, dec fleet.Decision, start bool) error {
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
		if start {
			if err := q.SetMeta(ctx, startedKeyPrefix+cl.Name, startedValue(cl)); err != nil {
				return err
			}
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
				Message: dec.Reason}); err != nil {
				return err
			}
		}
		return nil
	})
}

// fleetStarted reports whether cl's fleet has started: the scheduler has
// applied a decision for it since it became running. Until then the fleet
// is planned with initial_nodes as its starting size, so that initial
// nodes that got no capacity at creation (and were given up) are replaced
// in full by a fallback type rather than only up to min_nodes. A cluster
// older than startWindow counts as started.
func (c *Controller) fleetStarted(ctx context.Context, cl *store.Cluster, now time.Time) (bool, error) {
	if now.Sub(cl.CreatedAt) >= startWindow {
		return true, nil
	}
	c.mu.Lock()
	at, ok := c.started[cl.Name]
	c.mu.Unlock()
	if ok && at.Equal(cl.CreatedAt) {
		return true, nil
	}
	v, err := c.Store.GetMeta(ctx, startedKeyPrefix+cl.Name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("has the fleet started: %w", err)
	}
	if v != startedValue(cl) {
		return false, nil // a cluster of the same name, deleted since
	}
	c.markStarted(cl)
	return true, nil
}

func startedValue(cl *store.Cluster) string { return cl.CreatedAt.UTC().Format(time.RFC3339Nano) }

func (c *Controller) markStarted(cl *store.Cluster) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.started == nil {
		c.started = map[string]time.Time{}
	}
	c.started[cl.Name] = cl.CreatedAt
}

// forgetStarted removes the started mark of a cluster that is going away.
func (c *Controller) forgetStarted(ctx context.Context, name string) error {
	_, err := c.Store.GetMeta(ctx, startedKeyPrefix+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err == nil {
		err = c.Store.DeleteMeta(ctx, startedKeyPrefix+name)
	}
	if err != nil {
		return fmt.Errorf("forget that the fleet started: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.started, name)
	return nil
}

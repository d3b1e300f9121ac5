package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Caller is who makes a request.
type Caller struct {
	User  string
	Admin bool
}

// CanSee reports whether the caller may see and change a cluster owned by owner.
func (c Caller) CanSee(owner string) bool { return c.Admin || c.User == owner }

// visibleCluster reads cluster name through q; one the caller may not see
// is store.ErrNotFound, as if it did not exist. A nil caller is the
// control plane itself, which sees every cluster.
func visibleCluster(ctx context.Context, q store.Queries, caller *Caller, name string) (*store.Cluster, error) {
	cl, err := q.GetCluster(ctx, name)
	if err == nil && caller != nil && !caller.CanSee(cl.Owner) {
		return nil, store.ErrNotFound
	}
	return cl, err
}

// Service carries out cluster requests: it validates, records desired state
// and answers queries. The controller does the rest.
type Service struct {
	Store    store.Store
	Catalog  *cost.Catalog
	Template api.ClusterSpec
	// DefaultRegion is used when neither request nor template names one.
	DefaultRegion string
	// Regions, if not empty, are the regions a cluster may name.
	Regions          []string
	Clock            clock.Clock
	Logger           *slog.Logger
	AgentSecret      string
	HeartbeatTimeout time.Duration
	// Wake asks the controllers for a pass (may be nil).
	Wake func()
	// CostSoFar, if set, says what the cluster created at created has cost
	// until now.
	CostSoFar func(ctx context.Context, cluster string, created, now time.Time) (cost.Micros, error)
	// FleetStatus, if set, says why a cluster's fleet has its size.
	FleetStatus func(cluster string) string
	// Policy, if set, may refuse a request by user for the merged spec
	// (a spec.Errors naming the rule broken) before anything is stored.
	Policy func(ctx context.Context, user string, sp api.ClusterSpec) error
	// Customisation, if set, says what the policy installs on user's new
	// clusters; it is captured into the store at creation (customisation.go).
	Customisation func(user string) api.Customisation
	// StartPolicy, if set, may refuse to start a stopped cluster of owner
	// again (a spec.Errors naming the rule: the monthly budget is spent).
	StartPolicy func(ctx context.Context, owner string) error
	// Notify, if set, is told when a node's failed bootstrap fails the
	// cluster (the controller tells of every other state change).
	Notify notify.Notifier
}

// decorate adds what other parts of the control plane know of a cluster.
func (s *Service) decorate(ctx context.Context, c *api.Cluster) {
	c.CostSoFar = cost.Micros(0).String()
	if s.CostSoFar != nil {
		if m, err := s.CostSoFar(ctx, c.Name, c.CreatedAt, s.Clock.Now()); err == nil {
			c.CostSoFar = m.String()
		} else {
			s.Logger.Warn("cannot compute cost so far", "cluster", c.Name, "err", err)
		}
	}
	if s.FleetStatus != nil {
		c.Fleet = s.FleetStatus(c.Name)
	}
}

func (s *Service) wake() {
	if s.Wake != nil {
		s.Wake()
	}
}

// Create validates and records a new cluster and its initial nodes. A
// *spec.Errors error means the request was invalid; store.ErrConflict that
// the name is taken. Nothing is recorded unless everything is valid.
func (s *Service) Create(ctx context.Context, caller Caller, req api.CreateClusterRequest) (api.Cluster, error) {
	if err := spec.ValidateName(req.Name); err != nil {
		return api.Cluster{}, err
	}
	sp, err := s.BuildSpec(req)
	if err != nil {
		return api.Cluster{}, err
	}
	if len(s.Regions) > 0 && !contains(s.Regions, sp.Region) {
		field, line := spec.Where([]byte(req.Request), req.Filename, "region")
		return api.Cluster{}, spec.Errors{{Field: field, Line: line, Message: fmt.Sprintf("unknown region %q; this provider has %s", sp.Region, strings.Join(s.Regions, ", "))}}
	}
	if s.Policy != nil {
		if err := s.Policy(ctx, caller.User, sp); err != nil {
			return api.Cluster{}, err
		}
	}
	raw, err := json.Marshal(sp)
	if err != nil {
		return api.Cluster{}, err
	}
	custom, err := s.captureCustomisation(req.Name, caller.User)
	if err != nil {
		return api.Cluster{}, err
	}
	now := s.Clock.Now()
	cl := &store.Cluster{Name: req.Name, Owner: caller.User, State: store.ClusterCreating, Spec: raw, CreatedAt: now}
	var nodes []*store.Node
	nodes = append(nodes, NewNode(s.AgentSecret, req.Name, sp, store.RoleHead, sp.Head.Type, now))
	for i := 0; i < sp.Compute.InitialNodes; i++ {
		nodes = append(nodes, NewNode(s.AgentSecret, req.Name, sp, store.RoleCompute, sp.Compute.Types[0], now))
	}
	err = s.Store.WithTx(ctx, func(q store.Queries) error {
		if err := q.CreateCluster(ctx, cl); err != nil {
			return err
		}
		if custom != nil {
			if err := q.CreateCustomisation(ctx, custom); err != nil {
				return err
			}
		}
		for _, n := range nodes {
			if err := q.CreateNode(ctx, n); err != nil {
				return err
			}
		}
		return q.AppendEvent(ctx, &store.Event{Time: now, Cluster: cl.Name, Kind: "cluster.requested",
			Message: fmt.Sprintf("requested by %s: head %s, %d compute node(s)", caller.User, sp.Head.Type, sp.Compute.InitialNodes)})
	})
	if errors.Is(err, store.ErrConflict) {
		return api.Cluster{}, fmt.Errorf("a cluster named %q already exists: %w", req.Name, store.ErrConflict)
	}
	if err != nil {
		return api.Cluster{}, err
	}
	s.Logger.Info("cluster requested", "cluster", cl.Name, "owner", cl.Owner)
	s.wake()
	out := s.view(cl, nodes, nil)
	s.decorate(ctx, &out)
	return out, nil
}

// NewNode returns the record of a new node of cluster name with spec sp:
// a head node or a compute node of type typ, generation 1, with its agent
// token's hash. Compute nodes are spot instances at the spec's maximum
// price when it has one.
func NewNode(secret, name string, sp api.ClusterSpec, role store.NodeRole, typ string, now time.Time) *store.Node {
	n := &store.Node{
		ID: store.NewNodeID(), Cluster: name, Role: role, Region: sp.Region, Type: typ,
		RootVolumeGB: sp.Head.VolumeGB, Generation: 1, CreatedAt: now,
	}
	if role == store.RoleCompute {
		n.RootVolumeGB = sp.Compute.VolumeGB
		// The spec's price is validated before it is stored.
		if price, err := cost.ParseDollars(sp.Compute.SpotPrice); err == nil && sp.Compute.SpotPrice != "" {
			n.Spot, n.MaxPriceMicros = true, int64(price)
		}
	}
	n.TokenHash = auth.AgentTokenHash(secret, n.ID, n.Generation)
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// BuildSpec merges a create request's spec with the template and the
// catalog, the region defaulted, as Create stores it (before the region
// and policy checks).
func (s *Service) BuildSpec(req api.CreateClusterRequest) (api.ClusterSpec, error) {
	sp, err := spec.Build([]byte(req.Request), req.Filename, s.Template, s.Catalog)
	if err != nil {
		return api.ClusterSpec{}, err
	}
	if sp.Region == "" {
		sp.Region = s.DefaultRegion
	}
	return sp, nil
}

// Delete marks a cluster for deletion: every node is to be terminated, and
// the controller removes the record once the provider confirms they are gone.
func (s *Service) Delete(ctx context.Context, caller Caller, name string) (api.Cluster, error) {
	return s.delete(ctx, &caller, name, "deletion requested by "+caller.User)
}

// delete marks a cluster for deletion, recording why as its event; a nil
// caller is the control plane itself.
func (s *Service) delete(ctx context.Context, caller *Caller, name, why string) (api.Cluster, error) {
	var cl *store.Cluster
	var nodes []*store.Node
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		cl, err = visibleCluster(ctx, q, caller, name)
		if err != nil {
			return err
		}
		if cl.State != store.ClusterDeleting {
			cl.State, cl.Reason = store.ClusterDeleting, ""
			if err := q.UpdateCluster(ctx, cl); err != nil {
				return err
			}
			if err := q.AppendEvent(ctx, &store.Event{Time: s.Clock.Now(), Cluster: name, Kind: "cluster.deleting",
				Message: why}); err != nil {
				return err
			}
		}
		nodes, err = q.ListNodes(ctx, store.NodeFilter{Cluster: name})
		if err != nil {
			return err
		}
		for _, n := range nodes {
			if !n.Terminate {
				n.Terminate = true
				if err := q.UpdateNode(ctx, n); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return api.Cluster{}, clusterErr(name, err)
	}
	s.Logger.Info("cluster deletion requested", "cluster", name)
	s.wake()
	return s.view(cl, nodes, nil), nil
}

// Get returns one cluster with its recent events.
func (s *Service) Get(ctx context.Context, caller Caller, name string) (api.Cluster, error) {
	cl, err := visibleCluster(ctx, s.Store, &caller, name)
	if err != nil {
		return api.Cluster{}, clusterErr(name, err)
	}
	nodes, err := s.Store.ListNodes(ctx, store.NodeFilter{Cluster: name})
	if err != nil {
		return api.Cluster{}, err
	}
	events, err := s.Store.ListEvents(ctx, store.EventFilter{Cluster: name, Limit: 20})
	if err != nil {
		return api.Cluster{}, err
	}
	// Events from before this cluster was created are an earlier
	// cluster's of the same name.
	events = slices.DeleteFunc(events, func(e *store.Event) bool { return e.Time.Before(cl.CreatedAt) })
	out := s.view(cl, nodes, events)
	s.decorate(ctx, &out)
	custom, err := loadCustomisation(ctx, s.Store, name)
	if err != nil {
		return api.Cluster{}, err
	}
	out.Customisation = summary(custom)
	return out, nil
}

// List returns the clusters the caller may see.
func (s *Service) List(ctx context.Context, caller Caller) ([]api.Cluster, error) {
	cls, err := s.Store.ListClusters(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.Cluster{}
	for _, cl := range cls {
		if !caller.CanSee(cl.Owner) {
			continue
		}
		nodes, err := s.Store.ListNodes(ctx, store.NodeFilter{Cluster: cl.Name})
		if err != nil {
			return nil, err
		}
		v := s.view(cl, nodes, nil)
		s.decorate(ctx, &v)
		out = append(out, v)
	}
	return out, nil
}

// HeadNode returns the registered head node of a cluster the caller may see.
func (s *Service) HeadNode(ctx context.Context, caller Caller, name string) (*store.Node, error) {
	cl, err := visibleCluster(ctx, s.Store, &caller, name)
	if err != nil {
		return nil, clusterErr(name, err)
	}
	switch cl.State {
	case store.ClusterStopping, store.ClusterStopped, store.ClusterStarting:
		return nil, fmt.Errorf("cluster %q is %s: its head node runs nothing until it is running again (stratus cluster start %s): %w", name, cl.State, name, ErrNotReady)
	}
	nodes, err := s.Store.ListNodes(ctx, store.NodeFilter{Cluster: name})
	if err != nil {
		return nil, err
	}
	for _, n := range nodes {
		if n.Role == store.RoleHead && !n.Terminate {
			if n.RegisteredAt.IsZero() {
				return nil, fmt.Errorf("cluster %q: the head node's agent has not registered yet (cluster is %s): %w", name, cl.State, ErrNotReady)
			}
			return n, nil
		}
	}
	return nil, fmt.Errorf("cluster %q has no head node (it is %s): %w", name, cl.State, ErrNotReady)
}

// clusterErr words a store error about the named cluster for its caller.
func clusterErr(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no cluster named %q (see `stratus cluster list`): %w", name, store.ErrNotFound)
	}
	return fmt.Errorf("cluster %q: %w", name, err)
}

// ErrNotReady means the cluster cannot do that yet (or any more).
var ErrNotReady = errors.New("not ready")

// Health of a node's agent.
const (
	HealthRegistered   = "registered"
	HealthUnregistered = "unregistered"
	HealthUnhealthy    = "unhealthy"
	// HealthStopped: the instance is stopping or stopped, so its agent is
	// not expected to heartbeat.
	HealthStopped = "stopped"
)

// NodeHealth says whether a node's agent is registered and heartbeating.
func NodeHealth(n *store.Node, now time.Time, timeout time.Duration) string {
	switch {
	case n.InstanceState == string(provider.StateStopping) || n.InstanceState == string(provider.StateStopped):
		return HealthStopped
	case n.RegisteredAt.IsZero():
		return HealthUnregistered
	case timeout > 0 && now.Sub(n.LastHeartbeat) > timeout:
		return HealthUnhealthy
	default:
		return HealthRegistered
	}
}

// billing reports whether an instance in this state is billed by the hour
// (as the usage recorder bills it).
func billing(state string) bool {
	return billingState(provider.State(state)) == "running"
}

func (s *Service) view(cl *store.Cluster, nodes []*store.Node, events []*store.Event) api.Cluster {
	var sp api.ClusterSpec
	_ = json.Unmarshal(cl.Spec, &sp)
	now := s.Clock.Now()
	out := api.Cluster{
		Name: cl.Name, Owner: cl.Owner, State: string(cl.State), Reason: cl.Reason,
		CreatedAt: cl.CreatedAt.UTC(), Spec: sp, Instances: []api.Instance{},
	}
	var hourly cost.Micros
	for _, n := range nodes {
		state := n.InstanceState
		if state == "" {
			state = "launching"
		}
		health := NodeHealth(n, now, s.HeartbeatTimeout)
		in := api.Instance{
			ID: n.InstanceID, Node: n.ID, Role: string(n.Role), Type: n.Type, State: state,
			Address: n.Address, Spot: n.Spot, Health: health, LastError: n.LastError,
		}
		if billing(n.InstanceState) {
			in.HourlyCost = cost.Micros(n.PriceMicros).String()
			hourly += cost.Micros(n.PriceMicros)
		} else {
			in.HourlyCost = cost.Micros(0).String()
		}
		if !n.LastHeartbeat.IsZero() {
			t := n.LastHeartbeat.UTC()
			in.LastHeartbeat = &t
		}
		if n.Role == store.RoleHead && !n.Terminate {
			out.LoginAddress = n.Address
		}
		out.Instances = append(out.Instances, in)
		out.Nodes.Total++
		switch {
		case n.InstanceState == "running" && health == HealthUnregistered:
			out.Nodes.Running++
		case n.InstanceState == "running":
			out.Nodes.Running++
			out.Nodes.Registered++
			if health == HealthUnhealthy {
				out.Nodes.Unhealthy++
			}
		case n.InstanceState == "" || n.InstanceState == "pending":
			out.Nodes.Pending++
		}
	}
	out.HourlyCost = hourly.String()
	for _, e := range events {
		out.Events = append(out.Events, api.Event{Time: e.Time.UTC(), Node: e.Node, Kind: e.Kind, Message: e.Message})
	}
	return out
}

// RegisterAgent records that a node's agent has started; token is the
// agent's bearer token.
func (s *Service) RegisterAgent(ctx context.Context, token string, req api.RegisterRequest) (api.RegisterResponse, error) {
	var resp api.RegisterResponse
	var first bool
	var n *store.Node
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		n, err = q.GetNodeByTokenHash(ctx, auth.Hash(token))
		if err != nil {
			return err
		}
		now := s.Clock.Now()
		first = n.RegisteredAt.IsZero()
		if first {
			n.RegisteredAt = now
		}
		n.LastHeartbeat = now
		n.AgentVersion = req.Version
		if n.Address == "" {
			n.Address = req.Address
		}
		return q.UpdateNode(ctx, n)
	})
	if err != nil {
		return resp, err
	}
	if first {
		appendEvent(ctx, s.Store, s.Clock, s.Logger, n.Cluster, n.ID, "node.registered",
			fmt.Sprintf("%s node's agent registered from %s (%s)", n.Role, req.InstanceID, req.Address))
		s.Logger.Info("agent registered", "cluster", n.Cluster, "node", n.ID, "instance", req.InstanceID)
		s.wake()
	} else {
		s.Logger.Info("agent reconnected", "cluster", n.Cluster, "node", n.ID, "instance", req.InstanceID)
	}
	interval := max(s.HeartbeatTimeout/3, time.Second)
	return api.RegisterResponse{Node: n.ID, Cluster: n.Cluster, Role: string(n.Role), HeartbeatInterval: interval.String()}, nil
}

// Heartbeat records that a node's agent is alive. store.ErrNotFound means
// the token belongs to no node (the agent should register again).
func (s *Service) Heartbeat(ctx context.Context, token string) error {
	return s.Store.WithTx(ctx, func(q store.Queries) error {
		n, err := q.GetNodeByTokenHash(ctx, auth.Hash(token))
		if err != nil {
			return err
		}
		if n.RegisteredAt.IsZero() {
			return store.ErrNotFound
		}
		n.LastHeartbeat = s.Clock.Now()
		return q.UpdateNode(ctx, n)
	})
}

// AgentNode returns the node an agent token belongs to.
func (s *Service) AgentNode(ctx context.Context, token string) (*store.Node, error) {
	return s.Store.GetNodeByTokenHash(ctx, auth.Hash(token))
}

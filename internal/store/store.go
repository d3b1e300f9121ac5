// Package store defines stratus's state store: the desired and observed
// state of clusters and their nodes, API tokens, events and installation
// metadata. Implementations live in child packages (sqlite, and later
// postgres) and all pass the conformance suite in storetest.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Sentinel errors every implementation returns.
var (
	// ErrNotFound: no record with that key.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a record with that key exists already (Create), or the
	// record changed since it was read (Update: its Version did not match).
	ErrConflict = errors.New("conflict")
)

// ClusterState is where a cluster is in its lifecycle.
type ClusterState string

// Cluster states: creating → running → deleting → (record removed).
// A cluster that cannot be created is failed (it can still be deleted).
const (
	ClusterCreating ClusterState = "creating"
	ClusterRunning  ClusterState = "running"
	ClusterDeleting ClusterState = "deleting"
	ClusterFailed   ClusterState = "failed"
)

// Cluster is one cluster's record.
type Cluster struct {
	Name  string
	Owner string
	State ClusterState
	// Reason explains the state when it is failed (or why creation waits).
	Reason string
	// Spec is the merged, validated spec as JSON (an api.ClusterSpec).
	Spec      json.RawMessage
	CreatedAt time.Time
	UpdatedAt time.Time
	// Version is incremented by every successful update; Update fails with
	// ErrConflict when the stored version differs from the one passed.
	Version int64
}

// NodeRole is head or compute.
type NodeRole string

// Node roles.
const (
	RoleHead    NodeRole = "head"
	RoleCompute NodeRole = "compute"
)

// Node is one instance the store wants to exist, with what was last observed
// of it. The record is created before the instance is launched, so every
// instance stratus launches has a record (the garbage collector relies on it).
type Node struct {
	// ID is stratus's id for the node, also carried by the instance as a tag.
	ID      string
	Cluster string
	Role    NodeRole
	Region  string
	Type    string
	Spot    bool
	// MaxPriceMicros is the spot maximum price per hour (0: on-demand price).
	MaxPriceMicros int64
	RootVolumeGB   int
	// Generation is part of the launch client token: a node relaunched on
	// purpose gets a new generation, a retried launch keeps it.
	Generation int
	// TokenHash is the SHA-256 (hex) of the node's agent token.
	TokenHash string
	// Terminate is the desired state: true once the node should go.
	Terminate bool

	// Observed state.
	InstanceID    string
	InstanceState string
	Address       string
	PriceMicros   int64
	LaunchedAt    time.Time
	RegisteredAt  time.Time
	LastHeartbeat time.Time
	AgentVersion  string
	// LastError is the last error launching or terminating the instance.
	LastError string

	CreatedAt time.Time
	Version   int64
}

// NodeFilter selects nodes in ListNodes. Empty fields match everything.
type NodeFilter struct {
	Cluster string
}

// Token is an API token: only its hash is stored.
type Token struct {
	// Hash is the SHA-256 (hex) of the token.
	Hash      string
	User      string
	Role      string
	CreatedAt time.Time
}

// Event is something that happened, for `show` and the status page.
type Event struct {
	ID      int64
	Time    time.Time
	Cluster string
	Node    string
	// Kind is a short machine-readable word: "cluster.created", "node.launched".
	Kind    string
	Message string
}

// EventFilter selects events. Empty fields match everything; Limit 0 means
// no limit. Events come newest first.
type EventFilter struct {
	Cluster string
	Limit   int
}

// Queries are the per-table operations. Every method takes ctx first.
type Queries interface {
	// GetMeta returns an installation-wide value; ErrNotFound if unset.
	GetMeta(ctx context.Context, key string) (string, error)
	// SetMeta sets an installation-wide value, replacing any earlier one.
	SetMeta(ctx context.Context, key, value string) error

	// CreateCluster inserts c (Version becomes 1); ErrConflict if the name exists.
	CreateCluster(ctx context.Context, c *Cluster) error
	GetCluster(ctx context.Context, name string) (*Cluster, error)
	// ListClusters returns every cluster ordered by name.
	ListClusters(ctx context.Context) ([]*Cluster, error)
	// UpdateCluster writes c if its Version is current and increments it;
	// ErrConflict otherwise, ErrNotFound if it is gone.
	UpdateCluster(ctx context.Context, c *Cluster) error
	// DeleteCluster removes the cluster record; ErrNotFound if absent.
	DeleteCluster(ctx context.Context, name string) error

	// CreateNode inserts n (Version becomes 1); ErrConflict if the id exists.
	CreateNode(ctx context.Context, n *Node) error
	GetNode(ctx context.Context, id string) (*Node, error)
	// GetNodeByTokenHash finds the node whose agent token hashes to hash.
	GetNodeByTokenHash(ctx context.Context, hash string) (*Node, error)
	// ListNodes returns matching nodes ordered by creation time, then id.
	ListNodes(ctx context.Context, f NodeFilter) ([]*Node, error)
	// UpdateNode writes n if its Version is current and increments it.
	UpdateNode(ctx context.Context, n *Node) error
	// DeleteNode removes the node record; ErrNotFound if absent.
	DeleteNode(ctx context.Context, id string) error

	// CreateToken stores a token hash; ErrConflict if the hash exists.
	CreateToken(ctx context.Context, t *Token) error
	GetTokenByHash(ctx context.Context, hash string) (*Token, error)

	// AppendEvent stores e and sets its ID.
	AppendEvent(ctx context.Context, e *Event) error
	ListEvents(ctx context.Context, f EventFilter) ([]*Event, error)
}

// Store is a state store. Its Queries run outside any transaction; WithTx
// runs fn in one transaction, committed if fn returns nil and rolled back
// otherwise. fn must use only the Queries it is given.
type Store interface {
	Queries
	WithTx(ctx context.Context, fn func(q Queries) error) error
	Close() error
}

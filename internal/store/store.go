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

// Node roles. A worker belongs to no cluster: it is a region's instance
// that schedules start, run a command on and stop.
const (
	RoleHead    NodeRole = "head"
	RoleCompute NodeRole = "compute"
	RoleWorker  NodeRole = "worker"
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
	// IdleSince is when the node last finished a job (zero: never ran one;
	// then RegisteredAt is when it became idle).
	IdleSince time.Time
	// InterruptionAt is when the provider will reclaim this spot node, as
	// its agent reported (zero: no notice).
	InterruptionAt time.Time

	CreatedAt time.Time
	Version   int64
}

// NodeFilter selects nodes in ListNodes. Empty fields match everything;
// set fields must all match.
type NodeFilter struct {
	Cluster string
	Role    NodeRole
	Region  string
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

	JobQueries
}

// Store is a state store. Its Queries run outside any transaction; WithTx
// runs fn in one transaction, committed if fn returns nil and rolled back
// otherwise. fn must use only the Queries it is given.
type Store interface {
	Queries
	WithTx(ctx context.Context, fn func(q Queries) error) error
	Close() error
}

// JobState is where a job is in its lifecycle.
type JobState string

// Job states: queued → running → succeeded | failed | cancelled | timed_out.
// A job whose node is reclaimed goes back to queued.
const (
	JobQueued    JobState = "queued"
	JobRunning   JobState = "running"
	JobSucceeded JobState = "succeeded"
	JobFailed    JobState = "failed"
	JobCancelled JobState = "cancelled"
	JobTimedOut  JobState = "timed_out"
)

// Done reports whether s is final.
func (s JobState) Done() bool {
	return s == JobSucceeded || s == JobFailed || s == JobCancelled || s == JobTimedOut
}

// Job is a command queued on a cluster, to run on Nodes compute nodes at once.
type Job struct {
	// ID is assigned by CreateJob: 1, 2, 3, ... across the installation.
	ID      int64
	Cluster string
	Owner   string
	Name    string
	Argv    []string
	Nodes   int
	// TimeLimit bounds the run; the job is killed after it.
	TimeLimit time.Duration
	State     JobState
	// Reason explains the state (why it failed, was requeued, is waiting).
	Reason      string
	SubmittedAt time.Time
	StartedAt   time.Time
	EndedAt     time.Time
	// Attempt counts the runs started (1 for the first); Requeues counts
	// the times the job went back to the queue after its node was lost.
	Attempt  int
	Requeues int
	// Assigned lists the node ids of the current attempt, rank order.
	Assigned []string
	// RankExit holds each rank's exit code once it has reported (-1: not yet).
	RankExit []int
	// ExitCode is the job's exit code once done (the first non-zero rank's).
	ExitCode int
	// CancelRequested is set by cancel while the job runs.
	CancelRequested bool
	// OutputBytes counts the output kept; OutputTruncated is set once the
	// bound was reached and the rest dropped.
	OutputBytes     int64
	OutputTruncated bool
	Version         int64
}

// JobFilter selects jobs. Empty fields match everything. Jobs come in ID order.
type JobFilter struct {
	Cluster string
	Owner   string
	States  []JobState
}

// OutputChunk is a piece of a job's output.
type OutputChunk struct {
	// Seq orders the chunks of a job (assigned by AppendJobOutput).
	Seq     int64
	Job     int64
	Attempt int
	Rank    int
	// Stream is "stdout" or "stderr".
	Stream string
	Data   []byte
	Time   time.Time
}

// Usage is one period of an instance's billing: State "running" (the
// instance bills by its price) or "stopped" (only its disk bills), from
// Start to End (zero End: still open).
type Usage struct {
	ID         int64
	InstanceID string
	Region     string
	Cluster    string
	Owner      string
	Node       string
	Type       string
	Spot       bool
	// PriceMicros is the hourly price paid while running.
	PriceMicros int64
	// VolumeGB is the disk size, billed while stopped.
	VolumeGB int
	State    string
	Start    time.Time
	End      time.Time
}

// UsageFilter selects usage periods. Empty fields match everything; Since
// keeps periods that end after it (or are open); OpenOnly keeps open ones.
type UsageFilter struct {
	Cluster    string
	Owner      string
	InstanceID string
	Since      time.Time
	OpenOnly   bool
}

// JobQueries are the per-table operations on jobs, their output, and usage.
type JobQueries interface {
	// CreateJob inserts j, assigning j.ID (Version becomes 1).
	CreateJob(ctx context.Context, j *Job) error
	GetJob(ctx context.Context, id int64) (*Job, error)
	ListJobs(ctx context.Context, f JobFilter) ([]*Job, error)
	// UpdateJob writes j if its Version is current and increments it.
	UpdateJob(ctx context.Context, j *Job) error

	// AppendJobOutput stores c, assigning c.Seq.
	AppendJobOutput(ctx context.Context, c *OutputChunk) error
	// ListJobOutput returns a job's chunks with Seq > after, in Seq order,
	// at most limit of them (0: all).
	ListJobOutput(ctx context.Context, job int64, after int64, limit int) ([]*OutputChunk, error)

	// OpenUsage stores u, assigning u.ID.
	OpenUsage(ctx context.Context, u *Usage) error
	// CloseUsage sets the End of an open period; ErrNotFound if no open
	// period has that id.
	CloseUsage(ctx context.Context, id int64, end time.Time) error
	// ListUsage returns matching periods ordered by Start, then ID.
	ListUsage(ctx context.Context, f UsageFilter) ([]*Usage, error)
}

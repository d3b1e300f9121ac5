// Package store defines stratus's state store: the desired and observed
// state of clusters and their nodes, API tokens, events and installation
// metadata. Implementations live in child packages (sqlite, and later
// postgres) and all pass the conformance suite in storetest.
package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
// A running cluster can be stopped (running → stopping → stopped: its
// instances are stopped, their disks kept) and started again (stopped →
// starting → running, once every agent has registered again); a stopping
// or stopped cluster can be deleted too.
const (
	ClusterCreating ClusterState = "creating"
	ClusterRunning  ClusterState = "running"
	ClusterDeleting ClusterState = "deleting"
	ClusterFailed   ClusterState = "failed"
	ClusterStopping ClusterState = "stopping"
	ClusterStopped  ClusterState = "stopped"
	ClusterStarting ClusterState = "starting"
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

// NewNodeID returns a new random node id ("n-" and 12 hex digits). Node ids
// are never reused, so a launch's client token (derived from the id and
// the generation) never matches an earlier instance.
func NewNodeID() string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return "n-" + hex.EncodeToString(b)
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
	SchedulesQueries
	UsersQueries
	ChecksQueries
	CustomisationQueries
	NotifyQueries
	DropboxQueries
	LimitsQueries
	JobSummaryQueries
	MetaQueries
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
	// Billing names the billing model the period is billed by ("second"
	// or "hour"), recorded when it opens; empty for periods recorded
	// before stratus kept it (billed by the provider's current model).
	Billing string
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

// Schedule is a cron-timed command run on a region's worker: at each tick
// the worker is started (created if missing), the command runs through its
// agent, and the worker is stopped again.
type Schedule struct {
	Name  string
	Owner string
	// Cron is a standard five-field cron expression (or a descriptor such
	// as @hourly), read in Timezone (an IANA name; "" means UTC).
	Cron     string
	Timezone string
	// Regions are the regions runs take in turn; one region means every
	// run goes there. Rotate records that they were given as a rotation.
	Regions []string
	Rotate  bool
	// NextRegion is the index in Regions of the next run's region.
	NextRegion int
	Argv       []string
	// MaxRuntime bounds the command; it is killed after it.
	MaxRuntime time.Duration
	// LastTick is the latest tick the controller has dealt with (ran,
	// skipped or recorded as missed); ticks after it are still to come.
	LastTick time.Time
	// Deleting is set when deletion was asked while a run was going: the
	// run is cut short, its worker stopped, then the record goes.
	Deleting  bool
	CreatedAt time.Time
	Version   int64
}

// RunState is where a schedule's run is.
type RunState string

// Run states. A run is pending (asked for, not started) or running, then
// ends succeeded, failed, timed_out (killed at the schedule's maximum run
// time) or cancelled (its schedule was deleted). A tick that came while a
// run was going is recorded as skipped; a tick that passed while no
// controller looked (the control plane was down) as missed.
const (
	RunPending   RunState = "pending"
	RunRunning   RunState = "running"
	RunSucceeded RunState = "succeeded"
	RunFailed    RunState = "failed"
	RunTimedOut  RunState = "timed_out"
	RunCancelled RunState = "cancelled"
	RunSkipped   RunState = "skipped"
	RunMissed    RunState = "missed"
)

// Busy reports whether a run in state s has not yet come to an outcome.
func (s RunState) Busy() bool { return s == RunPending || s == RunRunning }

// Run triggers.
const (
	TriggerTick    = "tick"
	TriggerCatchUp = "catch-up"
	TriggerManual  = "manual"
)

// ScheduleRun is one run of a schedule, or one tick that did not run.
type ScheduleRun struct {
	// ID is assigned by CreateScheduleRun across the installation; Number
	// counts the schedule's runs: 1, 2, 3, ...
	ID       int64
	Schedule string
	Number   int
	// Trigger is tick, catch-up or manual; Tick is the tick it is for
	// (zero for a manual run).
	Trigger string
	Tick    time.Time
	State   RunState
	// Reason explains the state (why it failed, was skipped or missed).
	Reason string
	Region string
	// Node is the worker's node record; InstanceID its instance.
	Node       string
	InstanceID string
	// StartedAt is when the run began (before its worker was started);
	// CommandStartedAt when the worker's agent took the command; EndedAt
	// when the run was over, its worker stopped (zero until then).
	StartedAt        time.Time
	CommandStartedAt time.Time
	EndedAt          time.Time
	// ExitCode is the command's exit code; -1 when it has none.
	ExitCode int
	// CostMicros is what the worker cost over the run's window.
	CostMicros      int64
	OutputBytes     int64
	OutputTruncated bool
	Version         int64
}

// ScheduleRunFilter selects runs. Empty fields match everything; Unended
// keeps runs whose EndedAt is zero. Runs come in ID order.
type ScheduleRunFilter struct {
	Schedule string
	Unended  bool
}

// SchedulesQueries are the per-table operations on schedules and their runs.
type SchedulesQueries interface {
	// CreateSchedule inserts s (Version becomes 1); ErrConflict if the
	// name exists. A zero CreatedAt is set to the current time.
	CreateSchedule(ctx context.Context, s *Schedule) error
	GetSchedule(ctx context.Context, name string) (*Schedule, error)
	// ListSchedules returns every schedule ordered by name.
	ListSchedules(ctx context.Context) ([]*Schedule, error)
	// UpdateSchedule writes s if its Version is current and increments it;
	// ErrConflict otherwise, ErrNotFound if it is gone.
	UpdateSchedule(ctx context.Context, s *Schedule) error
	// DeleteSchedule removes the schedule and its runs (with their
	// output); ErrNotFound if absent.
	DeleteSchedule(ctx context.Context, name string) error

	// CreateScheduleRun inserts r, assigning r.ID and r.Number (one more
	// than the schedule's highest); Version becomes 1.
	CreateScheduleRun(ctx context.Context, r *ScheduleRun) error
	// GetScheduleRun returns run number of schedule; ErrNotFound if absent.
	GetScheduleRun(ctx context.Context, schedule string, number int) (*ScheduleRun, error)
	ListScheduleRuns(ctx context.Context, f ScheduleRunFilter) ([]*ScheduleRun, error)
	// UpdateScheduleRun writes r if its Version is current and increments it.
	UpdateScheduleRun(ctx context.Context, r *ScheduleRun) error
	// SetScheduleRunOutput replaces the output kept for run id (by ID);
	// ErrNotFound if no run has that id.
	SetScheduleRunOutput(ctx context.Context, id int64, output []byte) error
	// ScheduleRunOutput returns the output kept for run id (nil if none);
	// ErrNotFound if no run has that id.
	ScheduleRunOutput(ctx context.Context, id int64) ([]byte, error)
}

// User is an API user. Tokens (store.Token) name their user; a disabled
// user's tokens are refused.
type User struct {
	Name  string
	Email string
	// Role is "admin" or "user".
	Role      string
	Disabled  bool
	CreatedAt time.Time
	Version   int64
}

// AuditEntry records one mutating API call: who, what, when, and outcome.
type AuditEntry struct {
	// ID is assigned by AppendAudit; IDs increase in append order.
	ID     int64
	Time   time.Time
	User   string
	Method string
	Path   string
	// Object names the object the call was about ("" if none).
	Object string
	// Status is the HTTP status the call was answered with.
	Status int
}

// AuditFilter selects audit entries. Empty fields match everything; Since
// keeps entries at or after it. Entries come oldest (lowest ID) first.
type AuditFilter struct {
	User  string
	Since time.Time
}

// UsersQueries are the per-table operations on users and the audit log.
type UsersQueries interface {
	// CreateUser inserts u (Version becomes 1); ErrConflict if the name
	// exists. A zero CreatedAt is set to the current time.
	CreateUser(ctx context.Context, u *User) error
	GetUser(ctx context.Context, name string) (*User, error)
	// ListUsers returns every user ordered by name.
	ListUsers(ctx context.Context) ([]*User, error)
	// UpdateUser writes u if its Version is current and increments it;
	// ErrConflict otherwise, ErrNotFound if it is gone.
	UpdateUser(ctx context.Context, u *User) error

	// AppendAudit stores e, assigning e.ID (and e.Time, if zero).
	AppendAudit(ctx context.Context, e *AuditEntry) error
	ListAudit(ctx context.Context, f AuditFilter) ([]*AuditEntry, error)
}

// CheckMember is one member of a replica group as last read.
type CheckMember struct {
	URL   string `json:"url"`
	Value string `json:"value,omitempty"`
	// Error is why the value could not be read ("" if it was).
	Error string `json:"error,omitempty"`
	// State is ok, behind or failing; Since is when it entered it.
	State string    `json:"state"`
	Since time.Time `json:"since"`
}

// CheckState is a health check's current state (see package health).
type CheckState struct {
	Name string
	// Kind is "probe" or "replicas".
	Kind string
	// State is ok, failing or behind; Since is when it entered it.
	State     string
	Since     time.Time
	LastProbe time.Time
	Detail    string
	Members   []CheckMember
}

// CheckResult is one probe of a check, kept as its history.
type CheckResult struct {
	// ID is assigned by AppendCheckResult; IDs increase in append order.
	ID      int64
	Check   string
	Time    time.Time
	State   string
	Detail  string
	Members []CheckMember
}

// ChecksQueries are the per-table operations on health check states and
// their results.
type ChecksQueries interface {
	// PutCheckState creates or replaces the state of check s.Name.
	PutCheckState(ctx context.Context, s *CheckState) error
	// GetCheckState returns a check's state; ErrNotFound if absent.
	GetCheckState(ctx context.Context, name string) (*CheckState, error)
	// ListCheckStates returns every check's state ordered by name.
	ListCheckStates(ctx context.Context) ([]*CheckState, error)
	// DeleteCheckState removes a check's state and results; ErrNotFound
	// if absent.
	DeleteCheckState(ctx context.Context, name string) error
	// AppendCheckResult stores r, assigning r.ID.
	AppendCheckResult(ctx context.Context, r *CheckResult) error
	// ListCheckResults returns a check's results newest (highest ID)
	// first, at most limit (0: all); a negative limit is an error.
	ListCheckResults(ctx context.Context, check string, limit int) ([]*CheckResult, error)
	// PruneCheckResults deletes a check's results that are both older
	// than before and not among its newest keep, and returns how many
	// went. Repeating it is harmless; a negative keep is an error.
	PruneCheckResults(ctx context.Context, check string, keep int, before time.Time) (int64, error)
}

// Package fleet decides the size of a cluster's compute fleet: what to
// launch for queued work and which idle nodes to remove, knowing the
// provider's billing model. Plan is a pure function; the cluster controller
// applies its decisions, and bench/replay runs the same code in simulated
// time.
package fleet

import (
	"time"

	"github.com/stratus-cloud/stratus/internal/cost"
)

// ScaleDown names a scale-down policy.
type ScaleDown string

// Scale-down policies. Stratus is the default; the others are the
// baselines users have today, kept so the benchmark runs them with the same
// engine.
const (
	// ScaleDownStratus is stratus's own billing-aware policy (docs/autoscaling.md).
	ScaleDownStratus ScaleDown = "stratus"
	// ScaleDownImmediate removes a node as soon as it is idle.
	ScaleDownImmediate ScaleDown = "immediate"
	// ScaleDownIdle removes a node idle for IdleTimeout (ParallelCluster's
	// ScaledownIdletime is 10 minutes, the Jenkins EC2 plugin's 30).
	ScaleDownIdle ScaleDown = "idle"
	// ScaleDownBillingHour removes an idle node only in the last minute of
	// an hour it has paid for.
	ScaleDownBillingHour ScaleDown = "billing-hour"
	// ScaleDownStatic never scales: the fleet is kept at Max.
	ScaleDownStatic ScaleDown = "static"
)

// Policy is a cluster's scaling configuration.
type Policy struct {
	// Min and Max bound the number of compute nodes.
	Min, Max int
	// Types are the compute types, preferred first.
	Types []string
	// Autoscaling false keeps the fleet at Min (nodes are replaced, not
	// added or removed for demand).
	Autoscaling bool
	ScaleDown   ScaleDown
	// IdleTimeout is ScaleDownIdle's timeout.
	IdleTimeout time.Duration
	// BatchWindow delays a scale-up until the oldest unserved demand is
	// this old, so that a burst of jobs makes one launch decision.
	BatchWindow time.Duration
	// LaunchLatency is the expected time from launch to a ready node.
	LaunchLatency time.Duration
	// Billing is the provider's billing model.
	Billing cost.Billing
}

// Node is one compute node of the fleet.
type Node struct {
	ID   string
	Type string
	// Ready: registered and running, can take work. A node not ready is
	// booting (launched, not yet registered).
	Ready bool
	// Busy: running a job, expected to end by BusyUntil.
	Busy      bool
	BusyUntil time.Time
	// LaunchedAt is when billing started.
	LaunchedAt time.Time
	// IdleSince is when the node last became idle (or ready).
	IdleSince time.Time
}

// Demand is a queued job that placement could not start this pass.
type Demand struct {
	Nodes       int
	TimeLimit   time.Duration
	SubmittedAt time.Time
}

// Arrival is a job submitted recently, for the stratus policy's prediction.
type Arrival struct {
	At    time.Time
	Nodes int
	// Runtime is how long it ran, if it has ended (0: not known yet).
	Runtime time.Duration
}

// Input is what Plan looks at.
type Input struct {
	Now    time.Time
	Policy Policy
	// Nodes are the compute nodes that exist and are not being removed.
	Nodes []Node
	// Queue is the demand left after placement, in submit order.
	Queue []Demand
	// Unavailable maps a type to the time until which it is avoided
	// (capacity errors); types missing or in the past are available.
	Unavailable map[string]time.Time
	// Recent lists the jobs submitted in the last few hours, oldest first.
	Recent []Arrival
	// Initial, when not 0, is the size the fleet starts with (a cluster's
	// initial_nodes): nodes are launched up to it like up to Min, in the
	// first available type. It is given only until the fleet has started
	// once, so initial nodes that got no capacity at creation are
	// replaced by nodes of a fallback type.
	Initial int
}

// Launch asks for Count new nodes of Type.
type Launch struct {
	Type  string
	Count int
}

// Decision is what Plan decided.
type Decision struct {
	Launch []Launch
	// Remove lists idle node ids to remove.
	Remove []string
	// Reason says, for people, why the fleet has the size it has:
	// "3 launching for 2 queued jobs", "max reached (10 nodes)", "t3.small
	// out of capacity until 2026-03-02T10:10:00Z; launching 2 c5.large for
	// 1 queued job".
	Reason string
	// NextCheck, if not zero, is when the decision may change without any
	// new input (a node's idle time or paid hour running out).
	NextCheck time.Time
	// Up says, as one of the Up* codes, why Launch launches (empty when
	// it launches nothing); Down counts the removed nodes by Down* code.
	// Unlike Reason they are a small fixed set, for metrics.
	Up   string
	Down map[string]int
}

// Why nodes are launched (Decision.Up).
const (
	UpQueued  = "queued"  // for queued jobs (perhaps with some ahead of demand)
	UpAhead   = "ahead"   // ahead of expected demand only
	UpMinimum = "minimum" // to reach the minimum
	UpFixed   = "fixed"   // to keep a fixed-size fleet (autoscaling off, static)
)

// Why idle nodes are removed (Decision.Down).
const (
	DownAboveMax  = "above_max"  // the fleet is above its maximum
	DownFixed     = "fixed"      // above a fixed-size fleet's size
	DownImmediate = "immediate"  // the immediate policy
	DownIdle      = "idle"       // idle for the idle timeout
	DownPaidEnds  = "paid_ends"  // its paid time ends (billing-hour)
	DownNotNeeded = "not_needed" // not expected to be needed soon (stratus)
)

// RecentWindow is how far back Input.Recent should reach: at least the
// stratus policy's forecast window (at most an hour), with room to spare.
const RecentWindow = 2 * time.Hour

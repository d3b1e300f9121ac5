package store

import (
	"context"
	"time"
)

// ClusterLimits is what the limits controller (package limits) keeps of
// one cluster so that a restart neither repeats a warning nor forgets when
// a limit's clock started.
type ClusterLimits struct {
	Cluster string
	// ClusterCreated is the cluster's CreatedAt: a later cluster of the
	// same name starts with a new record.
	ClusterCreated time.Time
	// LifetimeFrom is when the cluster's max_lifetime started: its
	// creation, or the time it was seen running again after a stop.
	LifetimeFrom time.Time
	// RunningSince is when the cluster was first seen running in its
	// current run (zero: not seen running since it was stopped).
	RunningSince time.Time
	// Stopped is set when the cluster was seen stopping, stopped or
	// starting after it had run: its next run starts a new lifetime.
	Stopped bool
	// When the lifetime warning was sent, the lifetime expiry acted on and
	// the idle stop made, in the current run (zero: not yet).
	LifetimeWarned  time.Time
	LifetimeExpired time.Time
	IdleStopped     time.Time
}

// Budget mark kinds.
const (
	BudgetMarkWarning  = "warning"
	BudgetMarkExceeded = "exceeded"
)

// BudgetMark records that a user was warned of (or stopped for) their
// monthly budget in a month.
type BudgetMark struct {
	User string
	// Month is the UTC calendar month, "2026-11".
	Month string
	// Kind is BudgetMarkWarning (80 %) or BudgetMarkExceeded (100 %).
	Kind string
	Time time.Time
}

// LimitsQueries are the per-table operations on the limits controller's
// records.
type LimitsQueries interface {
	// GetClusterLimits returns a cluster's record; ErrNotFound if absent.
	GetClusterLimits(ctx context.Context, cluster string) (*ClusterLimits, error)
	// PutClusterLimits creates or replaces the record of l.Cluster.
	PutClusterLimits(ctx context.Context, l *ClusterLimits) error
	// ListClusterLimits returns every record ordered by cluster name.
	ListClusterLimits(ctx context.Context) ([]*ClusterLimits, error)
	// DeleteClusterLimits removes a cluster's record; ErrNotFound if absent.
	DeleteClusterLimits(ctx context.Context, cluster string) error
	// AddBudgetMark stores m; ErrConflict if the user already has a mark
	// of that kind for that month (so adding is safe to repeat).
	AddBudgetMark(ctx context.Context, m *BudgetMark) error
	// ListBudgetMarks returns the user's marks of a month, ordered by kind.
	ListBudgetMarks(ctx context.Context, user, month string) ([]*BudgetMark, error)
}

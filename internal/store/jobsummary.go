package store

import (
	"context"
	"time"
)

// JobSummary is what a cluster's jobs say of its activity, without the
// jobs themselves (the limits controller's idle stop asks every pass).
type JobSummary struct {
	// LastSubmitted is the latest SubmittedAt of the cluster's jobs (zero:
	// no job).
	LastSubmitted time.Time
	// LastEnded is the latest EndedAt of its jobs (zero: none has ended).
	LastEnded time.Time
	// Active is set when one of its jobs is queued or running.
	Active bool
}

// JobSummaryQueries summarise a cluster's jobs.
type JobSummaryQueries interface {
	// ClusterJobSummary returns the summary of the jobs of cluster; a
	// cluster without jobs (or unknown) has the zero summary. It only
	// reads, so repeating it is safe.
	ClusterJobSummary(ctx context.Context, cluster string) (JobSummary, error)
}

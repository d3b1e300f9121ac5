package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// ClusterJobSummary returns the summary of a cluster's jobs.
func (s *Store) ClusterJobSummary(ctx context.Context, cluster string) (store.JobSummary, error) {
	return s.read().ClusterJobSummary(ctx, cluster)
}

// jobSummaryQuery is one statement of three subqueries, each served by an
// index of migration 0012 (jobs_by_cluster_submitted, _ended, _state): the
// two maxima are one index seek each, the EXISTS stops at the first
// queued or running job.
const jobSummaryQuery = `SELECT
	(SELECT MAX(submitted_at) FROM jobs WHERE cluster = ?1),
	(SELECT MAX(ended_at) FROM jobs WHERE cluster = ?1),
	EXISTS (SELECT 1 FROM jobs WHERE cluster = ?1 AND state IN ('` + string(store.JobQueued) + `', '` + string(store.JobRunning) + `'))`

func (q *queries) ClusterJobSummary(ctx context.Context, cluster string) (store.JobSummary, error) {
	var (
		sub, ended sql.NullInt64
		active     int64
	)
	if err := q.db.QueryRowContext(ctx, jobSummaryQuery, cluster).Scan(&sub, &ended, &active); err != nil {
		return store.JobSummary{}, fmt.Errorf("summarise jobs of cluster %q: %w", cluster, err)
	}
	return store.JobSummary{LastSubmitted: timeOf(sub), LastEnded: timeOf(ended), Active: active != 0}, nil
}

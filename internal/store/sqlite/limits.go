package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// GetClusterLimits returns a cluster's limits record.
func (s *Store) GetClusterLimits(ctx context.Context, cluster string) (*store.ClusterLimits, error) {
	return s.read().GetClusterLimits(ctx, cluster)
}

// PutClusterLimits creates or replaces a cluster's limits record.
func (s *Store) PutClusterLimits(ctx context.Context, l *store.ClusterLimits) error {
	return s.write(ctx, func(q *queries) error { return q.PutClusterLimits(ctx, l) })
}

// ListClusterLimits returns every limits record ordered by cluster.
func (s *Store) ListClusterLimits(ctx context.Context) ([]*store.ClusterLimits, error) {
	return s.read().ListClusterLimits(ctx)
}

// DeleteClusterLimits removes a cluster's limits record.
func (s *Store) DeleteClusterLimits(ctx context.Context, cluster string) error {
	return s.write(ctx, func(q *queries) error { return q.DeleteClusterLimits(ctx, cluster) })
}

// AddBudgetMark stores a budget mark; store.ErrConflict if it exists.
func (s *Store) AddBudgetMark(ctx context.Context, m *store.BudgetMark) error {
	return s.write(ctx, func(q *queries) error { return q.AddBudgetMark(ctx, m) })
}

// ListBudgetMarks returns a user's budget marks of a month.
func (s *Store) ListBudgetMarks(ctx context.Context, user, month string) ([]*store.BudgetMark, error) {
	return s.read().ListBudgetMarks(ctx, user, month)
}

const clusterLimitsCols = `cluster, cluster_created, lifetime_from, running_since, stopped, lifetime_warned, lifetime_expired, idle_stopped`

func scanClusterLimits(sc scanner) (*store.ClusterLimits, error) {
	var (
		l                     store.ClusterLimits
		created, from, since  sql.NullInt64
		warned, expired, idle sql.NullInt64
		stopped               int64
	)
	if err := sc.Scan(&l.Cluster, &created, &from, &since, &stopped, &warned, &expired, &idle); err != nil {
		return nil, err
	}
	l.ClusterCreated, l.LifetimeFrom, l.RunningSince = timeOf(created), timeOf(from), timeOf(since)
	l.LifetimeWarned, l.LifetimeExpired, l.IdleStopped = timeOf(warned), timeOf(expired), timeOf(idle)
	l.Stopped = stopped != 0
	return &l, nil
}

func (q *queries) GetClusterLimits(ctx context.Context, cluster string) (*store.ClusterLimits, error) {
	return queryOne(ctx, q, fmt.Sprintf("limits of cluster %q", cluster), scanClusterLimits, `SELECT `+clusterLimitsCols+` FROM cluster_limits WHERE cluster = ?`, cluster)
}

func (q *queries) PutClusterLimits(ctx context.Context, l *store.ClusterLimits) error {
	if l.Cluster == "" {
		return errors.New("put cluster limits: empty cluster name")
	}
	var ta timeArgs
	args := []any{
		l.Cluster, ta.arg("ClusterCreated", l.ClusterCreated), ta.arg("LifetimeFrom", l.LifetimeFrom),
		ta.arg("RunningSince", l.RunningSince), boolInt(l.Stopped), ta.arg("LifetimeWarned", l.LifetimeWarned),
		ta.arg("LifetimeExpired", l.LifetimeExpired), ta.arg("IdleStopped", l.IdleStopped),
	}
	if ta.err != nil {
		return fmt.Errorf("put limits of cluster %q: %w", l.Cluster, ta.err)
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO cluster_limits (`+clusterLimitsCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (cluster) DO UPDATE SET cluster_created = excluded.cluster_created, lifetime_from = excluded.lifetime_from,
			running_since = excluded.running_since, stopped = excluded.stopped, lifetime_warned = excluded.lifetime_warned,
			lifetime_expired = excluded.lifetime_expired, idle_stopped = excluded.idle_stopped`, args...)
	if err != nil {
		return fmt.Errorf("put limits of cluster %q: %w", l.Cluster, err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func (q *queries) ListClusterLimits(ctx context.Context) ([]*store.ClusterLimits, error) {
	return queryAll(ctx, q, "list cluster limits", scanClusterLimits, `SELECT `+clusterLimitsCols+` FROM cluster_limits ORDER BY cluster`)
}

func (q *queries) DeleteClusterLimits(ctx context.Context, cluster string) error {
	n, err := q.execCount(ctx, fmt.Sprintf("delete limits of cluster %q", cluster), `DELETE FROM cluster_limits WHERE cluster = ?`, cluster)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("limits of cluster %q: %w", cluster, store.ErrNotFound)
	}
	return nil
}

func (q *queries) AddBudgetMark(ctx context.Context, m *store.BudgetMark) error {
	if m.User == "" || m.Month == "" || m.Kind == "" {
		return errors.New("add budget mark: user, month and kind are required")
	}
	var ta timeArgs
	at := ta.arg("Time", m.Time)
	if ta.err != nil {
		return fmt.Errorf("add budget mark for %s: %w", m.User, ta.err)
	}
	_, err := q.db.ExecContext(ctx, `INSERT INTO budget_marks (user, month, kind, time) VALUES (?, ?, ?, ?)`, m.User, m.Month, m.Kind, at)
	if isUniqueViolation(err) {
		return fmt.Errorf("budget %s mark for %s in %s: %w", m.Kind, m.User, m.Month, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("add budget mark for %s: %w", m.User, err)
	}
	return nil
}

func scanBudgetMark(sc scanner) (*store.BudgetMark, error) {
	var m store.BudgetMark
	var at sql.NullInt64
	if err := sc.Scan(&m.User, &m.Month, &m.Kind, &at); err != nil {
		return nil, err
	}
	m.Time = timeOf(at)
	return &m, nil
}

func (q *queries) ListBudgetMarks(ctx context.Context, user, month string) ([]*store.BudgetMark, error) {
	return queryAll(ctx, q, "list budget marks of "+user, scanBudgetMark,
		`SELECT user, month, kind, time FROM budget_marks WHERE user = ? AND month = ? ORDER BY kind`, user, month)
}

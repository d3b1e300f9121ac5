package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateCluster inserts c; see store.Queries.
func (s *Store) CreateCluster(ctx context.Context, c *store.Cluster) error {
	return writeCopy(ctx, s, c, (*queries).CreateCluster)
}

// GetCluster returns the named cluster; store.ErrNotFound if absent.
func (s *Store) GetCluster(ctx context.Context, name string) (*store.Cluster, error) {
	return s.read().GetCluster(ctx, name)
}

// ListClusters returns every cluster ordered by name.
func (s *Store) ListClusters(ctx context.Context) ([]*store.Cluster, error) {
	return s.read().ListClusters(ctx)
}

// UpdateCluster writes c if its Version is current; see store.Queries.
func (s *Store) UpdateCluster(ctx context.Context, c *store.Cluster) error {
	return writeCopy(ctx, s, c, (*queries).UpdateCluster)
}

// DeleteCluster removes the cluster record; store.ErrNotFound if absent.
func (s *Store) DeleteCluster(ctx context.Context, name string) error {
	return s.write(ctx, func(q *queries) error { return q.DeleteCluster(ctx, name) })
}

const clusterColumns = `name, owner, state, reason, spec, created_at, updated_at, version`

func scanCluster(sc scanner) (*store.Cluster, error) {
	var (
		c                    store.Cluster
		spec                 string
		createdAt, updatedAt sql.NullInt64
	)
	if err := sc.Scan(&c.Name, &c.Owner, &c.State, &c.Reason, &spec, &createdAt, &updatedAt, &c.Version); err != nil {
		return nil, err
	}
	if spec != "" {
		c.Spec = json.RawMessage(spec)
	}
	c.CreatedAt = timeOf(createdAt)
	c.UpdatedAt = timeOf(updatedAt)
	return &c, nil
}

// checkSpec refuses a spec that is not JSON: the store would hand it back to
// readers that cannot parse it.
func checkSpec(c *store.Cluster) error {
	if len(c.Spec) > 0 && !json.Valid(c.Spec) {
		return fmt.Errorf("cluster %q: spec is not valid JSON", c.Name)
	}
	return nil
}

func (q *queries) CreateCluster(ctx context.Context, c *store.Cluster) error {
	if c.Name == "" {
		return errors.New("create cluster: empty name")
	}
	if err := checkSpec(c); err != nil {
		return err
	}
	created, updated := q.newTimes(c.CreatedAt, c.UpdatedAt)
	var ta timeArgs
	createdArg, updatedArg := ta.arg("created_at", created), ta.arg("updated_at", updated)
	if ta.err != nil {
		return fmt.Errorf("create cluster %q: %w", c.Name, ta.err)
	}
	_, err := q.db.ExecContext(ctx,
		`INSERT INTO clusters (`+clusterColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, 1)`,
		c.Name, c.Owner, string(c.State), c.Reason, string(c.Spec), createdArg, updatedArg)
	if isUniqueViolation(err) {
		return fmt.Errorf("cluster %q exists: %w", c.Name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create cluster %q: %w", c.Name, err)
	}
	c.CreatedAt, c.UpdatedAt, c.Version = created, updated, 1
	return nil
}

func (q *queries) GetCluster(ctx context.Context, name string) (*store.Cluster, error) {
	return queryOne(ctx, q, fmt.Sprintf("cluster %q", name), scanCluster,
		`SELECT `+clusterColumns+` FROM clusters WHERE name = ?`, name)
}

func (q *queries) ListClusters(ctx context.Context) ([]*store.Cluster, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+clusterColumns+` FROM clusters ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	defer rows.Close()
	var cs []*store.Cluster
	for rows.Next() {
		c, err := scanCluster(rows)
		if err != nil {
			return nil, fmt.Errorf("list clusters: %w", err)
		}
		cs = append(cs, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list clusters: %w", err)
	}
	return cs, nil
}

func (q *queries) UpdateCluster(ctx context.Context, c *store.Cluster) error {
	if err := checkSpec(c); err != nil {
		return err
	}
	updated := q.stamp()
	n, err := q.execCount(ctx, fmt.Sprintf("update cluster %q", c.Name),
		`UPDATE clusters SET owner = ?, state = ?, reason = ?, spec = ?, updated_at = ?, version = version + 1
		 WHERE name = ? AND version = ?`,
		c.Owner, string(c.State), c.Reason, string(c.Spec), updated.UnixNano(), c.Name, c.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		return q.missingOrConflict(ctx, "cluster", `SELECT version FROM clusters WHERE name = ?`, c.Name, c.Version)
	}
	c.UpdatedAt = updated
	c.Version++
	return nil
}

func (q *queries) DeleteCluster(ctx context.Context, name string) error {
	n, err := q.execCount(ctx, fmt.Sprintf("delete cluster %q", name), `DELETE FROM clusters WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("cluster %q: %w", name, store.ErrNotFound)
	}
	return nil
}

// missingOrConflict explains why a versioned update changed no row: the
// record is gone (ErrNotFound) or its version moved on (ErrConflict).
func (q *queries) missingOrConflict(ctx context.Context, what, versionQuery, key string, version int64) error {
	return q.staleRow(ctx, fmt.Sprintf("%s %q", what, key), versionQuery, key, version)
}

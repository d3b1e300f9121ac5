package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateCustomisation stores a cluster's customisation.
func (s *Store) CreateCustomisation(ctx context.Context, c *store.Customisation) error {
	return s.write(ctx, func(q *queries) error { return q.CreateCustomisation(ctx, c) })
}

// GetCustomisation returns a cluster's customisation.
func (s *Store) GetCustomisation(ctx context.Context, cluster string) (*store.Customisation, error) {
	return s.read().GetCustomisation(ctx, cluster)
}

// RecordCustomisationReport notes a node instance's customisation report.
func (s *Store) RecordCustomisationReport(ctx context.Context, cluster, node string, generation int) (bool, error) {
	var first bool
	err := s.write(ctx, func(q *queries) error {
		var err error
		first, err = q.RecordCustomisationReport(ctx, cluster, node, generation)
		return err
	})
	return first, err
}

// clusterExists reports whether the named cluster's record exists.
func (q *queries) clusterExists(ctx context.Context, name string) (bool, error) {
	var one int
	err := q.db.QueryRowContext(ctx, `SELECT 1 FROM clusters WHERE name = ?`, name).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (q *queries) CreateCustomisation(ctx context.Context, c *store.Customisation) error {
	if len(c.Data) == 0 {
		return fmt.Errorf("create customisation of %q: no data", c.Cluster)
	}
	ok, err := q.clusterExists(ctx, c.Cluster)
	if err != nil {
		return fmt.Errorf("create customisation of %q: %w", c.Cluster, err)
	}
	if !ok {
		return fmt.Errorf("create customisation: cluster %q: %w", c.Cluster, store.ErrNotFound)
	}
	_, err = q.db.ExecContext(ctx, `INSERT INTO cluster_customisations (cluster, data) VALUES (?, ?)`, c.Cluster, string(c.Data))
	if isUniqueViolation(err) {
		return fmt.Errorf("customisation of %q exists: %w", c.Cluster, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create customisation of %q: %w", c.Cluster, err)
	}
	return nil
}

func (q *queries) GetCustomisation(ctx context.Context, cluster string) (*store.Customisation, error) {
	var data string
	err := q.db.QueryRowContext(ctx, `SELECT data FROM cluster_customisations WHERE cluster = ?`, cluster).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("customisation of %q: %w", cluster, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get customisation of %q: %w", cluster, err)
	}
	return &store.Customisation{Cluster: cluster, Data: []byte(data)}, nil
}

func (q *queries) RecordCustomisationReport(ctx context.Context, cluster, node string, generation int) (bool, error) {
	ok, err := q.clusterExists(ctx, cluster)
	if err != nil {
		return false, fmt.Errorf("record customisation report of %s: %w", node, err)
	}
	if !ok {
		return false, fmt.Errorf("record customisation report of %s: cluster %q: %w", node, cluster, store.ErrNotFound)
	}
	n, err := q.execCount(ctx, fmt.Sprintf("record customisation report of %s", node), `INSERT INTO customisation_reports (cluster, node, generation) VALUES (?, ?, ?)
		ON CONFLICT (node, generation) DO NOTHING`, cluster, node, generation)
	if err != nil {
		return false, err
	}
	return n == 1, nil
}

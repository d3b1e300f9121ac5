package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateNode inserts n; see store.Queries. A node's non-empty TokenHash must
// be unique: a second node with the same one is store.ErrConflict.
func (s *Store) CreateNode(ctx context.Context, n *store.Node) error {
	return writeCopy(ctx, s, n, (*queries).CreateNode)
}

// GetNode returns the node with that id; store.ErrNotFound if absent.
func (s *Store) GetNode(ctx context.Context, id string) (*store.Node, error) {
	return s.read().GetNode(ctx, id)
}

// GetNodeByTokenHash finds the node whose agent token hashes to hash.
func (s *Store) GetNodeByTokenHash(ctx context.Context, hash string) (*store.Node, error) {
	return s.read().GetNodeByTokenHash(ctx, hash)
}

// ListNodes returns matching nodes ordered by creation time, then id.
func (s *Store) ListNodes(ctx context.Context, f store.NodeFilter) ([]*store.Node, error) {
	return s.read().ListNodes(ctx, f)
}

// UpdateNode writes n if its Version is current; see store.Queries.
func (s *Store) UpdateNode(ctx context.Context, n *store.Node) error {
	return writeCopy(ctx, s, n, (*queries).UpdateNode)
}

// DeleteNode removes the node record; store.ErrNotFound if absent.
func (s *Store) DeleteNode(ctx context.Context, id string) error {
	return s.write(ctx, func(q *queries) error { return q.DeleteNode(ctx, id) })
}

// nodeColumns are the node columns in the order scanNode and nodeArgs use.
var nodeColumns = []string{
	"id", "cluster", "role", "region", "type", "spot", "max_price_micros",
	"root_volume_gb", "generation", "token_hash", "terminate",
	"instance_id", "instance_state", "address", "price_micros",
	"launched_at", "registered_at", "last_heartbeat", "agent_version", "last_error",
	"idle_since", "interruption_at",
	"created_at", "version",
}

var (
	nodeSelect = `SELECT ` + strings.Join(nodeColumns, ", ") + ` FROM nodes`
	nodeInsert = `INSERT INTO nodes (` + strings.Join(nodeColumns, ", ") + `) VALUES (` +
		strings.TrimSuffix(strings.Repeat("?, ", len(nodeColumns)), ", ") + `)`
	// nodeUpdate sets every column but id, created_at and version.
	nodeUpdate = `UPDATE nodes SET ` +
		strings.Join(nodeColumns[1:len(nodeColumns)-2], " = ?, ") + ` = ?, version = version + 1
		WHERE id = ? AND version = ?`
)

// nodeArgs returns n's column values in nodeColumns order, without
// created_at and version.
func nodeArgs(n *store.Node) ([]any, error) {
	var ta timeArgs
	args := []any{
		n.ID, n.Cluster, string(n.Role), n.Region, n.Type, n.Spot, n.MaxPriceMicros,
		n.RootVolumeGB, n.Generation, n.TokenHash, n.Terminate,
		n.InstanceID, n.InstanceState, n.Address, n.PriceMicros,
		ta.arg("LaunchedAt", n.LaunchedAt), ta.arg("RegisteredAt", n.RegisteredAt),
		ta.arg("LastHeartbeat", n.LastHeartbeat), n.AgentVersion, n.LastError,
		ta.arg("IdleSince", n.IdleSince), ta.arg("InterruptionAt", n.InterruptionAt),
	}
	return args, ta.err
}

func scanNode(sc scanner) (*store.Node, error) {
	var (
		n                                          store.Node
		launched, registered, heartbeat, createdAt sql.NullInt64
		idleSince, interruption                    sql.NullInt64
	)
	err := sc.Scan(&n.ID, &n.Cluster, &n.Role, &n.Region, &n.Type, &n.Spot, &n.MaxPriceMicros,
		&n.RootVolumeGB, &n.Generation, &n.TokenHash, &n.Terminate,
		&n.InstanceID, &n.InstanceState, &n.Address, &n.PriceMicros,
		&launched, &registered, &heartbeat, &n.AgentVersion, &n.LastError,
		&idleSince, &interruption,
		&createdAt, &n.Version)
	if err != nil {
		return nil, err
	}
	n.LaunchedAt = timeOf(launched)
	n.RegisteredAt = timeOf(registered)
	n.LastHeartbeat = timeOf(heartbeat)
	n.CreatedAt = timeOf(createdAt)
	n.IdleSince = timeOf(idleSince)
	n.InterruptionAt = timeOf(interruption)
	return &n, nil
}

func (q *queries) CreateNode(ctx context.Context, n *store.Node) error {
	if n.ID == "" {
		return errors.New("create node: empty id")
	}
	args, err := nodeArgs(n)
	if err != nil {
		return fmt.Errorf("create node %q: %w", n.ID, err)
	}
	created := q.orStamp(n.CreatedAt)
	var ta timeArgs
	args = append(args, ta.arg("CreatedAt", created), 1)
	if ta.err != nil {
		return fmt.Errorf("create node %q: %w", n.ID, ta.err)
	}
	_, err = q.db.ExecContext(ctx, nodeInsert, args...)
	if isUniqueViolation(err) {
		return fmt.Errorf("node %q: its id or token hash is taken: %w", n.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create node %q: %w", n.ID, err)
	}
	n.CreatedAt, n.Version = created, 1
	return nil
}

func (q *queries) GetNode(ctx context.Context, id string) (*store.Node, error) {
	return queryOne(ctx, q, fmt.Sprintf("node %q", id), scanNode, nodeSelect+` WHERE id = ?`, id)
}

func (q *queries) GetNodeByTokenHash(ctx context.Context, hash string) (*store.Node, error) {
	if hash == "" {
		return nil, fmt.Errorf("node with empty token hash: %w", store.ErrNotFound)
	}
	n, err := scanNode(q.db.QueryRowContext(ctx, nodeSelect+` WHERE token_hash = ?`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		// The hash identifies an agent: keep it out of messages.
		return nil, fmt.Errorf("node with that token hash: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get node by token hash: %w", err)
	}
	return n, nil
}

func (q *queries) ListNodes(ctx context.Context, f store.NodeFilter) ([]*store.Node, error) {
	query, args := nodeSelect, []any{}
	var where []string
	if f.Cluster != "" {
		where = append(where, `cluster = ?`)
		args = append(args, f.Cluster)
	}
	if f.Role != "" {
		where = append(where, `role = ?`)
		args = append(args, string(f.Role))
	}
	if f.Region != "" {
		where = append(where, `region = ?`)
		args = append(args, f.Region)
	}
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, ` AND `)
	}
	query += ` ORDER BY created_at, id`
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	defer rows.Close()
	var ns []*store.Node
	for rows.Next() {
		n, err := scanNode(rows)
		if err != nil {
			return nil, fmt.Errorf("list nodes: %w", err)
		}
		ns = append(ns, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return ns, nil
}

func (q *queries) UpdateNode(ctx context.Context, n *store.Node) error {
	args, err := nodeArgs(n)
	if err != nil {
		return fmt.Errorf("update node %q: %w", n.ID, err)
	}
	args = append(args[1:], n.ID, n.Version)
	res, err := q.db.ExecContext(ctx, nodeUpdate, args...)
	if isUniqueViolation(err) {
		return fmt.Errorf("node %q: its token hash belongs to another node: %w", n.ID, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("update node %q: %w", n.ID, err)
	}
	rows, err := affected(res)
	if err != nil {
		return fmt.Errorf("update node %q: %w", n.ID, err)
	}
	if rows == 0 {
		return q.missingOrConflict(ctx, "node", `SELECT version FROM nodes WHERE id = ?`, n.ID, n.Version)
	}
	n.Version++
	return nil
}

func (q *queries) DeleteNode(ctx context.Context, id string) error {
	n, err := q.execCount(ctx, fmt.Sprintf("delete node %q", id), `DELETE FROM nodes WHERE id = ?`, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("node %q: %w", id, store.ErrNotFound)
	}
	return nil
}

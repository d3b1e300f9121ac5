package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateDropboxRequest inserts r, assigning its ID.
func (s *Store) CreateDropboxRequest(ctx context.Context, r *store.DropboxRequest) error {
	return writeCopy(ctx, s, r, (*queries).CreateDropboxRequest)
}

// GetDropboxRequest returns the request of key at version etag.
func (s *Store) GetDropboxRequest(ctx context.Context, key, etag string) (*store.DropboxRequest, error) {
	return s.read().GetDropboxRequest(ctx, key, etag)
}

// ListDropboxRequests returns matching requests in ID order.
func (s *Store) ListDropboxRequests(ctx context.Context, f store.DropboxFilter) ([]*store.DropboxRequest, error) {
	return s.read().ListDropboxRequests(ctx, f)
}

// UpdateDropboxRequest writes r if its Version is current.
func (s *Store) UpdateDropboxRequest(ctx context.Context, r *store.DropboxRequest) error {
	return writeCopy(ctx, s, r, (*queries).UpdateDropboxRequest)
}

// PruneDropboxRequests deletes done requests last updated before before.
func (s *Store) PruneDropboxRequests(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(q *queries) error {
		var err error
		n, err = q.PruneDropboxRequests(ctx, before)
		return err
	})
	return n, err
}

func (q *queries) CreateDropboxRequest(ctx context.Context, r *store.DropboxRequest) error {
	if r.Key == "" {
		return errors.New("create drop-box request: empty key")
	}
	seen, updated := q.newTimes(r.SeenAt, r.UpdatedAt)
	var ta timeArgs
	seenArg, updatedArg := ta.arg("SeenAt", seen), ta.arg("UpdatedAt", updated)
	if ta.err != nil {
		return fmt.Errorf("create drop-box request %q: %w", r.Key, ta.err)
	}
	res, err := q.db.ExecContext(ctx, `INSERT INTO dropbox_requests
		(key, etag, user_name, cluster, kind, stage, reason, seen_at, updated_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1)`,
		r.Key, r.ETag, r.User, r.Cluster, r.Kind, string(r.Stage), r.Reason, seenArg, updatedArg)
	if isUniqueViolation(err) {
		return fmt.Errorf("drop-box request %q version %q: %w", r.Key, r.ETag, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create drop-box request %q: %w", r.Key, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create drop-box request %q: %w", r.Key, err)
	}
	r.ID, r.SeenAt, r.UpdatedAt, r.Version = id, seen, updated, 1
	return nil
}

const dropboxCols = `id, key, etag, user_name, cluster, kind, stage, reason, seen_at, updated_at, version`

func scanDropboxRequest(sc scanner) (*store.DropboxRequest, error) {
	var (
		r             store.DropboxRequest
		stage         string
		seen, updated sql.NullInt64
	)
	if err := sc.Scan(&r.ID, &r.Key, &r.ETag, &r.User, &r.Cluster, &r.Kind, &stage, &r.Reason, &seen, &updated, &r.Version); err != nil {
		return nil, err
	}
	r.Stage, r.SeenAt, r.UpdatedAt = store.DropboxStage(stage), timeOf(seen), timeOf(updated)
	return &r, nil
}

func (q *queries) GetDropboxRequest(ctx context.Context, key, etag string) (*store.DropboxRequest, error) {
	r, err := scanDropboxRequest(q.db.QueryRowContext(ctx,
		`SELECT `+dropboxCols+` FROM dropbox_requests WHERE key = ? AND etag = ?`, key, etag))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("drop-box request %q version %q: %w", key, etag, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get drop-box request %q: %w", key, err)
	}
	return r, nil
}

func (q *queries) ListDropboxRequests(ctx context.Context, f store.DropboxFilter) ([]*store.DropboxRequest, error) {
	query, args := `SELECT `+dropboxCols+` FROM dropbox_requests WHERE 1 = 1`, []any{}
	if f.User != "" {
		query += ` AND user_name = ?`
		args = append(args, f.User)
	}
	if f.Cluster != "" {
		query += ` AND cluster = ?`
		args = append(args, f.Cluster)
	}
	if f.Unfinished {
		query += ` AND stage <> ?`
		args = append(args, string(store.DropboxDone))
	}
	return queryAll(ctx, q, "list drop-box requests", scanDropboxRequest, query+` ORDER BY id`, args...)
}

func (q *queries) UpdateDropboxRequest(ctx context.Context, r *store.DropboxRequest) error {
	updated := q.stamp()
	var ta timeArgs
	updatedArg := ta.arg("UpdatedAt", updated)
	if ta.err != nil {
		return fmt.Errorf("update drop-box request %d: %w", r.ID, ta.err)
	}
	n, err := q.execCount(ctx, fmt.Sprintf("update drop-box request %d", r.ID), `UPDATE dropbox_requests
		SET user_name = ?, cluster = ?, kind = ?, stage = ?, reason = ?, updated_at = ?, version = version + 1
		WHERE id = ? AND version = ?`,
		r.User, r.Cluster, r.Kind, string(r.Stage), r.Reason, updatedArg, r.ID, r.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		return q.staleRow(ctx, fmt.Sprintf("drop-box request %d", r.ID), `SELECT version FROM dropbox_requests WHERE id = ?`, r.ID, r.Version)
	}
	r.UpdatedAt = updated
	r.Version++
	return nil
}

func (q *queries) PruneDropboxRequests(ctx context.Context, before time.Time) (int64, error) {
	var ta timeArgs
	beforeArg := ta.arg("before", before)
	if ta.err != nil {
		return 0, fmt.Errorf("prune drop-box requests: %w", ta.err)
	}
	return q.execCount(ctx, "prune drop-box requests", `DELETE FROM dropbox_requests WHERE stage = ? AND updated_at < ?`,
		string(store.DropboxDone), beforeArg)
}

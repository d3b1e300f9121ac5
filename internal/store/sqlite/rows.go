package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// queryAll runs query and scans every row it returns with scan. what
// begins each error ("list deliveries").
func queryAll[T any](ctx context.Context, q *queries, what string, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

// queryOne runs query and scans the row it returns with scan. name is the
// record in messages ("job 7"): no row is store.ErrNotFound, and other
// errors begin "get " and name.
func queryOne[T any](ctx context.Context, q *queries, name string, scan func(scanner) (*T, error), query string, args ...any) (*T, error) {
	v, err := scan(q.db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", name, err)
	}
	return v, nil
}

// newTimes returns the times of a record being created, given as first
// (when it was created or seen) and updated: first defaults to now and
// updated to first.
func (q *queries) newTimes(first, updated time.Time) (time.Time, time.Time) {
	first = q.orStamp(first)
	if updated.IsZero() {
		updated = first
	}
	return first, updated
}

// staleRow is missingOrConflict for the record called name in messages
// ("delivery 7"), whose version versionQuery reads by key.
func (q *queries) staleRow(ctx context.Context, name, versionQuery string, key any, version int64) error {
	var current int64
	err := q.db.QueryRowContext(ctx, versionQuery, key).Scan(&current)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	return fmt.Errorf("%s changed since it was read (version %d, now %d): %w", name, version, current, store.ErrConflict)
}

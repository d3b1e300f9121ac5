package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// GetMeta returns an installation-wide value; store.ErrNotFound if unset.
func (s *Store) GetMeta(ctx context.Context, key string) (string, error) {
	return s.read().GetMeta(ctx, key)
}

// SetMeta sets an installation-wide value, replacing any earlier one.
func (s *Store) SetMeta(ctx context.Context, key, value string) error {
	return s.write(ctx, func(q *queries) error { return q.SetMeta(ctx, key, value) })
}

func (q *queries) GetMeta(ctx context.Context, key string) (string, error) {
	var v string
	err := q.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("meta %q: %w", key, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("get meta %q: %w", key, err)
	}
	return v, nil
}

func (q *queries) SetMeta(ctx context.Context, key, value string) error {
	_, err := q.db.ExecContext(ctx,
		`INSERT INTO meta (key, value) VALUES (?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	if err != nil {
		return fmt.Errorf("set meta %q: %w", key, err)
	}
	return nil
}

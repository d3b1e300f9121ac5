package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateToken stores a token hash; store.ErrConflict if the hash exists.
func (s *Store) CreateToken(ctx context.Context, t *store.Token) error {
	return writeCopy(ctx, s, t, (*queries).CreateToken)
}

// GetTokenByHash returns the token with that hash; store.ErrNotFound if absent.
func (s *Store) GetTokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	return s.read().GetTokenByHash(ctx, hash)
}

// Token hashes are credentials: no message below includes one.

func (q *queries) CreateToken(ctx context.Context, t *store.Token) error {
	if t.Hash == "" {
		return errors.New("create token: empty hash")
	}
	created := q.orStamp(t.CreatedAt)
	var ta timeArgs
	createdArg := ta.arg("CreatedAt", created)
	if ta.err != nil {
		return fmt.Errorf("create token for %q: %w", t.User, ta.err)
	}
	_, err := q.db.ExecContext(ctx,
		`INSERT INTO tokens (hash, user_name, role, created_at) VALUES (?, ?, ?, ?)`,
		t.Hash, t.User, t.Role, createdArg)
	if isUniqueViolation(err) {
		return fmt.Errorf("token for %q: the hash exists: %w", t.User, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create token for %q: %w", t.User, err)
	}
	t.CreatedAt = created
	return nil
}

func (q *queries) GetTokenByHash(ctx context.Context, hash string) (*store.Token, error) {
	var (
		t         store.Token
		createdAt sql.NullInt64
	)
	err := q.db.QueryRowContext(ctx,
		`SELECT hash, user_name, role, created_at FROM tokens WHERE hash = ?`, hash).
		Scan(&t.Hash, &t.User, &t.Role, &createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("get token: %w", err)
	}
	t.CreatedAt = timeOf(createdAt)
	return &t, nil
}

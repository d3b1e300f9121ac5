package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateUser inserts u; store.ErrConflict if the name exists.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	return writeCopy(ctx, s, u, (*queries).CreateUser)
}

// GetUser returns the user; store.ErrNotFound if absent.
func (s *Store) GetUser(ctx context.Context, name string) (*store.User, error) {
	return s.read().GetUser(ctx, name)
}

// ListUsers returns every user ordered by name.
func (s *Store) ListUsers(ctx context.Context) ([]*store.User, error) {
	return s.read().ListUsers(ctx)
}

// UpdateUser writes u if its Version is current.
func (s *Store) UpdateUser(ctx context.Context, u *store.User) error {
	return writeCopy(ctx, s, u, (*queries).UpdateUser)
}

// AppendAudit stores e, assigning its ID.
func (s *Store) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	return writeCopy(ctx, s, e, (*queries).AppendAudit)
}

// ListAudit returns matching entries, oldest first.
func (s *Store) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	return s.read().ListAudit(ctx, f)
}

func boolArg(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (q *queries) CreateUser(ctx context.Context, u *store.User) error {
	if u.Name == "" {
		return errors.New("create user: empty name")
	}
	created := q.orStamp(u.CreatedAt)
	var ta timeArgs
	createdArg := ta.arg("CreatedAt", created)
	if ta.err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, ta.err)
	}
	_, err := q.db.ExecContext(ctx,
		`INSERT INTO users (name, email, role, disabled, created_at, version) VALUES (?, ?, ?, ?, ?, 1)`,
		u.Name, u.Email, u.Role, boolArg(u.Disabled), createdArg)
	if isUniqueViolation(err) {
		return fmt.Errorf("user %q exists: %w", u.Name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	u.CreatedAt, u.Version = created, 1
	return nil
}

const userColumns = `name, email, role, disabled, created_at, version`

func scanUser(sc scanner) (*store.User, error) {
	var (
		u        store.User
		disabled int64
		created  sql.NullInt64
	)
	if err := sc.Scan(&u.Name, &u.Email, &u.Role, &disabled, &created, &u.Version); err != nil {
		return nil, err
	}
	u.Disabled = disabled != 0
	u.CreatedAt = timeOf(created)
	return &u, nil
}

func (q *queries) GetUser(ctx context.Context, name string) (*store.User, error) {
	return queryOne(ctx, q, fmt.Sprintf("user %q", name), scanUser, `SELECT `+userColumns+` FROM users WHERE name = ?`, name)
}

func (q *queries) ListUsers(ctx context.Context) ([]*store.User, error) {
	rows, err := q.db.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var us []*store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		us = append(us, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return us, nil
}

func (q *queries) UpdateUser(ctx context.Context, u *store.User) error {
	n, err := q.execCount(ctx, fmt.Sprintf("update user %q", u.Name),
		`UPDATE users SET email = ?, role = ?, disabled = ?, version = version + 1 WHERE name = ? AND version = ?`,
		u.Email, u.Role, boolArg(u.Disabled), u.Name, u.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		return q.missingOrConflict(ctx, "user", `SELECT version FROM users WHERE name = ?`, u.Name, u.Version)
	}
	u.Version++
	return nil
}

func (q *queries) AppendAudit(ctx context.Context, e *store.AuditEntry) error {
	at := q.orStamp(e.Time)
	var ta timeArgs
	atArg := ta.arg("Time", at)
	if ta.err != nil {
		return fmt.Errorf("append audit entry: %w", ta.err)
	}
	res, err := q.db.ExecContext(ctx,
		`INSERT INTO audit (time, user_name, method, path, object, status) VALUES (?, ?, ?, ?, ?, ?)`,
		atArg, e.User, e.Method, e.Path, e.Object, e.Status)
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("append audit entry: %w", err)
	}
	e.ID, e.Time = id, at
	return nil
}

func (q *queries) ListAudit(ctx context.Context, f store.AuditFilter) ([]*store.AuditEntry, error) {
	query, args := `SELECT id, time, user_name, method, path, object, status FROM audit WHERE 1 = 1`, []any{}
	if f.User != "" {
		query += ` AND user_name = ?`
		args = append(args, f.User)
	}
	if !f.Since.IsZero() {
		var ta timeArgs
		sinceArg := ta.arg("Since", f.Since)
		if ta.err != nil {
			return nil, fmt.Errorf("list audit: %w", ta.err)
		}
		query += ` AND time >= ?`
		args = append(args, sinceArg)
	}
	query += ` ORDER BY id`
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	var es []*store.AuditEntry
	for rows.Next() {
		var (
			e  store.AuditEntry
			at sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &at, &e.User, &e.Method, &e.Path, &e.Object, &e.Status); err != nil {
			return nil, fmt.Errorf("list audit: %w", err)
		}
		e.Time = timeOf(at)
		es = append(es, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list audit: %w", err)
	}
	return es, nil
}

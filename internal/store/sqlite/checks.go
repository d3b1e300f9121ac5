package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// PutCheckState creates or replaces a check's state.
func (s *Store) PutCheckState(ctx context.Context, c *store.CheckState) error {
	return s.write(ctx, func(q *queries) error { return q.PutCheckState(ctx, c) })
}

// GetCheckState returns a check's state; store.ErrNotFound if absent.
func (s *Store) GetCheckState(ctx context.Context, name string) (*store.CheckState, error) {
	return s.read().GetCheckState(ctx, name)
}

// ListCheckStates returns every check's state ordered by name.
func (s *Store) ListCheckStates(ctx context.Context) ([]*store.CheckState, error) {
	return s.read().ListCheckStates(ctx)
}

// DeleteCheckState removes a check's state and results.
func (s *Store) DeleteCheckState(ctx context.Context, name string) error {
	return s.write(ctx, func(q *queries) error { return q.DeleteCheckState(ctx, name) })
}

// AppendCheckResult stores r, assigning its ID.
func (s *Store) AppendCheckResult(ctx context.Context, r *store.CheckResult) error {
	return writeCopy(ctx, s, r, (*queries).AppendCheckResult)
}

// ListCheckResults returns a check's results, newest first.
func (s *Store) ListCheckResults(ctx context.Context, check string, limit int) ([]*store.CheckResult, error) {
	return s.read().ListCheckResults(ctx, check, limit)
}

func membersArg(ms []store.CheckMember) (string, error) {
	if len(ms) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(ms)
	return string(b), err
}

func membersOf(s string) ([]store.CheckMember, error) {
	var ms []store.CheckMember
	if err := json.Unmarshal([]byte(s), &ms); err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return nil, nil
	}
	return ms, nil
}

func (q *queries) PutCheckState(ctx context.Context, c *store.CheckState) error {
	if c.Name == "" {
		return errors.New("put check state: empty name")
	}
	var ta timeArgs
	since, last := ta.arg("Since", c.Since), ta.arg("LastProbe", c.LastProbe)
	if ta.err != nil {
		return fmt.Errorf("put check state %q: %w", c.Name, ta.err)
	}
	ms, err := membersArg(c.Members)
	if err != nil {
		return fmt.Errorf("put check state %q: %w", c.Name, err)
	}
	_, err = q.db.ExecContext(ctx, `INSERT INTO check_states (name, kind, state, since, last_probe, detail, members)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET kind = excluded.kind, state = excluded.state, since = excluded.since,
			last_probe = excluded.last_probe, detail = excluded.detail, members = excluded.members`,
		c.Name, c.Kind, c.State, since, last, c.Detail, ms)
	if err != nil {
		return fmt.Errorf("put check state %q: %w", c.Name, err)
	}
	return nil
}

const checkStateCols = `name, kind, state, since, last_probe, detail, members`

func scanCheckState(sc scanner) (*store.CheckState, error) {
	var (
		c           store.CheckState
		since, last sql.NullInt64
		ms          string
	)
	if err := sc.Scan(&c.Name, &c.Kind, &c.State, &since, &last, &c.Detail, &ms); err != nil {
		return nil, err
	}
	c.Since, c.LastProbe = timeOf(since), timeOf(last)
	var err error
	if c.Members, err = membersOf(ms); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	return &c, nil
}

func (q *queries) GetCheckState(ctx context.Context, name string) (*store.CheckState, error) {
	return queryOne(ctx, q, fmt.Sprintf("check %q", name), scanCheckState, `SELECT `+checkStateCols+` FROM check_states WHERE name = ?`, name)
}

func (q *queries) ListCheckStates(ctx context.Context) ([]*store.CheckState, error) {
	return queryAll(ctx, q, "list checks", scanCheckState, `SELECT `+checkStateCols+` FROM check_states ORDER BY name`)
}

func (q *queries) DeleteCheckState(ctx context.Context, name string) error {
	n, err := q.execCount(ctx, fmt.Sprintf("delete check %q", name), `DELETE FROM check_states WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("check %q: %w", name, store.ErrNotFound)
	}
	if _, err := q.db.ExecContext(ctx, `DELETE FROM check_results WHERE check_name = ?`, name); err != nil {
		return fmt.Errorf("delete results of check %q: %w", name, err)
	}
	return nil
}

func (q *queries) AppendCheckResult(ctx context.Context, r *store.CheckResult) error {
	if r.Check == "" {
		return errors.New("append check result: empty check name")
	}
	at := q.orStamp(r.Time)
	var ta timeArgs
	atArg := ta.arg("Time", at)
	if ta.err != nil {
		return fmt.Errorf("append result of check %q: %w", r.Check, ta.err)
	}
	ms, err := membersArg(r.Members)
	if err != nil {
		return fmt.Errorf("append result of check %q: %w", r.Check, err)
	}
	res, err := q.db.ExecContext(ctx,
		`INSERT INTO check_results (check_name, time, state, detail, members) VALUES (?, ?, ?, ?, ?)`,
		r.Check, atArg, r.State, r.Detail, ms)
	if err != nil {
		return fmt.Errorf("append result of check %q: %w", r.Check, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("append result of check %q: %w", r.Check, err)
	}
	r.ID, r.Time = id, at
	return nil
}

func (q *queries) ListCheckResults(ctx context.Context, check string, limit int) ([]*store.CheckResult, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list check results: negative limit %d", limit)
	}
	query, args := `SELECT id, check_name, time, state, detail, members FROM check_results WHERE check_name = ? ORDER BY id DESC`, []any{check}
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list check results: %w", err)
	}
	defer rows.Close()
	var rs []*store.CheckResult
	for rows.Next() {
		var (
			r  store.CheckResult
			at sql.NullInt64
			ms string
		)
		if err := rows.Scan(&r.ID, &r.Check, &at, &r.State, &r.Detail, &ms); err != nil {
			return nil, fmt.Errorf("list check results: %w", err)
		}
		r.Time = timeOf(at)
		if r.Members, err = membersOf(ms); err != nil {
			return nil, fmt.Errorf("list check results: members: %w", err)
		}
		rs = append(rs, &r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list check results: %w", err)
	}
	return rs, nil
}

// PruneCheckResults deletes a check's results older than before that are
// not among its newest keep.
func (s *Store) PruneCheckResults(ctx context.Context, check string, keep int, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(q *queries) error {
		var err error
		n, err = q.PruneCheckResults(ctx, check, keep, before)
		return err
	})
	return n, err
}

func (q *queries) PruneCheckResults(ctx context.Context, check string, keep int, before time.Time) (int64, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune results of check %q: negative keep %d", check, keep)
	}
	var ta timeArgs
	beforeArg := ta.arg("before", before)
	if ta.err != nil {
		return 0, fmt.Errorf("prune results of check %q: %w", check, ta.err)
	}
	// The newest keep results stay: only rows with an id below the
	// keep-th newest one may go (none when there are fewer). A zero
	// before is NULL, older than nothing.
	query, args := `DELETE FROM check_results WHERE check_name = ? AND time < ?`, []any{check, beforeArg}
	if keep > 0 {
		query += ` AND id < COALESCE((SELECT id FROM check_results WHERE check_name = ? ORDER BY id DESC LIMIT 1 OFFSET ?), 0)`
		args = append(args, check, keep-1)
	}
	return q.execCount(ctx, fmt.Sprintf("prune results of check %q", check), query, args...)
}

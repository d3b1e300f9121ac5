package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// OpenUsage stores u as an open period, assigning u.ID; see
// store.JobQueries. A zero Start is set to the current time; a non-zero End
// is an error (periods are closed with CloseUsage).
func (s *Store) OpenUsage(ctx context.Context, u *store.Usage) error {
	return writeCopy(ctx, s, u, (*queries).OpenUsage)
}

// CloseUsage sets the End of an open period; store.ErrNotFound if no open
// period has that id.
func (s *Store) CloseUsage(ctx context.Context, id int64, end time.Time) error {
	return s.write(ctx, func(q *queries) error { return q.CloseUsage(ctx, id, end) })
}

// ListUsage returns matching periods ordered by Start, then ID.
func (s *Store) ListUsage(ctx context.Context, f store.UsageFilter) ([]*store.Usage, error) {
	return s.read().ListUsage(ctx, f)
}

const usageSelect = `SELECT id, instance_id, region, cluster, owner, node, type, spot,
	price_micros, volume_gb, state, start_at, end_at, billing FROM usage`

func (q *queries) OpenUsage(ctx context.Context, u *store.Usage) error {
	if !u.End.IsZero() {
		return fmt.Errorf("open usage of %q: End is set: a period is opened without one and closed with CloseUsage", u.InstanceID)
	}
	start := q.orStamp(u.Start)
	var ta timeArgs
	startArg := ta.arg("Start", start)
	if ta.err != nil {
		return fmt.Errorf("open usage of %q: %w", u.InstanceID, ta.err)
	}
	res, err := q.db.ExecContext(ctx, `INSERT INTO usage (instance_id, region, cluster, owner, node, type, spot,
		price_micros, volume_gb, state, start_at, end_at, billing) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)`,
		u.InstanceID, u.Region, u.Cluster, u.Owner, u.Node, u.Type, u.Spot,
		u.PriceMicros, u.VolumeGB, u.State, startArg, u.Billing)
	if err != nil {
		return fmt.Errorf("open usage of %q: %w", u.InstanceID, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("open usage of %q: %w", u.InstanceID, err)
	}
	u.ID, u.Start = id, start
	return nil
}

// CloseUsage refuses a zero end (it would leave the period open) and an end
// before the period's start.
func (q *queries) CloseUsage(ctx context.Context, id int64, end time.Time) error {
	if end.IsZero() {
		return fmt.Errorf("close usage %d: zero end time", id)
	}
	var ta timeArgs
	endArg := ta.arg("End", end)
	if ta.err != nil {
		return fmt.Errorf("close usage %d: %w", id, ta.err)
	}
	var start int64
	err := q.db.QueryRowContext(ctx, `SELECT start_at FROM usage WHERE id = ? AND end_at IS NULL`, id).Scan(&start)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("open usage period %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("close usage %d: %w", id, err)
	}
	if end.UnixNano() < start {
		return fmt.Errorf("close usage %d: end %s is before its start %s", id, end.UTC(), time.Unix(0, start).UTC())
	}
	n, err := q.execCount(ctx, fmt.Sprintf("close usage %d", id), `UPDATE usage SET end_at = ? WHERE id = ? AND end_at IS NULL`, endArg, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("open usage period %d: %w", id, store.ErrNotFound)
	}
	return nil
}

func (q *queries) ListUsage(ctx context.Context, f store.UsageFilter) ([]*store.Usage, error) {
	var (
		where []string
		args  []any
	)
	if f.Cluster != "" {
		where = append(where, `cluster = ?`)
		args = append(args, f.Cluster)
	}
	if f.Owner != "" {
		where = append(where, `owner = ?`)
		args = append(args, f.Owner)
	}
	if f.InstanceID != "" {
		where = append(where, `instance_id = ?`)
		args = append(args, f.InstanceID)
	}
	if f.OpenOnly {
		where = append(where, `end_at IS NULL`)
	}
	if !f.Since.IsZero() {
		var ta timeArgs
		since := ta.arg("Since", f.Since)
		if ta.err != nil {
			return nil, fmt.Errorf("list usage: %w", ta.err)
		}
		where = append(where, `(end_at IS NULL OR end_at > ?)`)
		args = append(args, since)
	}
	query := usageSelect
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY start_at, id`
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list usage: %w", err)
	}
	defer rows.Close()
	var us []*store.Usage
	for rows.Next() {
		var (
			u          store.Usage
			start, end sql.NullInt64
		)
		if err := rows.Scan(&u.ID, &u.InstanceID, &u.Region, &u.Cluster, &u.Owner, &u.Node, &u.Type, &u.Spot,
			&u.PriceMicros, &u.VolumeGB, &u.State, &start, &end, &u.Billing); err != nil {
			return nil, fmt.Errorf("list usage: %w", err)
		}
		u.Start, u.End = timeOf(start), timeOf(end)
		us = append(us, &u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list usage: %w", err)
	}
	return us, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// AppendEvent stores e and sets its ID (and its Time, if zero).
func (s *Store) AppendEvent(ctx context.Context, e *store.Event) error {
	return writeCopy(ctx, s, e, (*queries).AppendEvent)
}

// ListEvents returns matching events, newest first.
func (s *Store) ListEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	return s.read().ListEvents(ctx, f)
}

func (q *queries) AppendEvent(ctx context.Context, e *store.Event) error {
	at := q.orStamp(e.Time)
	var ta timeArgs
	atArg := ta.arg("Time", at)
	if ta.err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, ta.err)
	}
	res, err := q.db.ExecContext(ctx,
		`INSERT INTO events (time, cluster, node, kind, message) VALUES (?, ?, ?, ?, ?)`,
		atArg, e.Cluster, e.Node, e.Kind, e.Message)
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("append event %s: %w", e.Kind, err)
	}
	e.ID, e.Time = id, at
	return nil
}

// ListEvents orders by id, the order of appending: event times come from
// callers and need not increase.
func (q *queries) ListEvents(ctx context.Context, f store.EventFilter) ([]*store.Event, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list events: negative limit %d", f.Limit)
	}
	query, args := `SELECT id, time, cluster, node, kind, message FROM events`, []any{}
	if f.Cluster != "" {
		query += ` WHERE cluster = ?`
		args = append(args, f.Cluster)
	}
	query += ` ORDER BY id DESC`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	defer rows.Close()
	var es []*store.Event
	for rows.Next() {
		var (
			e  store.Event
			at sql.NullInt64
		)
		if err := rows.Scan(&e.ID, &at, &e.Cluster, &e.Node, &e.Kind, &e.Message); err != nil {
			return nil, fmt.Errorf("list events: %w", err)
		}
		e.Time = timeOf(at)
		es = append(es, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list events: %w", err)
	}
	return es, nil
}

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

// AddNotification inserts n unless its key exists.
func (s *Store) AddNotification(ctx context.Context, n *store.Notification) (bool, error) {
	cp := *n
	var added bool
	err := s.write(ctx, func(q *queries) error {
		var err error
		added, err = q.AddNotification(ctx, &cp)
		return err
	})
	if err != nil {
		return false, err
	}
	*n = cp
	return added, nil
}

// GetNotification returns a notification; store.ErrNotFound if absent.
func (s *Store) GetNotification(ctx context.Context, id int64) (*store.Notification, error) {
	return s.read().GetNotification(ctx, id)
}

// ListNotifications returns matching notifications in ID order.
func (s *Store) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]*store.Notification, error) {
	return s.read().ListNotifications(ctx, f)
}

// ExpandNotification records a notification's deliveries.
func (s *Store) ExpandNotification(ctx context.Context, id int64, ds []*store.Delivery) error {
	cps := make([]*store.Delivery, len(ds))
	for i, d := range ds {
		cp := *d
		cps[i] = &cp
	}
	if err := s.write(ctx, func(q *queries) error { return q.ExpandNotification(ctx, id, cps) }); err != nil {
		return err
	}
	for i, d := range ds {
		*d = *cps[i]
	}
	return nil
}

// ListDeliveries returns matching deliveries in ID order.
func (s *Store) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	return s.read().ListDeliveries(ctx, f)
}

// UpdateDelivery writes d if its Version is current.
func (s *Store) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	return writeCopy(ctx, s, d, (*queries).UpdateDelivery)
}

func (q *queries) AddNotification(ctx context.Context, n *store.Notification) (bool, error) {
	if n.Key == "" || n.Kind == "" {
		return false, errors.New("add notification: empty key or kind")
	}
	payload := string(n.Payload)
	if payload == "" {
		payload = "null"
	} else if !json.Valid(n.Payload) {
		return false, fmt.Errorf("add notification %q: payload is not JSON", n.Key)
	}
	created := q.orStamp(n.CreatedAt)
	var ta timeArgs
	createdArg := ta.arg("CreatedAt", created)
	if ta.err != nil {
		return false, fmt.Errorf("add notification %q: %w", n.Key, ta.err)
	}
	res, err := q.db.ExecContext(ctx, `INSERT INTO notifications (key, kind, user_name, payload, created_at, expanded)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		n.Key, n.Kind, n.User, payload, createdArg, boolArg(n.Expanded))
	if err != nil {
		return false, fmt.Errorf("add notification %q: %w", n.Key, err)
	}
	k, err := affected(res)
	if err != nil {
		return false, fmt.Errorf("add notification %q: %w", n.Key, err)
	}
	if k == 0 {
		return false, nil
	}
	id, err := res.LastInsertId()
	if err != nil {
		return false, fmt.Errorf("add notification %q: %w", n.Key, err)
	}
	n.ID, n.CreatedAt = id, created
	return true, nil
}

const notificationCols = `id, key, kind, user_name, payload, created_at, expanded`

func scanNotification(sc scanner) (*store.Notification, error) {
	var (
		n        store.Notification
		payload  string
		created  sql.NullInt64
		expanded int64
	)
	if err := sc.Scan(&n.ID, &n.Key, &n.Kind, &n.User, &payload, &created, &expanded); err != nil {
		return nil, err
	}
	if payload != "null" {
		n.Payload = json.RawMessage(payload)
	}
	n.CreatedAt, n.Expanded = timeOf(created), expanded != 0
	return &n, nil
}

func (q *queries) GetNotification(ctx context.Context, id int64) (*store.Notification, error) {
	return queryOne(ctx, q, fmt.Sprintf("notification %d", id), scanNotification, `SELECT `+notificationCols+` FROM notifications WHERE id = ?`, id)
}

func (q *queries) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]*store.Notification, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list notifications: negative limit %d", f.Limit)
	}
	query, args := `SELECT `+notificationCols+` FROM notifications WHERE 1 = 1`, []any{}
	if f.Unexpanded {
		query += ` AND expanded = 0`
	}
	query += ` ORDER BY id`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, q, "list notifications", scanNotification, query, args...)
}

func (q *queries) ExpandNotification(ctx context.Context, id int64, ds []*store.Delivery) error {
	var expanded int64
	err := q.db.QueryRowContext(ctx, `SELECT expanded FROM notifications WHERE id = ?`, id).Scan(&expanded)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("notification %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("expand notification %d: %w", id, err)
	}
	if expanded != 0 {
		return fmt.Errorf("notification %d is expanded already: %w", id, store.ErrConflict)
	}
	type row struct {
		id      int64
		version int64
	}
	done := make([]row, 0, len(ds))
	for _, d := range ds {
		if d.Channel == "" || d.Recipient == "" {
			return fmt.Errorf("expand notification %d: a delivery has no channel or recipient", id)
		}
		var ta timeArgs
		next, sent := ta.arg("NextAttempt", d.NextAttempt), ta.arg("SentAt", d.SentAt)
		if ta.err != nil {
			return fmt.Errorf("expand notification %d: %w", id, ta.err)
		}
		res, err := q.db.ExecContext(ctx, `INSERT INTO notification_deliveries
			(notification, channel, recipient, state, attempts, next_attempt, last_error, sent_at, version)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1)`,
			id, d.Channel, d.Recipient, string(d.State), d.Attempts, next, d.LastError, sent)
		if isUniqueViolation(err) {
			return fmt.Errorf("expand notification %d: %s %s is listed twice: %w", id, d.Channel, d.Recipient, store.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("expand notification %d: %w", id, err)
		}
		did, err := res.LastInsertId()
		if err != nil {
			return fmt.Errorf("expand notification %d: %w", id, err)
		}
		done = append(done, row{did, 1})
	}
	if _, err := q.db.ExecContext(ctx, `UPDATE notifications SET expanded = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("expand notification %d: %w", id, err)
	}
	for i, d := range ds {
		d.ID, d.Notification, d.Version = done[i].id, id, done[i].version
	}
	return nil
}

const deliveryCols = `id, notification, channel, recipient, state, attempts, next_attempt, last_error, sent_at, version`

func scanDelivery(sc scanner) (*store.Delivery, error) {
	var (
		d          store.Delivery
		state      string
		next, sent sql.NullInt64
	)
	if err := sc.Scan(&d.ID, &d.Notification, &d.Channel, &d.Recipient, &state, &d.Attempts, &next, &d.LastError, &sent, &d.Version); err != nil {
		return nil, err
	}
	d.State, d.NextAttempt, d.SentAt = store.DeliveryState(state), timeOf(next), timeOf(sent)
	return &d, nil
}

func (q *queries) ListDeliveries(ctx context.Context, f store.DeliveryFilter) ([]*store.Delivery, error) {
	if f.Limit < 0 {
		return nil, fmt.Errorf("list deliveries: negative limit %d", f.Limit)
	}
	query, args := `SELECT `+deliveryCols+` FROM notification_deliveries WHERE 1 = 1`, []any{}
	if f.Notification != 0 {
		query += ` AND notification = ?`
		args = append(args, f.Notification)
	}
	if f.State != "" {
		query += ` AND state = ?`
		args = append(args, string(f.State))
	}
	if !f.DueBy.IsZero() {
		var ta timeArgs
		due := ta.arg("DueBy", f.DueBy)
		if ta.err != nil {
			return nil, fmt.Errorf("list deliveries: %w", ta.err)
		}
		query += ` AND (next_attempt IS NULL OR next_attempt <= ?)`
		args = append(args, due)
	}
	query += ` ORDER BY id`
	if f.Limit > 0 {
		query += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return queryAll(ctx, q, "list deliveries", scanDelivery, query, args...)
}

func (q *queries) UpdateDelivery(ctx context.Context, d *store.Delivery) error {
	var ta timeArgs
	next, sent := ta.arg("NextAttempt", d.NextAttempt), ta.arg("SentAt", d.SentAt)
	if ta.err != nil {
		return fmt.Errorf("update delivery %d: %w", d.ID, ta.err)
	}
	n, err := q.execCount(ctx, fmt.Sprintf("update delivery %d", d.ID), `UPDATE notification_deliveries SET state = ?, attempts = ?, next_attempt = ?,
		last_error = ?, sent_at = ?, version = version + 1 WHERE id = ? AND version = ?`,
		string(d.State), d.Attempts, next, d.LastError, sent, d.ID, d.Version)
	if err != nil {
		return err
	}
	if n == 0 {
		return q.staleRow(ctx, fmt.Sprintf("delivery %d", d.ID), `SELECT version FROM notification_deliveries WHERE id = ?`, d.ID, d.Version)
	}
	d.Version++
	return nil
}

// PruneNotifications deletes old notifications whose deliveries are done.
func (s *Store) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	var n int64
	err := s.write(ctx, func(q *queries) error {
		var err error
		n, err = q.PruneNotifications(ctx, before)
		return err
	})
	return n, err
}

func (q *queries) PruneNotifications(ctx context.Context, before time.Time) (int64, error) {
	var ta timeArgs
	beforeArg := ta.arg("before", before)
	if ta.err != nil {
		return 0, fmt.Errorf("prune notifications: %w", ta.err)
	}
	// done: expanded, old, and nothing left to send.
	const done = `SELECT id FROM notifications n WHERE n.expanded = 1 AND n.created_at < ?
		AND NOT EXISTS (SELECT 1 FROM notification_deliveries d WHERE d.notification = n.id AND d.state = 'pending')`
	if _, err := q.db.ExecContext(ctx, `DELETE FROM notification_deliveries WHERE notification IN (`+done+`)`, beforeArg); err != nil {
		return 0, fmt.Errorf("prune notifications: %w", err)
	}
	return q.execCount(ctx, "prune notifications", `DELETE FROM notifications WHERE id IN (`+done+`)`, beforeArg)
}

// NextDeliveryDue returns when the next pending delivery is due.
func (s *Store) NextDeliveryDue(ctx context.Context) (time.Time, bool, error) {
	return s.read().NextDeliveryDue(ctx)
}

func (q *queries) NextDeliveryDue(ctx context.Context) (time.Time, bool, error) {
	// NULLs sort first: a pending delivery without a next attempt is due
	// now. The (state, next_attempt) index answers this without a scan.
	var next sql.NullInt64
	err := q.db.QueryRowContext(ctx, `SELECT next_attempt FROM notification_deliveries
		WHERE state = 'pending' ORDER BY next_attempt LIMIT 1`).Scan(&next)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery due: %w", err)
	}
	return timeOf(next), true, nil
}

package store

import (
	"context"
	"encoding/json"
	"time"
)

// Notification is an event in the notifications outbox: written when the
// event happens, then expanded into one Delivery per channel and
// recipient, which a delivery loop sends.
type Notification struct {
	// ID is assigned by AddNotification; IDs increase in add order.
	ID int64
	// Key identifies the event: a second notification with the same key
	// is not added.
	Key  string
	Kind string
	// User is whose thing the event is about ("" for the admins only).
	User string
	// Payload is the event as JSON (package notify's form of it).
	Payload   json.RawMessage
	CreatedAt time.Time
	// Expanded is set once its deliveries are recorded.
	Expanded bool
}

// NotificationFilter selects notifications. Unexpanded keeps those whose
// deliveries are not recorded yet; Limit 0 means no limit. Notifications
// come in ID order.
type NotificationFilter struct {
	Unexpanded bool
	Limit      int
}

// DeliveryState is where one delivery of a notification is.
type DeliveryState string

// Delivery states: pending (to be tried at NextAttempt) → sent, or
// gave_up after the last attempt failed.
const (
	DeliveryPending DeliveryState = "pending"
	DeliverySent    DeliveryState = "sent"
	DeliveryGaveUp  DeliveryState = "gave_up"
)

// Delivery is one notification to one recipient over one channel.
type Delivery struct {
	// ID is assigned by ExpandNotification.
	ID           int64
	Notification int64
	// Channel is "email" or "webhook"; Recipient the address, or the
	// webhook's configured name (never its URL, which may hold a token).
	Channel   string
	Recipient string
	State     DeliveryState
	// Attempts counts the attempts made; NextAttempt is when the next is
	// due (a pending delivery).
	Attempts    int
	NextAttempt time.Time
	// LastError is why the last attempt failed.
	LastError string
	SentAt    time.Time
	Version   int64
}

// DeliveryFilter selects deliveries. Empty fields match everything; DueBy
// keeps deliveries whose NextAttempt is at or before it; Limit 0 means no
// limit. Deliveries come in ID order.
type DeliveryFilter struct {
	Notification int64
	State        DeliveryState
	DueBy        time.Time
	Limit        int
}

// NotifyQueries are the operations on the notifications outbox.
type NotifyQueries interface {
	// AddNotification inserts n, assigning n.ID (and a zero CreatedAt),
	// and reports true; if a notification with n.Key exists it changes
	// nothing and reports false. An empty Key or Kind is an error.
	AddNotification(ctx context.Context, n *Notification) (bool, error)
	// GetNotification returns notification id; ErrNotFound if absent.
	GetNotification(ctx context.Context, id int64) (*Notification, error)
	ListNotifications(ctx context.Context, f NotificationFilter) ([]*Notification, error)
	// ExpandNotification records ds as notification id's deliveries
	// (assigning their IDs, Notification, and Version 1) and marks it
	// expanded: ErrNotFound if absent, ErrConflict if it is expanded
	// already (then nothing is recorded).
	ExpandNotification(ctx context.Context, id int64, ds []*Delivery) error
	ListDeliveries(ctx context.Context, f DeliveryFilter) ([]*Delivery, error)
	// UpdateDelivery writes d's state, attempts, times and error if its
	// Version is current and increments it; ErrConflict otherwise,
	// ErrNotFound if it is gone.
	UpdateDelivery(ctx context.Context, d *Delivery) error
	// PruneNotifications deletes the notifications created before before
	// that are expanded and have no pending delivery, with their
	// deliveries, and returns how many notifications went. Their keys go
	// with them: an event with the same key is then a new one.
	PruneNotifications(ctx context.Context, before time.Time) (int64, error)
	// NextDeliveryDue returns the earliest NextAttempt of the pending
	// deliveries (the zero time if one has none: it is due now) and
	// true, or false when no delivery is pending. It reads only.
	NextDeliveryDue(ctx context.Context) (time.Time, bool, error)
}

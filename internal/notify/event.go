// Package notify tells people what happened to their things: email over
// SMTP and signed JSON webhooks, on cluster creation, failure and deletion,
// budget and lifetime warnings, schedule run failures and health-check
// state changes.
//
// Controllers hand an Event to a Notifier. The Notifier of a running server
// writes it to a durable outbox in the store and returns; a delivery loop
// sends it to every recipient (the event's user, if they have an address,
// and every admin), retrying failed deliveries with backoff. A slow or down
// mail server therefore never blocks or fails the operation that caused the
// event, and a restart loses nothing.
package notify

import (
	"context"
	"time"
)

// Kinds of event.
const (
	ClusterCreated  = "cluster.created"
	ClusterFailed   = "cluster.failed"
	ClusterDeleted  = "cluster.deleted"
	ClusterStopped  = "cluster.stopped"
	BudgetWarning   = "budget.warning"  // 80 % of the monthly budget spent
	BudgetExceeded  = "budget.exceeded" // 100 %
	LifetimeWarning = "lifetime.warning"
	LifetimeExpired = "lifetime.expired"
	IdleStopped     = "cluster.idle_stopped"
	ScheduleFailed  = "schedule.failed"
	CheckChanged    = "check.changed"
)

// Severities.
const (
	Info     = "info"
	Warning  = "warning"
	Critical = "critical"
)

// Event is one thing to tell people about.
type Event struct {
	// Key identifies the event for deduplication: a second event with the
	// same key is dropped (e.g. "budget.warning/ann/2026-11"). Empty: a
	// key is made from Kind, the subject names and Time.
	Key      string
	Kind     string
	Severity string
	// User is whose thing it is: they are told, besides the admins. Empty
	// tells the admins only.
	User string
	// Subject is a one-line summary (the mail's subject).
	Subject string
	// Body is plain text, several lines.
	Body string
	// What the event is about; empty when not applicable.
	Cluster  string
	Schedule string
	Check    string
	Time     time.Time
	// Data is extra machine-readable detail for webhooks (e.g. the login
	// address), JSON-encodable.
	Data map[string]string
}

// Notifier takes events. Notify must not block on delivery and its error
// is for logging only: callers never fail an operation because of it.
type Notifier interface {
	Notify(ctx context.Context, e Event) error
}

// Discard is a Notifier that drops every event (no channels configured).
type Discard struct{}

// Notify drops e.
func (Discard) Notify(context.Context, Event) error { return nil }

// Func adapts a function to a Notifier.
type Func func(ctx context.Context, e Event) error

// Notify calls f.
func (f Func) Notify(ctx context.Context, e Event) error { return f(ctx, e) }

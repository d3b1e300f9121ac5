package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/store"
)

// TxNotifier is a Notifier that can also record an event inside a store
// transaction, so that the event is kept if and only if the change that
// caused it is committed. Code that notifies while holding a transaction
// must use InTx: a Notifier writing to the store on its own would wait for
// the transaction's connection.
type TxNotifier interface {
	Notifier
	NotifyTx(ctx context.Context, q store.Queries, e Event) error
}

// InTx records e through n within the transaction q when n is a
// TxNotifier, and calls n.Notify otherwise. A nil n drops e.
func InTx(ctx context.Context, n Notifier, q store.Queries, e Event) error {
	switch t := n.(type) {
	case nil:
		return nil
	case TxNotifier:
		return t.NotifyTx(ctx, q, e)
	default:
		return n.Notify(ctx, e)
	}
}

// Outbox is the Notifier of a running server: Notify writes the event to
// the store's outbox, deduplicated by its key, and returns; a Dispatcher
// delivers it.
type Outbox struct {
	Store store.Store
	Clock clock.Clock
	// Wake, if set, is called after an event was added, so the delivery
	// loop looks at once.
	Wake func()
}

var _ TxNotifier = (*Outbox)(nil)

// Notify adds e to the outbox in its own transaction. Repeating it with
// the same key is harmless.
func (o *Outbox) Notify(ctx context.Context, e Event) error {
	var added bool
	err := o.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		added, err = o.add(ctx, q, e)
		return err
	})
	if err == nil && added && o.Wake != nil {
		o.Wake()
	}
	return err
}

// NotifyTx adds e to the outbox within the transaction q.
func (o *Outbox) NotifyTx(ctx context.Context, q store.Queries, e Event) error {
	added, err := o.add(ctx, q, e)
	if err == nil && added && o.Wake != nil {
		// The delivery loop may look before the transaction commits;
		// then it finds the event on its next pass.
		o.Wake()
	}
	return err
}

func (o *Outbox) add(ctx context.Context, q store.Queries, e Event) (bool, error) {
	e, err := Normalize(e, o.Clock.Now())
	if err != nil {
		return false, err
	}
	payload, err := json.Marshal(toMessage(e))
	if err != nil {
		return false, fmt.Errorf("notify %s: %w", e.Key, err)
	}
	added, err := q.AddNotification(ctx, &store.Notification{Key: e.Key, Kind: e.Kind, User: e.User, Payload: payload, CreatedAt: e.Time})
	if err != nil {
		return false, fmt.Errorf("notify %s: %w", e.Key, err)
	}
	return added, nil
}

// Normalize checks e and fills what it leaves out: the time (now), the
// severity (info), the subject and the key (from the kind, the user, the
// subject names and the time).
func Normalize(e Event, now time.Time) (Event, error) {
	if e.Kind == "" {
		return e, errors.New("notify: event without a kind")
	}
	if e.Time.IsZero() {
		e.Time = now
	}
	e.Time = e.Time.UTC()
	if e.Severity == "" {
		e.Severity = Info
	}
	what := e.Cluster
	for _, s := range []string{e.Schedule, e.Check} {
		if what == "" {
			what = s
		}
	}
	if e.Subject == "" {
		e.Subject = strings.TrimSpace(e.Kind + " " + what)
	}
	e.Subject = strings.Join(strings.Fields(e.Subject), " ")
	if e.Key == "" {
		e.Key = strings.Join([]string{e.Kind, e.User, e.Cluster, e.Schedule, e.Check, e.Time.Format(time.RFC3339Nano)}, "/")
	}
	return e, nil
}

// message is an Event as stored in the outbox and posted to webhooks.
type message struct {
	Key      string            `json:"key"`
	Kind     string            `json:"kind"`
	Severity string            `json:"severity"`
	User     string            `json:"user,omitempty"`
	Subject  string            `json:"subject"`
	Body     string            `json:"body"`
	Cluster  string            `json:"cluster,omitempty"`
	Schedule string            `json:"schedule,omitempty"`
	Check    string            `json:"check,omitempty"`
	Time     time.Time         `json:"time"`
	Data     map[string]string `json:"data,omitempty"`
}

// toMessage converts e; message has Event's fields, in its order, with
// JSON names.
func toMessage(e Event) message { return message(e) }

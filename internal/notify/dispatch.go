package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Channels a delivery goes over.
const (
	ChannelEmail   = "email"
	ChannelWebhook = "webhook"
)

// Bounds of one pass.
const (
	batchSize   = 100
	parallelism = 4
)

// DefaultRetention is how long a notification is kept once all its
// deliveries are done (sent or given up); PruneInterval is how often the
// dispatcher deletes older ones.
const (
	DefaultRetention = 30 * 24 * time.Hour
	PruneInterval    = time.Hour
)

// Dispatcher delivers the outbox: each pass it expands new events into one
// delivery per channel and recipient (the event's user and every admin),
// then sends the deliveries that are due. A delivery is marked sent only
// after the mail server or the webhook accepted it, so a crash in between
// sends it again (at least once); a failed one is tried again after a
// backoff, and given up after the configured number of attempts. At most
// once every PruneInterval it deletes the notifications older than
// Retention whose deliveries are all done.
type Dispatcher struct {
	Store  store.Store
	Config *Config
	Clock  clock.Clock
	Logger *slog.Logger
	// Hostname is this host's name as the mail server is greeted with
	// (default localhost).
	Hostname string
	// HTTPClient posts webhooks (default: a client without redirects).
	HTTPClient *http.Client
	// Retention is how long done notifications are kept (default
	// DefaultRetention).
	Retention time.Duration

	mu sync.Mutex
	// lastPrune is when the last prune was tried.
	lastPrune time.Time
	// usersChecked is set once the webhooks' users have been looked up.
	usersChecked bool
}

var _ reconcile.Controller = (*Dispatcher)(nil)

// Name implements reconcile.Controller.
func (d *Dispatcher) Name() string { return "notify" }

// Reconcile makes one pass: expand, deliver what is due, and prune when
// it is time. It asks for the next pass when the next retry is due.
func (d *Dispatcher) Reconcile(ctx context.Context) (reconcile.Result, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	if err := d.checkUsers(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.expand(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.deliver(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.prune(ctx); err != nil {
		errs = append(errs, err)
	}
	res := reconcile.Result{}
	next, ok, err := d.Store.NextDeliveryDue(ctx)
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	if ok {
		res.RequeueAfter = max(next.Sub(d.Clock.Now()), 100*time.Millisecond)
	}
	return res, errors.Join(errs...)
}

// checkUsers warns, on the first pass that can read the users, about
// webhooks for a user stratus does not know (a misspelt name, most
// likely): the file is parsed before the users can be read.
func (d *Dispatcher) checkUsers(ctx context.Context) error {
	if d.usersChecked {
		return nil
	}
	users, err := d.Store.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("check the webhooks' users: %w", err)
	}
	d.usersChecked = true
	known := map[string]bool{}
	for _, u := range users {
		known[u.Name] = true
	}
	for _, w := range d.Config.Webhooks {
		if w.User != "" && !known[w.User] {
			d.Logger.Warn("webhook names a user stratus does not know; check the name in the notifications file",
				"webhook", w.Name, "user", w.User)
		}
	}
	return nil
}

// prune deletes done notifications older than the retention, at most once
// every PruneInterval.
func (d *Dispatcher) prune(ctx context.Context) error {
	now := d.Clock.Now()
	if !d.lastPrune.IsZero() && now.Sub(d.lastPrune) < PruneInterval {
		return nil
	}
	d.lastPrune = now
	retention := d.Retention
	if retention <= 0 {
		retention = DefaultRetention
	}
	before := now.Add(-retention)
	n, err := d.Store.PruneNotifications(ctx, before)
	if err != nil {
		return fmt.Errorf("prune notifications: %w", err)
	}
	if n > 0 {
		d.Logger.Info("old notifications pruned", "count", n, "before", before)
	}
	return nil
}

// recipient is one (channel, address) an event goes to.
type recipient struct{ channel, to string }

// Recipients returns where an event about user's thing goes: the user's
// address and webhooks, and every admin's (admin users' addresses, the
// configured admin address, admin webhooks), each once. Disabled users
// and users without an address get no mail; disabled users' webhooks get
// nothing. A webhook delivery's recipient is the webhook's name, never
// its URL, so each configured webhook gets its own delivery.
func (d *Dispatcher) Recipients(ctx context.Context, q store.Queries, user string) ([]store.Delivery, error) {
	var rs []recipient
	seen := map[recipient]bool{}
	add := func(channel, to string) {
		r := recipient{channel, to}
		if to != "" && !seen[r] {
			seen[r] = true
			rs = append(rs, r)
		}
	}
	users, err := q.ListUsers(ctx)
	if err != nil {
		return nil, err
	}
	// owner is the event's user, nil if stratus does not know them.
	var owner *store.User
	for _, u := range users {
		if u.Name == user {
			owner = u
		}
	}
	disabled := owner != nil && owner.Disabled
	if d.Config.SMTP != nil {
		if owner != nil && !disabled {
			add(ChannelEmail, owner.Email)
		}
		for _, u := range users {
			if u.Role == "admin" && !u.Disabled {
				add(ChannelEmail, u.Email)
			}
		}
		add(ChannelEmail, d.Config.AdminEmail)
	}
	for _, w := range d.Config.Webhooks {
		if w.Admin || (user != "" && !disabled && w.User == user) {
			add(ChannelWebhook, w.Name)
		}
	}
	out := make([]store.Delivery, len(rs))
	for i, r := range rs {
		out[i] = store.Delivery{Channel: r.channel, Recipient: r.to}
	}
	return out, nil
}

// expand records the deliveries of events not expanded yet, each event in
// one transaction.
func (d *Dispatcher) expand(ctx context.Context) error {
	ns, err := d.Store.ListNotifications(ctx, store.NotificationFilter{Unexpanded: true, Limit: batchSize})
	if err != nil {
		return err
	}
	var errs []error
	for _, n := range ns {
		now := d.Clock.Now()
		err := d.Store.WithTx(ctx, func(q store.Queries) error {
			rs, err := d.Recipients(ctx, q, n.User)
			if err != nil {
				return err
			}
			ds := make([]*store.Delivery, len(rs))
			for i := range rs {
				ds[i] = &rs[i]
				ds[i].State, ds[i].NextAttempt = store.DeliveryPending, now
			}
			return q.ExpandNotification(ctx, n.ID, ds)
		})
		if errors.Is(err, store.ErrConflict) {
			continue // expanded meanwhile
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("expand notification %s: %w", n.Key, err))
		}
	}
	return errors.Join(errs...)
}

// deliver sends the deliveries that are due, a few at a time.
func (d *Dispatcher) deliver(ctx context.Context) error {
	due, err := d.Store.ListDeliveries(ctx, store.DeliveryFilter{State: store.DeliveryPending, DueBy: d.Clock.Now(), Limit: batchSize})
	if err != nil {
		return err
	}
	var (
		// mu guards errs, which the senders append to as well.
		mu     sync.Mutex
		errs   []error
		events = map[int64]*message{}
		bad    = map[int64]error{}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, parallelism)
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, dl := range due {
		m, ok := events[dl.Notification]
		if !ok && bad[dl.Notification] == nil {
			n, err := d.Store.GetNotification(ctx, dl.Notification)
			if err != nil {
				fail(err)
				continue
			}
			m = &message{}
			if err := json.Unmarshal(n.Payload, m); err != nil {
				bad[dl.Notification] = fmt.Errorf("%w: notification %d is not an event: %v", errPermanent, n.ID, err)
			} else {
				events[dl.Notification] = m
			}
		}
		if err := bad[dl.Notification]; err != nil {
			// No retry mends the payload: give the delivery up rather
			// than try it on every pass.
			if err := d.record(ctx, dl, &message{}, err); err != nil {
				fail(err)
			}
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.attempt(ctx, dl, m); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// shownRecipient is a delivery's recipient as logs may show it: a webhook
// recorded by URL (before webhooks had names) as scheme://host only.
func shownRecipient(dl *store.Delivery) string {
	if dl.Channel == ChannelWebhook && strings.Contains(dl.Recipient, "://") {
		return (&Webhook{URL: dl.Recipient}).Endpoint()
	}
	return dl.Recipient
}

// attempt sends one delivery and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, dl *store.Delivery, m *message) error {
	var sendErr error
	switch dl.Channel {
	case ChannelEmail:
		sendErr = d.sendMail(ctx, dl, m)
	case ChannelWebhook:
		sendErr = d.postWebhook(ctx, dl, m)
	default:
		sendErr = fmt.Errorf("unknown channel %q", dl.Channel)
	}
	if sendErr != nil && ctx.Err() != nil {
		return nil // shutting down: the attempt does not count
	}
	return d.record(ctx, dl, m, sendErr)
}

// record counts an attempt of dl with its outcome (sendErr nil: sent) and
// writes it to the store.
func (d *Dispatcher) record(ctx context.Context, dl *store.Delivery, m *message, sendErr error) error {
	log := d.Logger.With("event", m.Kind, "key", m.Key, "channel", dl.Channel, "to", shownRecipient(dl), "delivery", dl.ID)
	now := d.Clock.Now()
	dl.Attempts++
	if sendErr == nil {
		dl.State, dl.SentAt, dl.LastError, dl.NextAttempt = store.DeliverySent, now, "", time.Time{}
		log.Info("notification delivered", "attempts", dl.Attempts)
	} else {
		dl.LastError = sendErr.Error()
		if dl.Attempts >= d.Config.Retry.Attempts || errors.Is(sendErr, errPermanent) {
			dl.State, dl.NextAttempt = store.DeliveryGaveUp, time.Time{}
			log.Error("notification given up", "attempts", dl.Attempts, "err", sendErr)
		} else {
			dl.NextAttempt = now.Add(d.Config.Retry.Backoff(dl.Attempts))
			log.Warn("notification not delivered; retrying", "attempts", dl.Attempts, "next", dl.NextAttempt, "err", sendErr)
		}
	}
	// The outcome is recorded even when ctx ends now: a sent delivery
	// recorded as pending would be sent again.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if err := d.Store.UpdateDelivery(wctx, dl); err != nil {
		return fmt.Errorf("record delivery %d: %w", dl.ID, err)
	}
	return nil
}

// errPermanent marks failures that no retry can mend.
var errPermanent = errors.New("permanent failure")

// Backoff is the wait after the given number of failed attempts: Initial,
// doubled each time, at most Max.
func (r Retry) Backoff(attempts int) time.Duration {
	d := r.Initial
	for i := 1; i < attempts && d < r.Max; i++ {
		d *= 2
	}
	return min(d, r.Max)
}

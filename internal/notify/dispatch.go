package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
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

// Dispatcher delivers the outbox: each pass it expands new events into one
// delivery per channel and recipient (the event's user and every admin),
// then sends the deliveries that are due. A delivery is marked sent only
// after the mail server or the webhook accepted it, so a crash in between
// sends it again (at least once); a failed one is tried again after a
// backoff, and given up after the configured number of attempts.
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
}

var _ reconcile.Controller = (*Dispatcher)(nil)

// Name implements reconcile.Controller.
func (d *Dispatcher) Name() string { return "notify" }

// Reconcile makes one pass: expand, then deliver what is due. It asks for
// the next pass when the next retry is due.
func (d *Dispatcher) Reconcile(ctx context.Context) (reconcile.Result, error) {
	var errs []error
	if err := d.expand(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.deliver(ctx); err != nil {
		errs = append(errs, err)
	}
	res := reconcile.Result{}
	pending, err := d.Store.ListDeliveries(ctx, store.DeliveryFilter{State: store.DeliveryPending})
	if err != nil {
		return res, errors.Join(append(errs, err)...)
	}
	now := d.Clock.Now()
	for _, p := range pending {
		wait := max(p.NextAttempt.Sub(now), 100*time.Millisecond)
		if res.RequeueAfter == 0 || wait < res.RequeueAfter {
			res.RequeueAfter = wait
		}
	}
	return res, errors.Join(errs...)
}

// recipient is one (channel, address) an event goes to.
type recipient struct{ channel, to string }

// Recipients returns where an event about user's thing goes: the user's
// address and webhooks, and every admin's (admin users' addresses, the
// configured admin address, admin webhooks), each once. Disabled users
// and users without an address get no mail.
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
	if d.Config.SMTP != nil {
		for _, u := range users {
			if u.Name == user && !u.Disabled {
				add(ChannelEmail, u.Email)
			}
		}
		for _, u := range users {
			if u.Role == "admin" && !u.Disabled {
				add(ChannelEmail, u.Email)
			}
		}
		add(ChannelEmail, d.Config.AdminEmail)
	}
	for _, w := range d.Config.Webhooks {
		if w.Admin || (user != "" && w.User == user) {
			add(ChannelWebhook, w.URL)
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
		mu     sync.Mutex
		errs   []error
		events = map[int64]*message{}
		wg     sync.WaitGroup
		sem    = make(chan struct{}, parallelism)
	)
	for _, dl := range due {
		m, ok := events[dl.Notification]
		if !ok {
			n, err := d.Store.GetNotification(ctx, dl.Notification)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			m = &message{}
			if err := json.Unmarshal(n.Payload, m); err != nil {
				errs = append(errs, fmt.Errorf("notification %d: %w", n.ID, err))
				continue
			}
			events[dl.Notification] = m
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := d.attempt(ctx, dl, m); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// attempt sends one delivery and records the outcome.
func (d *Dispatcher) attempt(ctx context.Context, dl *store.Delivery, m *message) error {
	log := d.Logger.With("event", m.Kind, "key", m.Key, "channel", dl.Channel, "to", dl.Recipient, "delivery", dl.ID)
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

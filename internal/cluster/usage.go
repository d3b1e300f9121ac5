package cluster

import (
	"context"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/store"
)

// UsageRecorder turns what the provider shows of a cluster's instances into
// billing periods in the store: a running period from launch (boot time is
// billed) until the instance stops or terminates, a stopped period while it
// is stopped (its disk bills). When the price of a running spot instance
// changes, its period ends where the new price took effect
// (Instance.PriceSince) and the next one, at the new price, continues the
// run (cost.RunStarts).
type UsageRecorder struct {
	Store store.Store
	Clock clock.Clock
	// Billing is the provider's billing model, recorded on each period so
	// that a later change of model does not re-bill it.
	Billing cost.Billing

	mu   sync.Mutex
	done map[string]bool // instances whose usage is closed for good
}

// billingState is the kind of period an instance in state s is in: running,
// stopped, or none (gone). A stopping instance is billed as stopped (its
// disk only), as EC2 bills it; a pending one as running, since stratus
// counts a launch's boot as billed time.
func billingState(s provider.State) string {
	switch s {
	case provider.StatePending, provider.StateRunning:
		return "running"
	case provider.StateStopping, provider.StateStopped:
		return "stopped"
	}
	return ""
}

// Record brings the usage periods of a cluster's instances up to date.
// Repeating it is harmless.
func (u *UsageRecorder) Record(ctx context.Context, cl *store.Cluster, insts []provider.Instance) error {
	open, err := u.Store.ListUsage(ctx, store.UsageFilter{Cluster: cl.Name, OpenOnly: true})
	if err != nil {
		return err
	}
	byInst := map[string]*store.Usage{}
	for _, p := range open {
		byInst[p.InstanceID] = p
	}
	seen := map[string]bool{}
	for _, in := range insts {
		seen[in.ID] = true
		if err := u.record(ctx, cl, in, byInst[in.ID]); err != nil {
			return err
		}
	}
	// Open periods of instances no longer listed: they are gone.
	for id, p := range byInst {
		if !seen[id] {
			if err := u.Store.CloseUsage(ctx, p.ID, u.Clock.Now()); err != nil {
				return err
			}
			u.markDone(id)
		}
	}
	return nil
}

func (u *UsageRecorder) markDone(id string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.done == nil {
		u.done = map[string]bool{}
	}
	u.done[id] = true
}

func (u *UsageRecorder) isDone(id string) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.done[id]
}

func (u *UsageRecorder) record(ctx context.Context, cl *store.Cluster, in provider.Instance, cur *store.Usage) error {
	want := billingState(in.State)
	changed := in.StateChangedAt
	if changed.IsZero() {
		changed = u.Clock.Now()
	}
	if cur != nil {
		if cur.State == want {
			if want == "running" && cur.Billing != "" && u.Billing.Name != "" && cur.Billing != u.Billing.Name {
				return u.rebill(ctx, in, cur)
			}
			if want == "running" && in.Spot && in.PriceMicros > 0 && in.PriceMicros != cur.PriceMicros {
				return u.reprice(ctx, in, cur)
			}
			return nil
		}
		end := changed
		if end.Before(cur.Start) {
			end = cur.Start
		}
		if err := u.Store.CloseUsage(ctx, cur.ID, end); err != nil {
			return err
		}
		if want == "" {
			u.markDone(in.ID)
			return nil
		}
		return u.open(ctx, cl, in, want, end, time.Time{})
	}
	if u.isDone(in.ID) {
		return nil
	}
	// No open period: a new instance, or one whose periods are all closed.
	past, err := u.Store.ListUsage(ctx, store.UsageFilter{InstanceID: in.ID})
	if err != nil {
		return err
	}
	if len(past) > 0 {
		if want == "" {
			u.markDone(in.ID)
			return nil
		}
		return u.open(ctx, cl, in, want, changed, time.Time{})
	}
	start := in.LaunchedAt
	if start.IsZero() {
		start = changed
	}
	if want == "" {
		// Launched and gone between two looks: one closed running period.
		if err := u.open(ctx, cl, in, "running", start, changed); err != nil {
			return err
		}
		u.markDone(in.ID)
		return nil
	}
	if want == "stopped" {
		if err := u.open(ctx, cl, in, "running", start, changed); err != nil {
			return err
		}
		return u.open(ctx, cl, in, "stopped", changed, time.Time{})
	}
	return u.open(ctx, cl, in, want, start, time.Time{})
}

// reprice ends cur, the running period of spot instance in, where in's new
// price took effect (bounded by cur's start and now) and opens the run's
// next period at that price.
func (u *UsageRecorder) reprice(ctx context.Context, in provider.Instance, cur *store.Usage) error {
	at, now := in.PriceSince, u.Clock.Now()
	if at.IsZero() || at.After(now) {
		at = now
	}
	return u.split(ctx, cur, at, func(next *store.Usage) { next.PriceMicros = in.PriceMicros })
}

// rebill ends a running period recorded under another billing model (the
// provider's model changed, say by a restart with another --billing) and
// opens the next under the current one, from now: a new run, which owes
// the current model's minimum. What ran before stays billed as recorded.
func (u *UsageRecorder) rebill(ctx context.Context, in provider.Instance, cur *store.Usage) error {
	return u.split(ctx, cur, u.Clock.Now(), func(next *store.Usage) {
		next.Billing = u.Billing.Name
		if in.PriceMicros > 0 {
			next.PriceMicros = in.PriceMicros
		}
	})
}

// split ends cur at at (not before its start) and opens the next period
// from there, a copy of cur changed by change, in one transaction.
func (u *UsageRecorder) split(ctx context.Context, cur *store.Usage, at time.Time, change func(next *store.Usage)) error {
	if at.Before(cur.Start) {
		at = cur.Start
	}
	return u.Store.WithTx(ctx, func(q store.Queries) error {
		if err := q.CloseUsage(ctx, cur.ID, at); err != nil {
			return err
		}
		next := *cur
		next.ID, next.Start, next.End = 0, at, time.Time{}
		change(&next)
		return q.OpenUsage(ctx, &next)
	})
}

func (u *UsageRecorder) open(ctx context.Context, cl *store.Cluster, in provider.Instance, state string, start, end time.Time) error {
	p := &store.Usage{
		InstanceID: in.ID, Region: in.Region, Cluster: cl.Name, Owner: cl.Owner, Node: in.Tags[provider.TagNode],
		Type: in.Type, Spot: in.Spot, PriceMicros: in.PriceMicros, VolumeGB: in.RootVolumeGB,
		State: state, Start: start, Billing: u.Billing.Name,
	}
	if err := u.Store.OpenUsage(ctx, p); err != nil {
		return err
	}
	if !end.IsZero() {
		return u.Store.CloseUsage(ctx, p.ID, end)
	}
	return nil
}

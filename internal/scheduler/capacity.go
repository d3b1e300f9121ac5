package scheduler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/store"
)

// CapacityCooldown is how long a type that ran out of capacity is avoided.
const CapacityCooldown = 10 * time.Minute

// capacityKeyPrefix prefixes the installation-wide (meta) keys that keep
// cool-downs across restarts: capacity.until.REGION/TYPE, valued with the
// end of the cool-down in RFC 3339.
const capacityKeyPrefix = "capacity.until."

// Capacity remembers instance types that ran out of capacity, per region,
// until their cool-down ends. The cluster controller reports, the
// scheduler reads. Safe for concurrent use.
//
// Reports are kept in memory; the scheduler's controller writes them to
// the store on its next pass and reads them back after a restart, so a
// cool-down outlives the control plane. Each pass forgets the cool-downs
// that have ended, in memory and in the store.
type Capacity struct {
	Clock clock.Clock
	mu    sync.Mutex
	until map[string]time.Time // region/type → until
	saved map[string]time.Time // region/type → until as the store has it
	read  map[string]bool      // region/type looked up in the store
}

// Report records that typ had no capacity in region just now.
func (c *Capacity) Report(region, typ string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	c.until[region+"/"+typ] = c.Clock.Now().Add(CapacityCooldown)
}

// Unavailable returns the types of region avoided now, with until when.
func (c *Capacity) Unavailable(region string, now time.Time) map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]time.Time{}
	for k, t := range c.until {
		if typ, ok := strings.CutPrefix(k, region+"/"); ok && t.After(now) {
			out[typ] = t
		}
	}
	return out
}

// unsaved returns the cool-downs the store does not have yet.
func (c *Capacity) unsaved() map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]time.Time{}
	for k, t := range c.until {
		if !c.saved[k].Equal(t) {
			out[k] = t
		}
	}
	return out
}

// ended returns the cool-downs over at now, each with whether the store
// has it.
func (c *Capacity) ended(now time.Time) map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]bool{}
	for k, t := range c.until {
		if !t.After(now) {
			_, inStore := c.saved[k]
			out[k] = inStore
		}
	}
	return out
}

// forget drops key's cool-down if it is still over at now (a report since
// ended was called stays), and records that the store no longer has it.
func (c *Capacity) forget(key string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.until[key]; ok && !t.After(now) {
		delete(c.until, key)
	}
	delete(c.saved, key)
}

// Len returns how many cool-downs are held in memory, ended ones not yet
// forgotten included.
func (c *Capacity) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.until)
}

// stored records that the store has key's cool-down until t (zero: none),
// and, if it ends later than the one in memory, adopts it.
func (c *Capacity) stored(key string, t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.saved == nil {
		c.saved, c.read = map[string]time.Time{}, map[string]bool{}
	}
	if c.until == nil {
		c.until = map[string]time.Time{}
	}
	c.read[key] = true
	if t.IsZero() {
		delete(c.saved, key)
		return
	}
	c.saved[key] = t
	if t.After(c.until[key]) {
		c.until[key] = t
	}
}

func (c *Capacity) wasRead(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.read[key]
}

// syncCapacity forgets the cool-downs that have ended (in memory and in
// the store), writes those reported since the last pass to the store, and
// reads those of region's types that this control plane has not looked up
// yet (ended ones are deleted). Repeating it is safe.
func (c *Controller) syncCapacity(ctx context.Context, region string, types []string, now time.Time) error {
	var errs []error
	for key, inStore := range c.Capacity.ended(now) {
		if inStore {
			if err := c.Store.DeleteMeta(ctx, capacityKeyPrefix+key); err != nil {
				// Kept in memory too, so the next pass tries again.
				errs = append(errs, fmt.Errorf("forget the capacity cool-down of %s: %w", key, err))
				continue
			}
		}
		c.Capacity.forget(key, now)
	}
	for key, until := range c.Capacity.unsaved() {
		if err := c.Store.SetMeta(ctx, capacityKeyPrefix+key, until.UTC().Format(time.RFC3339Nano)); err != nil {
			errs = append(errs, fmt.Errorf("keep the capacity cool-down of %s: %w", key, err))
			continue
		}
		c.Capacity.stored(key, until)
	}
	for _, typ := range types {
		key := region + "/" + typ
		if c.Capacity.wasRead(key) {
			continue
		}
		v, err := c.Store.GetMeta(ctx, capacityKeyPrefix+key)
		if errors.Is(err, store.ErrNotFound) {
			c.Capacity.stored(key, time.Time{})
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read the capacity cool-down of %s: %w", key, err))
			continue
		}
		until, perr := time.Parse(time.RFC3339Nano, v)
		if perr != nil || !until.After(now) {
			// Over (or unreadable): forget it.
			if err := c.Store.DeleteMeta(ctx, capacityKeyPrefix+key); err != nil {
				errs = append(errs, fmt.Errorf("forget the capacity cool-down of %s: %w", key, err))
				continue
			}
			c.Capacity.stored(key, time.Time{})
			continue
		}
		c.Capacity.stored(key, until)
	}
	return errors.Join(errs...)
}

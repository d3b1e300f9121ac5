// Package gc is the garbage collector: it lists every instance tagged with
// this installation and terminates those that no record in the store
// accounts for. Instances without this installation's tag are never touched.
package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/reconcile"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Collector terminates orphaned instances.
type Collector struct {
	Store        store.Store
	Provider     provider.Provider
	Installation string
	Clock        clock.Clock
	Logger       *slog.Logger
}

var _ reconcile.Controller = (*Collector)(nil)

// Name implements reconcile.Controller.
func (c *Collector) Name() string { return "gc" }

// Orphans returns the live instances among insts that belong to this
// installation and that no node record accounts for. Node records are
// created before their instance is launched and removed only after it is
// gone, so an instance whose node tag names no record is an orphan. An
// instance already shutting down is being terminated: it is left to finish,
// not terminated (and recorded) again. It is a pure function of its input.
func Orphans(installation string, insts []provider.Instance, nodeExists func(id string) bool) []provider.Instance {
	var out []provider.Instance
	for _, in := range insts {
		if in.State.Gone() || in.State == provider.StateShuttingDown || in.Tags[provider.TagInstallation] != installation {
			continue
		}
		if id := in.Tags[provider.TagNode]; id == "" || !nodeExists(id) {
			out = append(out, in)
		}
	}
	return out
}

// Reconcile makes one pass over every region.
func (c *Collector) Reconcile(ctx context.Context) (reconcile.Result, error) {
	regions, err := c.Provider.Regions(ctx)
	if err != nil {
		return reconcile.Result{}, err
	}
	var errs []error
	for _, region := range regions {
		insts, err := c.Provider.Describe(ctx, region, provider.Filter{Tags: map[string]string{provider.TagInstallation: c.Installation}})
		if err != nil {
			errs = append(errs, fmt.Errorf("describe %s: %w", region, err))
			continue
		}
		// Read the records after listing the instances: a node created in
		// between has no instance in the list yet, so it cannot be missed.
		nodes, err := c.Store.ListNodes(ctx, store.NodeFilter{})
		if err != nil {
			return reconcile.Result{}, err
		}
		known := make(map[string]bool, len(nodes))
		for _, n := range nodes {
			known[n.ID] = true
		}
		for _, in := range Orphans(c.Installation, insts, func(id string) bool { return known[id] }) {
			c.Logger.Warn("terminating orphaned instance", "region", region, "instance", in.ID,
				"cluster", in.Tags[provider.TagCluster], "node", in.Tags[provider.TagNode])
			if err := c.Provider.Terminate(ctx, region, in.ID); err != nil {
				errs = append(errs, fmt.Errorf("terminate orphan %s: %w", in.ID, err))
				continue
			}
			e := &store.Event{Time: c.Clock.Now(), Cluster: in.Tags[provider.TagCluster], Node: in.Tags[provider.TagNode],
				Kind: "gc.orphan_terminated", Message: "terminated orphaned instance " + in.ID + " in " + region}
			if err := c.Store.AppendEvent(ctx, e); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return reconcile.Result{}, errors.Join(errs...)
}

// Package regiontest sets up region services for tests: one with short
// polls and timeouts, and a stand-in for its workers' agents.
package regiontest

import (
	"context"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Provider is what a region service needs of its provider.
type Provider interface {
	provider.Provider
	provider.Resources
}

// Service returns a region service on st and p with installation
// installation, the real clock, the default catalog, and polls and
// timeouts short enough for tests.
func Service(st store.Store, p Provider, installation string) *region.Service {
	return &region.Service{
		Store: st, Provider: p, Resources: p, Catalog: cost.DefaultCatalog(), Clock: clock.Real{},
		Installation: installation, AgentSecret: "secret", AdvertiseURL: "http://127.0.0.1:1",
		PollInterval: 2 * time.Millisecond, WorkerTimeout: 5 * time.Second, ImageTimeout: 5 * time.Second,
	}
}

// RegisterWorkers stands in for the agents of st's workers until the test
// ends: every 2ms it marks registered each worker node whose instance
// running reports as running.
func RegisterWorkers(t testing.TB, st store.Store, running func(ctx context.Context, n *store.Node) bool) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			registerRunning(ctx, st, running)
			time.Sleep(2 * time.Millisecond)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

func registerRunning(ctx context.Context, st store.Store, running func(ctx context.Context, n *store.Node) bool) {
	nodes, err := st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker})
	if err != nil {
		return
	}
	for _, n := range nodes {
		if n.InstanceID == "" || !n.RegisteredAt.IsZero() || !running(ctx, n) {
			continue
		}
		_ = st.WithTx(ctx, func(q store.Queries) error {
			x, err := q.GetNode(ctx, n.ID)
			if err != nil {
				return err
			}
			x.RegisteredAt = time.Now()
			return q.UpdateNode(ctx, x)
		})
	}
}

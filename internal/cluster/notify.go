package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/store"
)

// updateClusterNotify is updateCluster that also tells people, in the same
// transaction, when the change made the cluster running (it was created)
// or failed. The event is thus recorded exactly when the change is, and a
// crash in between loses neither.
func (c *Controller) updateClusterNotify(ctx context.Context, name string, fn func(*store.Cluster) error) error {
	return c.Store.WithTx(ctx, func(q store.Queries) error {
		cl, before, err := updateClusterTx(ctx, q, name, fn)
		if err != nil {
			return err
		}
		var e notify.Event
		switch {
		case before == store.ClusterCreating && cl.State == store.ClusterRunning:
			e = createdEvent(ctx, q, cl)
		case before != store.ClusterFailed && cl.State == store.ClusterFailed:
			e = failedEvent(cl)
		default:
			return nil
		}
		c.notifyTx(ctx, q, cl, e)
		return nil
	})
}

// failedEvent says that a cluster failed, and why.
func failedEvent(cl *store.Cluster) notify.Event {
	return notify.Event{
		Kind: notify.ClusterFailed, Severity: notify.Critical,
		Subject: fmt.Sprintf("Cluster %s failed", cl.Name),
		Body: fmt.Sprintf("Cluster %s (owner %s) failed: %s\n\nIts instances keep what they have; delete it with:\n  stratus cluster delete %s\n",
			cl.Name, cl.Owner, cl.Reason, cl.Name),
		Data: map[string]string{"reason": cl.Reason},
	}
}

// createdEvent says that a cluster is running, with its login address
// (the head node's).
func createdEvent(ctx context.Context, q store.Queries, cl *store.Cluster) notify.Event {
	login := ""
	if nodes, err := q.ListNodes(ctx, store.NodeFilter{Cluster: cl.Name, Role: store.RoleHead}); err == nil {
		for _, n := range nodes {
			if !n.Terminate && n.Address != "" {
				login = n.Address
			}
		}
	}
	body := fmt.Sprintf("Cluster %s (owner %s, region %s) is running.\n", cl.Name, cl.Owner, Region(cl))
	if login != "" {
		body += fmt.Sprintf("\nLogin address: %s\n  ssh %s\n", login, login)
	}
	body += fmt.Sprintf("\nDelete it when done:\n  stratus cluster delete %s\n", cl.Name)
	return notify.Event{
		Kind: notify.ClusterCreated, Severity: notify.Info,
		Subject: fmt.Sprintf("Cluster %s is running", cl.Name), Body: body,
		Data: map[string]string{"login_address": login, "region": Region(cl)},
	}
}

// deleteCluster removes the cluster's record and, in the same
// transaction, tells people it is deleted.
func (c *Controller) deleteCluster(ctx context.Context, cl *store.Cluster) error {
	return c.Store.WithTx(ctx, func(q store.Queries) error {
		if err := q.DeleteCluster(ctx, cl.Name); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			return err
		}
		c.notifyTx(ctx, q, cl, notify.Event{
			Kind: notify.ClusterDeleted, Severity: notify.Info,
			Subject: fmt.Sprintf("Cluster %s is deleted", cl.Name),
			Body:    fmt.Sprintf("Cluster %s (owner %s) is deleted: every instance of it is gone.\n", cl.Name, cl.Owner),
		})
		return nil
	})
}

// notifyTx fills in what every cluster event has (its owner, name, a key
// unique to this cluster's life) and hands it to c.Notify within q. A
// failure is logged, never returned: it must not fail the change.
func (c *Controller) notifyTx(ctx context.Context, q store.Queries, cl *store.Cluster, e notify.Event) {
	notifyClusterTx(ctx, c.Notify, q, cl, e, c.Clock.Now(), c.Logger)
}

// notifyClusterTx is notifyTx for whoever changes a cluster (the
// controller, or the service when a node's bootstrap fails it).
func notifyClusterTx(ctx context.Context, n notify.Notifier, q store.Queries, cl *store.Cluster, e notify.Event, now time.Time, log *slog.Logger) {
	if n == nil {
		return
	}
	e.User, e.Cluster, e.Time = cl.Owner, cl.Name, now
	e.Key = e.Kind + "/" + cl.Name + "/" + strconv.FormatInt(cl.CreatedAt.UnixNano(), 10)
	if err := notify.InTx(ctx, n, q, e); err != nil {
		log.Warn("cannot record notification", "cluster", cl.Name, "kind", e.Kind, "err", err)
	}
}

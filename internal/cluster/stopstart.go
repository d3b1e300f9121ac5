package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Stop asks for a cluster's instances to be stopped (their disks are kept):
// the cluster becomes stopping, and stopped once the provider shows every
// instance stopped. Jobs running on it go back to the queue (they run again
// after a start); queued jobs stay queued. Stopping a stopping or stopped
// cluster changes nothing. Only a running or starting cluster can be
// stopped: otherwise the error wraps ErrNotReady.
func (s *Service) Stop(ctx context.Context, caller Caller, name string) (api.Cluster, error) {
	return s.stop(ctx, &caller, name, "stop requested by "+caller.User)
}

// StopFor stops a cluster on the control plane's own account (a policy
// limit was reached); why is recorded as the cluster's reason and event.
func (s *Service) StopFor(ctx context.Context, name, why string) error {
	_, err := s.stop(ctx, nil, name, why)
	return err
}

// DeleteFor deletes a cluster on the control plane's own account; why is
// recorded as the cluster's event.
func (s *Service) DeleteFor(ctx context.Context, name, why string) error {
	_, err := s.delete(ctx, nil, name, why)
	return err
}

func (s *Service) stop(ctx context.Context, caller *Caller, name, why string) (api.Cluster, error) {
	var cl *store.Cluster
	var nodes []*store.Node
	requeued := 0
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		cl, err = visibleCluster(ctx, q, caller, name)
		if err != nil {
			return err
		}
		switch cl.State {
		case store.ClusterStopping, store.ClusterStopped:
		case store.ClusterRunning, store.ClusterStarting:
			now := s.Clock.Now()
			cl.State, cl.Reason = store.ClusterStopping, why
			if err := q.UpdateCluster(ctx, cl); err != nil {
				return err
			}
			if requeued, err = requeueForStop(ctx, q, name); err != nil {
				return err
			}
			msg := "stopping: " + why
			if requeued > 0 {
				msg += fmt.Sprintf("; %d running job(s) requeued", requeued)
			}
			if err := q.AppendEvent(ctx, &store.Event{Time: now, Cluster: name, Kind: "cluster.stopping", Message: msg}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("cluster %q is %s: only a running cluster can be stopped: %w", name, cl.State, ErrNotReady)
		}
		nodes, err = q.ListNodes(ctx, store.NodeFilter{Cluster: name})
		return err
	})
	if err != nil {
		return api.Cluster{}, stateErr(name, err)
	}
	s.Logger.Info("cluster stop requested", "cluster", name, "why", why, "requeued", requeued)
	s.wake()
	return s.view(cl, nodes, nil), nil
}

// requeueForStop puts the running jobs of a cluster being stopped back in
// the queue. A stop is not a failure of the job, so it does not count
// against max_requeues; the old attempt's ranks die with their instances.
func requeueForStop(ctx context.Context, q store.Queries, name string) (int, error) {
	running, err := q.ListJobs(ctx, store.JobFilter{Cluster: name, States: []store.JobState{store.JobRunning}})
	if err != nil {
		return 0, err
	}
	for _, j := range running {
		j.State = store.JobQueued
		j.Reason = "cluster stopped; requeued to run again when it is started"
		j.Assigned, j.RankExit, j.StartedAt = nil, nil, time.Time{}
		j.CancelRequested = false
		if err := q.UpdateJob(ctx, j); err != nil {
			return 0, err
		}
	}
	return len(running), nil
}

// Start asks for a stopped cluster's instances to be started again: the
// cluster becomes starting, and running once every node's agent has
// registered again. The policy is checked first (StartPolicy: an owner
// whose monthly budget is spent cannot start it). Starting a starting or
// running cluster changes nothing; only a stopping or stopped cluster can
// be started, otherwise the error wraps ErrNotReady.
func (s *Service) Start(ctx context.Context, caller Caller, name string) (api.Cluster, error) {
	cl, err := visibleCluster(ctx, s.Store, &caller, name)
	if err != nil {
		return api.Cluster{}, clusterErr(name, err)
	}
	if (cl.State == store.ClusterStopped || cl.State == store.ClusterStopping) && s.StartPolicy != nil {
		if err := s.StartPolicy(ctx, cl.Owner); err != nil {
			return api.Cluster{}, err
		}
	}
	var nodes []*store.Node
	err = s.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		cl, err = q.GetCluster(ctx, name)
		if err != nil {
			return err
		}
		switch cl.State {
		case store.ClusterStarting, store.ClusterRunning:
		case store.ClusterStopping, store.ClusterStopped:
			cl.State, cl.Reason = store.ClusterStarting, ""
			if err := q.UpdateCluster(ctx, cl); err != nil {
				return err
			}
			if err := q.AppendEvent(ctx, &store.Event{Time: s.Clock.Now(), Cluster: name, Kind: "cluster.starting",
				Message: "start requested by " + caller.User}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("cluster %q is %s: only a stopped cluster can be started: %w", name, cl.State, ErrNotReady)
		}
		nodes, err = q.ListNodes(ctx, store.NodeFilter{Cluster: name})
		return err
	})
	if err != nil {
		return api.Cluster{}, stateErr(name, err)
	}
	s.Logger.Info("cluster start requested", "cluster", name, "by", caller.User)
	s.wake()
	return s.view(cl, nodes, nil), nil
}

// stateErr words an error of Stop or Start: one that says the cluster is
// in the wrong state already names it.
func stateErr(name string, err error) error {
	if errors.Is(err, ErrNotReady) {
		return err
	}
	return clusterErr(name, err)
}

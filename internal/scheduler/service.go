// Package scheduler runs work on clusters: the job queue and its API
// (Service), and the controller that places queued jobs on idle compute
// nodes (jobs.Place), requeues jobs whose node was lost, enforces time
// limits, and sizes each compute fleet (fleet.Plan).
package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// DefaultMaxOutput bounds the output kept per job.
const DefaultMaxOutput = 1 << 20

// MaxTimeLimit bounds a job's time limit.
const MaxTimeLimit = 30 * 24 * time.Hour

// Service carries out job requests from users and agents.
type Service struct {
	Store  store.Store
	Clock  clock.Clock
	Logger *slog.Logger
	Hub    *dispatch.Hub
	// MaxOutput bounds the output kept per job (default DefaultMaxOutput).
	MaxOutput int64
	// Wake asks the controllers for a pass (may be nil).
	Wake func()

	outputs notifier
}

func (s *Service) wake() {
	if s.Wake != nil {
		s.Wake()
	}
}

func (s *Service) maxOutput() int64 {
	if s.MaxOutput > 0 {
		return s.MaxOutput
	}
	return DefaultMaxOutput
}

// ErrNotRunning means the cluster cannot take jobs in its state.
var ErrNotRunning = cluster.ErrNotReady

// clusterSpec decodes a cluster's stored spec.
func clusterSpec(cl *store.Cluster) api.ClusterSpec {
	var s api.ClusterSpec
	_ = json.Unmarshal(cl.Spec, &s)
	return s
}

// durationOr parses a duration, returning def if s is empty or invalid.
func durationOr(s string, def time.Duration) time.Duration {
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return d
	}
	return def
}

// Submit validates and queues a job on a cluster the caller may see.
func (s *Service) Submit(ctx context.Context, caller cluster.Caller, name string, req api.SubmitJobRequest) (api.Job, error) {
	cl, err := s.Store.GetCluster(ctx, name)
	if err == nil && !caller.CanSee(cl.Owner) {
		err = store.ErrNotFound
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.Job{}, fmt.Errorf("no cluster named %q (see `stratus cluster list`): %w", name, store.ErrNotFound)
		}
		return api.Job{}, err
	}
	sp := clusterSpec(cl)
	var errs spec.Errors
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		errs = append(errs, spec.FieldError{Field: "argv", Message: "give the command to run after --"})
	}
	nodes := req.Nodes
	if nodes == 0 {
		nodes = 1
	}
	if nodes < 1 {
		errs = append(errs, spec.FieldError{Field: "nodes", Message: fmt.Sprintf("must be at least 1, got %d", req.Nodes)})
	} else if limit := max(sp.Compute.MaxNodes, sp.Compute.InitialNodes); nodes > limit {
		errs = append(errs, spec.FieldError{Field: "nodes", Message: fmt.Sprintf(
			"must be at most the cluster's compute.max_nodes (%d), got %d: the job could never run", limit, nodes)})
	}
	limit := durationOr(sp.Compute.DefaultTimeLimit, time.Hour)
	if req.TimeLimit != "" {
		d, err := time.ParseDuration(req.TimeLimit)
		switch {
		case err != nil:
			errs = append(errs, spec.FieldError{Field: "time_limit", Message: fmt.Sprintf("must be a duration like 30m or 2h, got %q", req.TimeLimit)})
		case d <= 0 || d > MaxTimeLimit:
			errs = append(errs, spec.FieldError{Field: "time_limit", Message: fmt.Sprintf("must be above 0 and at most %s, got %s", MaxTimeLimit, d)})
		default:
			limit = d
		}
	}
	if len(req.Name) > 128 {
		errs = append(errs, spec.FieldError{Field: "name", Message: "must be at most 128 characters"})
	}
	if len(errs) > 0 {
		return api.Job{}, errs
	}
	if cl.State == store.ClusterDeleting || cl.State == store.ClusterFailed {
		return api.Job{}, fmt.Errorf("cluster %q is %s and takes no jobs: %w", name, cl.State, ErrNotRunning)
	}
	j := &store.Job{
		Cluster: name, Owner: caller.User, Name: req.Name, Argv: req.Argv, Nodes: nodes,
		TimeLimit: limit, State: store.JobQueued, SubmittedAt: s.Clock.Now(),
	}
	if err := s.Store.CreateJob(ctx, j); err != nil {
		return api.Job{}, err
	}
	s.Logger.Info("job queued", "cluster", name, "job", j.ID, "nodes", nodes, "owner", caller.User)
	s.wake()
	return s.view(ctx, j), nil
}

// Get returns a job the caller may see.
func (s *Service) Get(ctx context.Context, caller cluster.Caller, id int64) (api.Job, error) {
	j, err := s.get(ctx, caller, id)
	if err != nil {
		return api.Job{}, err
	}
	return s.view(ctx, j), nil
}

func (s *Service) get(ctx context.Context, caller cluster.Caller, id int64) (*store.Job, error) {
	j, err := s.Store.GetJob(ctx, id)
	if err == nil && !caller.CanSee(j.Owner) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no job %d (see `stratus job list`): %w", id, store.ErrNotFound)
	}
	return j, err
}

// List returns the jobs the caller may see, of one cluster or all.
func (s *Service) List(ctx context.Context, caller cluster.Caller, clusterName string) ([]api.Job, error) {
	f := store.JobFilter{Cluster: clusterName}
	if !caller.Admin {
		f.Owner = caller.User
	}
	js, err := s.Store.ListJobs(ctx, f)
	if err != nil {
		return nil, err
	}
	out := []api.Job{}
	for _, j := range js {
		out = append(out, s.view(ctx, j))
	}
	return out, nil
}

// Cancel cancels a queued or running job; a running job's processes are
// killed by their agents. Cancelling a finished job is a conflict.
func (s *Service) Cancel(ctx context.Context, caller cluster.Caller, id int64) (api.Job, error) {
	var out *store.Job
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		j, err := q.GetJob(ctx, id)
		if err == nil && !caller.CanSee(j.Owner) {
			err = store.ErrNotFound
		}
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no job %d: %w", id, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if j.State.Done() {
			return fmt.Errorf("job %d has already ended (%s): %w", id, j.State, store.ErrConflict)
		}
		wasRunning := j.State == store.JobRunning
		j.State, j.Reason, j.EndedAt = store.JobCancelled, "cancelled by "+caller.User, s.Clock.Now()
		j.CancelRequested = true
		if err := q.UpdateJob(ctx, j); err != nil {
			return err
		}
		if wasRunning {
			if err := markIdle(ctx, q, j.Assigned, j.EndedAt); err != nil {
				return err
			}
		}
		out = j
		return nil
	})
	if err != nil {
		return api.Job{}, err
	}
	s.Logger.Info("job cancelled", "job", id, "by", caller.User)
	s.afterEnd(out)
	return s.view(ctx, out), nil
}

// afterEnd tells the agents of an ended job's nodes (to kill what runs)
// and the controllers (to place more work).
func (s *Service) afterEnd(j *store.Job) {
	for _, n := range j.Assigned {
		s.Hub.Wake(n)
	}
	s.outputs.notify(j.ID)
	s.wake()
}

// markIdle records that nodes finished their job at t.
func markIdle(ctx context.Context, q store.Queries, nodes []string, t time.Time) error {
	for _, id := range nodes {
		n, err := q.GetNode(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return err
		}
		n.IdleSince = t
		if err := q.UpdateNode(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// Output returns a job's output after sequence number after; if there is
// none yet and the job has not ended, it waits up to wait for some.
func (s *Service) Output(ctx context.Context, caller cluster.Caller, id, after int64, wait time.Duration) (api.JobOutput, error) {
	j, err := s.get(ctx, caller, id)
	if err != nil {
		return api.JobOutput{}, err
	}
	chunks, err := s.Store.ListJobOutput(ctx, id, after, 1000)
	if err != nil {
		return api.JobOutput{}, err
	}
	if len(chunks) == 0 && !j.State.Done() && wait > 0 {
		wctx, cancel := context.WithTimeout(ctx, wait)
		s.outputs.wait(wctx, id)
		cancel()
		if j, err = s.Store.GetJob(ctx, id); err != nil {
			return api.JobOutput{}, err
		}
		if chunks, err = s.Store.ListJobOutput(ctx, id, after, 1000); err != nil {
			return api.JobOutput{}, err
		}
	}
	out := api.JobOutput{Chunks: []api.OutputChunk{}, Next: after}
	for _, c := range chunks {
		out.Chunks = append(out.Chunks, api.OutputChunk{Seq: c.Seq, Attempt: c.Attempt, Rank: c.Rank, Stream: c.Stream, Data: c.Data})
		out.Next = c.Seq
	}
	out.Done = j.State.Done() && len(chunks) < 1000
	return out, nil
}

func (s *Service) view(ctx context.Context, j *store.Job) api.Job {
	out := api.Job{
		ID: j.ID, Cluster: j.Cluster, Owner: j.Owner, Name: j.Name, Argv: j.Argv, Nodes: j.Nodes,
		TimeLimit: j.TimeLimit.String(), State: string(j.State), Reason: j.Reason,
		SubmittedAt: j.SubmittedAt.UTC(), Attempt: j.Attempt, Requeues: j.Requeues,
		OutputBytes: j.OutputBytes, OutputTruncated: j.OutputTruncated,
	}
	if !j.StartedAt.IsZero() {
		t := j.StartedAt.UTC()
		out.StartedAt = &t
	}
	if !j.EndedAt.IsZero() {
		t := j.EndedAt.UTC()
		out.EndedAt = &t
	}
	if j.State == store.JobSucceeded || j.State == store.JobFailed || j.State == store.JobTimedOut {
		code := j.ExitCode
		out.ExitCode = &code
	}
	for rank, id := range j.Assigned {
		jn := api.JobNode{Rank: rank, Node: id}
		if n, err := s.Store.GetNode(ctx, id); err == nil {
			jn.Address = n.Address
		}
		out.Assigned = append(out.Assigned, jn)
	}
	return out
}

// Agent side.

// Work returns the job ranks node's agent should start, and those of the
// ranks it runs (running) that it should kill.
func (s *Service) Work(ctx context.Context, node *store.Node, running []api.JobRef) ([]api.JobAssignment, []api.JobRef, error) {
	var kill []api.JobRef
	have := map[api.JobRef]bool{}
	for _, r := range running {
		have[r] = true
		j, err := s.Store.GetJob(ctx, r.Job)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (j.State != store.JobRunning || j.Attempt != r.Attempt)) {
			kill = append(kill, r)
			continue
		}
		if err != nil {
			return nil, nil, err
		}
	}
	if node.Cluster == "" {
		return nil, kill, nil // a region's worker: it runs no jobs
	}
	js, err := s.Store.ListJobs(ctx, store.JobFilter{Cluster: node.Cluster, States: []store.JobState{store.JobRunning}})
	if err != nil {
		return nil, nil, err
	}
	var start []api.JobAssignment
	for _, j := range js {
		for rank, id := range j.Assigned {
			ref := api.JobRef{Job: j.ID, Attempt: j.Attempt, Rank: rank}
			if id != node.ID || have[ref] || (rank < len(j.RankExit) && j.RankExit[rank] != -1) {
				continue
			}
			addrs := make([]string, len(j.Assigned))
			for i, nid := range j.Assigned {
				if n, err := s.Store.GetNode(ctx, nid); err == nil {
					addrs[i] = n.Address
				}
			}
			remaining := j.TimeLimit - s.Clock.Now().Sub(j.StartedAt)
			start = append(start, api.JobAssignment{
				JobRef: ref, Argv: j.Argv, TimeLimit: max(remaining, time.Second).String(),
				Env: []string{
					"STRATUS_JOB_ID=" + strconv.FormatInt(j.ID, 10),
					"STRATUS_JOB_ATTEMPT=" + strconv.Itoa(j.Attempt),
					"STRATUS_NODE_RANK=" + strconv.Itoa(rank),
					"STRATUS_NODES=" + strings.Join(addrs, ","),
					"STRATUS_CLUSTER=" + j.Cluster,
				},
			})
		}
	}
	return start, kill, nil
}

// errStale means a report is for an attempt that is no longer current.
var errStale = fmt.Errorf("this run of the job is no longer current: %w", store.ErrConflict)

// current checks that node runs rank of the job's current attempt.
func current(j *store.Job, node string, ref api.JobRef) error {
	if j.Attempt != ref.Attempt || ref.Rank < 0 || ref.Rank >= len(j.Assigned) || j.Assigned[ref.Rank] != node {
		return errStale
	}
	return nil
}

// AgentOutput stores output of a rank, up to the job's output bound; past
// it, one marker is stored and the rest dropped.
func (s *Service) AgentOutput(ctx context.Context, node *store.Node, b api.JobOutputBatch) error {
	limit := s.maxOutput()
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		j, err := q.GetJob(ctx, b.Job)
		if err != nil {
			return err
		}
		if err := current(j, node.ID, b.JobRef); err != nil {
			return err
		}
		now := s.Clock.Now()
		for _, f := range b.Frames {
			if j.OutputTruncated || len(f.Data) == 0 {
				continue
			}
			data := f.Data
			if room := limit - j.OutputBytes; int64(len(data)) > room {
				data = data[:room]
				j.OutputTruncated = true
			}
			if len(data) > 0 {
				c := &store.OutputChunk{Job: j.ID, Attempt: j.Attempt, Rank: b.Rank, Stream: streamName(f.Stream), Data: data, Time: now}
				if err := q.AppendJobOutput(ctx, c); err != nil {
					return err
				}
				j.OutputBytes += int64(len(data))
			}
			if j.OutputTruncated {
				marker := fmt.Sprintf("\n[stratus: output truncated: only the first %d bytes of this job's output are kept]\n", limit)
				c := &store.OutputChunk{Job: j.ID, Attempt: j.Attempt, Rank: b.Rank, Stream: "stderr", Data: []byte(marker), Time: now}
				if err := q.AppendJobOutput(ctx, c); err != nil {
					return err
				}
			}
		}
		return q.UpdateJob(ctx, j)
	})
	if err == nil {
		s.outputs.notify(b.Job)
	}
	return err
}

func streamName(s string) string {
	if s == "stderr" {
		return "stderr"
	}
	return "stdout"
}

// AgentExit records how a rank ended; when every rank has, the job ends.
func (s *Service) AgentExit(ctx context.Context, node *store.Node, e api.JobExit) error {
	var ended *store.Job
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		j, err := q.GetJob(ctx, e.Job)
		if err != nil {
			return err
		}
		if err := current(j, node.ID, e.JobRef); err != nil {
			return err
		}
		if j.State != store.JobRunning {
			return nil // cancelled or timed out already; the report changes nothing
		}
		for len(j.RankExit) < len(j.Assigned) {
			j.RankExit = append(j.RankExit, -1)
		}
		if j.RankExit[e.Rank] != -1 {
			return nil // reported before
		}
		j.RankExit[e.Rank] = e.Code
		if e.TimedOut {
			j.Reason = fmt.Sprintf("rank %d reached the time limit (%s)", e.Rank, j.TimeLimit)
		}
		done := true
		for _, c := range j.RankExit {
			done = done && c != -1
		}
		if !done && !e.TimedOut {
			return q.UpdateJob(ctx, j)
		}
		finish(j, s.Clock.Now(), e.TimedOut)
		if err := q.UpdateJob(ctx, j); err != nil {
			return err
		}
		ended = j
		return markIdle(ctx, q, j.Assigned, j.EndedAt)
	})
	if err != nil {
		return err
	}
	if ended != nil {
		s.Logger.Info("job ended", "job", ended.ID, "state", ended.State, "exit", ended.ExitCode)
		s.afterEnd(ended)
	}
	return nil
}

// finish sets a running job's final state from its ranks' exit codes.
func finish(j *store.Job, now time.Time, timedOut bool) {
	j.EndedAt = now
	j.ExitCode = 0
	for _, c := range j.RankExit {
		if c != 0 && c != -1 {
			j.ExitCode = c
			break
		}
	}
	switch {
	case timedOut:
		j.State = store.JobTimedOut
	case j.ExitCode == 0:
		j.State, j.Reason = store.JobSucceeded, ""
	default:
		j.State = store.JobFailed
		j.Reason = fmt.Sprintf("exit code %d", j.ExitCode)
	}
}

// RebalanceAction is the notice action of an EC2 rebalance recommendation:
// the instance is at higher risk of interruption, not yet interrupted.
const RebalanceAction = "rebalance"

// AgentNotice records a spot interruption notice for node. A rebalance
// recommendation is only recorded as an event: the node keeps working until
// an interruption notice comes.
func (s *Service) AgentNotice(ctx context.Context, node *store.Node, n api.Notice) error {
	if n.Action == RebalanceAction {
		return s.Store.AppendEvent(ctx, &store.Event{Time: s.Clock.Now(), Cluster: node.Cluster, Node: node.ID,
			Kind: "node.rebalance_recommendation", Message: "the provider recommends moving work off spot instance " + node.InstanceID})
	}
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		cur, err := q.GetNode(ctx, node.ID)
		if err != nil {
			return err
		}
		if !cur.InterruptionAt.IsZero() {
			return nil
		}
		cur.InterruptionAt = n.Time
		if cur.InterruptionAt.IsZero() {
			cur.InterruptionAt = s.Clock.Now()
		}
		if err := q.UpdateNode(ctx, cur); err != nil {
			return err
		}
		return q.AppendEvent(ctx, &store.Event{Time: s.Clock.Now(), Cluster: cur.Cluster, Node: cur.ID, Kind: "node.interruption_notice",
			Message: fmt.Sprintf("spot instance %s will be reclaimed at %s (%s)", cur.InstanceID, cur.InterruptionAt.UTC().Format(time.RFC3339), n.Action)})
	})
	if err == nil {
		s.Logger.Warn("spot interruption notice", "cluster", node.Cluster, "node", node.ID, "at", n.Time)
		s.wake()
	}
	return err
}

package scheduler_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/scheduler"
	"github.com/stratus-cloud/stratus/internal/store"
)

// reclaim plays a spot reclaim of node: the provider announces it, with
// two minutes' notice as AWS gives, and the node's agent reports the notice.
func (e *fakeEnv) reclaim(t *testing.T, nodeID string) {
	t.Helper()
	ctx := context.Background()
	n := e.node(t, nodeID)
	const notice = 2 * time.Minute
	if err := e.prov.Reclaim(ctx, fakeRegion, n.InstanceID, notice); err != nil {
		t.Fatalf("reclaim %s: %v", n.InstanceID, err)
	}
	if err := e.jobs.AgentNotice(ctx, n, api.Notice{Action: "terminate", Time: e.clk.Now().Add(notice)}); err != nil {
		t.Fatalf("notice of node %s: %v", nodeID, err)
	}
}

func TestController_JobReclaimedMoreThanMaxRequeuesFails(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	e.create(t, "lab", `compute: {types: [t3.small], spot_price: "0.05", max_nodes: 2, batch_window: 0s, scale_down: immediate, max_requeues: 1}`)
	id := e.submit(t, "lab", 1)

	// First reclaim: the job goes back to the queue, counted.
	e.converge(t, "job running", func() bool { return e.job(t, id).State == store.JobRunning })
	e.startRanks(t, id)
	first := e.job(t, id).Assigned[0]
	e.reclaim(t, first)
	e.converge(t, "job requeued", func() bool { return e.job(t, id).State != store.JobRunning })
	j := e.job(t, id)
	if j.State != store.JobQueued || j.Requeues != 1 || !strings.Contains(j.Reason, "requeued, 1 of 1") {
		t.Fatalf("after the first reclaim the job is %s, requeued %d times (%q); want queued, 1, \"requeued, 1 of 1\"", j.State, j.Requeues, j.Reason)
	}

	// It runs again, on another node; a second reclaim is one too many.
	e.converge(t, "job running again", func() bool { return e.job(t, id).State == store.JobRunning })
	j = e.job(t, id)
	if j.Attempt != 2 || j.Assigned[0] == first {
		t.Fatalf("second run: attempt %d on %v; want attempt 2 on a node other than the reclaimed %s", j.Attempt, j.Assigned, first)
	}
	e.startRanks(t, id)
	e.reclaim(t, j.Assigned[0])
	e.converge(t, "job ended", func() bool { return e.job(t, id).State != store.JobRunning })
	j = e.job(t, id)
	want := "was lost and the job was already requeued 1 time (max_requeues)"
	if j.State != store.JobFailed || j.Requeues != 1 || !strings.Contains(j.Reason, want) || j.ExitCode != -1 {
		t.Fatalf("after the second reclaim the job is %s, requeued %d times, exit %d (%q); want failed, 1, -1, %q",
			j.State, j.Requeues, j.ExitCode, j.Reason, want)
	}
	got, err := e.jobs.Get(context.Background(), ann, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.State != "failed" || got.Requeues != 1 || got.Reason != j.Reason {
		t.Errorf("the API shows the job %s, requeues %d, reason %q; want failed, 1, %q", got.State, got.Requeues, got.Reason, j.Reason)
	}

	// Its ranks are to be killed, and it is not started again.
	for range 3 {
		e.pass(t, envStep)
	}
	if j := e.job(t, id); j.State != store.JobFailed || j.Attempt != 2 {
		t.Errorf("later the job is %s at attempt %d; want failed at attempt 2", j.State, j.Attempt)
	}
}

func TestController_JobPastItsTimeLimitIsTimedOut(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newFakeEnv(t)
	e.create(t, "lab", `compute: {types: [t3.small], initial_nodes: 1, min_nodes: 1, max_nodes: 1}`)
	id := e.submitReq(t, "lab", api.SubmitJobRequest{Argv: []string{"sleep", "3600"}, TimeLimit: "2m"})
	e.converge(t, "job running", func() bool { return e.job(t, id).State == store.JobRunning })
	a := e.startRanks(t, id)[0]
	if a.TimeLimit != "2m0s" {
		t.Errorf("the agent is told a time limit of %s, want 2m0s", a.TimeLimit)
	}
	started := e.job(t, id).StartedAt
	node := e.job(t, id).Assigned[0]

	// The agent never reports an end: the control plane ends the job.
	e.converge(t, "job ended", func() bool { return e.job(t, id).State != store.JobRunning })
	j := e.job(t, id)
	if j.State != store.JobTimedOut || !strings.Contains(j.Reason, "time limit (2m0s)") {
		t.Fatalf("job is %s (%q), want timed_out at its time limit (2m0s)", j.State, j.Reason)
	}
	if d := j.EndedAt.Sub(started); d < 2*time.Minute {
		t.Errorf("job ended %s after it started, before its time limit", d)
	}
	// The agent still running the rank is told to kill it.
	_, kill, err := e.jobs.Work(ctx, e.node(t, node), []api.JobRef{a.JobRef})
	if err != nil || len(kill) != 1 || kill[0] != a.JobRef {
		t.Errorf("agent running %+v is told to kill %+v (%v); want that rank", a.JobRef, kill, err)
	}
	// Its node is free again: the next job starts on it.
	id2 := e.submit(t, "lab", 1)
	e.pass(t, envStep)
	if j2 := e.job(t, id2); j2.State != store.JobRunning || len(j2.Assigned) != 1 || j2.Assigned[0] != node {
		t.Errorf("next job is %s on %v; want running on the freed node %s", j2.State, j2.Assigned, node)
	}
}

func TestController_NodeLostMidJobRequeuesTheJob(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newFakeEnv(t)
	e.create(t, "lab", `compute: {types: [t3.small], max_nodes: 2, batch_window: 0s, scale_down: immediate}`)
	id := e.submit(t, "lab", 1)
	e.converge(t, "job running", func() bool { return e.job(t, id).State == store.JobRunning })
	e.startRanks(t, id)
	lost := e.node(t, e.job(t, id).Assigned[0])

	// The instance is gone (terminated outside stratus).
	if err := e.prov.Terminate(ctx, fakeRegion, lost.InstanceID); err != nil {
		t.Fatalf("terminate: %v", err)
	}
	e.converge(t, "job requeued", func() bool { return e.job(t, id).State != store.JobRunning })
	j := e.job(t, id)
	if j.State != store.JobQueued || j.Requeues != 1 || !strings.Contains(j.Reason, "node "+lost.ID+" was lost") {
		t.Fatalf("job is %s, requeued %d times (%q); want queued once, naming node %s", j.State, j.Requeues, j.Reason, lost.ID)
	}
	if len(j.Assigned) != 0 || !j.StartedAt.IsZero() {
		t.Errorf("a requeued job keeps its old run: assigned %v, started %v", j.Assigned, j.StartedAt)
	}

	// A replacement is launched; the job runs there and succeeds.
	e.converge(t, "job running again", func() bool { return e.job(t, id).State == store.JobRunning })
	if j := e.job(t, id); j.Attempt != 2 || j.Assigned[0] == lost.ID {
		t.Fatalf("job runs as attempt %d on %v; want attempt 2 on a new node", j.Attempt, j.Assigned)
	}
	e.runJob(t, id)
	if j := e.job(t, id); j.Requeues != 1 {
		t.Errorf("job requeued %d times, want 1", j.Requeues)
	}
}

func TestController_CFCreateInitialNodesIsTheMinimum(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	e.create(t, "lab", `{"ComputeInitialNodes": "2", "ComputeMaxNodes": "4", "AutoscalingPolicy": "enabled"}`)
	if n := len(e.computeNodes(t, "lab")); n != 2 {
		t.Fatalf("cluster started with %d compute nodes, want 2", n)
	}
	// A job comes and goes; hours of idle time later the fleet is still
	// at its minimum.
	id := e.submit(t, "lab", 1)
	e.pass(t, envStep)
	e.runJob(t, id)
	for range 30 {
		e.pass(t, 5*time.Minute)
	}
	if n := len(e.computeNodes(t, "lab")); n != 2 {
		t.Errorf("after 2.5 idle hours the fleet has %d compute nodes, want its minimum 2", n)
	}
	if got := e.sched.FleetStatus("lab"); !strings.Contains(got, "at minimum (2)") {
		t.Errorf("fleet status %q, want it at minimum (2)", got)
	}
}

func TestController_InitialNodesOutOfCapacityAreLaunchedInTheFallbackType(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	e.prov.SetNoCapacity("c5.large", true)
	e.create(t, "lab", `compute: {types: [c5.large, t3.small], initial_nodes: 2, min_nodes: 1, max_nodes: 4, batch_window: 0s}`)
	e.converge(t, "two compute nodes registered", func() bool {
		ready := 0
		for _, n := range e.computeNodes(t, "lab") {
			if !n.RegisteredAt.IsZero() {
				ready++
			}
		}
		return ready == 2
	})
	nodes := e.computeNodes(t, "lab")
	for _, n := range nodes {
		if n.Type != "t3.small" {
			t.Errorf("compute node %s is a %s, want t3.small (c5.large has no capacity)", n.ID, n.Type)
		}
	}
	if len(nodes) != 2 {
		t.Errorf("%d compute nodes, want initial_nodes (2)", len(nodes))
	}
	status := e.sched.FleetStatus("lab")
	if !strings.Contains(status, "c5.large out of capacity until ") {
		t.Errorf("fleet status %q does not say c5.large is out of capacity", status)
	}

	// The initial size is honoured once: idle, the fleet shrinks to
	// min_nodes, and a restarted control plane does not launch up to
	// initial_nodes again.
	e.converge(t, "fleet at min_nodes", func() bool { return len(e.computeNodes(t, "lab")) == 1 })
	evs, err := e.st.ListEvents(context.Background(), store.EventFilter{Cluster: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	var down []string
	for _, ev := range evs {
		if ev.Kind == "fleet.scale_down" {
			down = append(down, ev.Message)
		}
	}
	if len(down) != 1 || !strings.HasPrefix(down[0], "removing 1 idle node (") {
		t.Errorf("scale-down events %q, want one saying once that 1 idle node is removed", down)
	}
	launches := len(e.prov.Launches())
	r := e.restart(t)
	for range 6 {
		r.pass(t, time.Minute)
	}
	if n := len(r.computeNodes(t, "lab")); n != 1 {
		t.Errorf("after a restart the fleet has %d compute nodes, want min_nodes (1)", n)
	}
	if n := len(r.prov.Launches()) - launches; n != 0 {
		t.Errorf("after a restart the idle fleet launched %d instances, want none", n)
	}
}

func TestController_CapacityCooldownSurvivesARestart(t *testing.T) {
	t.Parallel()
	e := newFakeEnv(t)
	e.create(t, "lab", `compute: {types: [c5.large, t3.small], max_nodes: 4, batch_window: 0s}`)
	e.capacity.Report(fakeRegion, "c5.large")
	until := e.capacity.Unavailable(fakeRegion, e.clk.Now())["c5.large"]
	e.pass(t, time.Second)

	r := e.restart(t)
	if got := r.capacity.Unavailable(fakeRegion, r.clk.Now()); len(got) != 0 {
		t.Fatalf("a new control plane knows %v before its first pass", got)
	}
	r.pass(t, time.Second)
	if got := r.capacity.Unavailable(fakeRegion, r.clk.Now()); !got["c5.large"].Equal(until) {
		t.Fatalf("after a restart c5.large is avoided until %v, want %v", got["c5.large"], until)
	}
	// A job launches the fallback type, as it would have before the restart.
	id := r.submit(t, "lab", 1)
	r.converge(t, "job running", func() bool { return r.job(t, id).State == store.JobRunning })
	if n := r.node(t, r.job(t, id).Assigned[0]); n.Type != "t3.small" {
		t.Errorf("job runs on a %s, want t3.small while c5.large cools down", n.Type)
	}

	// Once the cool-down is over, a restarted control plane forgets it.
	r.clk.Advance(scheduler.CapacityCooldown)
	r2 := r.restart(t)
	r2.pass(t, time.Second)
	if got := r2.capacity.Unavailable(fakeRegion, r2.clk.Now()); len(got) != 0 {
		t.Errorf("after the cool-down a restarted control plane avoids %v", got)
	}
	if _, err := r2.st.GetMeta(context.Background(), "capacity.until."+fakeRegion+"/c5.large"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the ended cool-down is still stored (%v)", err)
	}
}

func TestController_EndedCapacityCooldownsAreForgotten(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newFakeEnv(t)
	e.create(t, "lab", `compute: {types: [c5.large, t3.small], max_nodes: 4, batch_window: 0s}`)
	key := "capacity.until." + fakeRegion + "/c5.large"
	e.capacity.Report(fakeRegion, "c5.large")
	// A type the cluster does not use: still forgotten once over.
	e.capacity.Report("elsewhere-1", "m5.large")
	e.pass(t, time.Second)
	if _, err := e.st.GetMeta(ctx, key); err != nil {
		t.Fatalf("the cool-down is not stored after a pass: %v", err)
	}
	if _, err := e.st.GetMeta(ctx, "capacity.until.elsewhere-1/m5.large"); err != nil {
		t.Fatalf("the other region's cool-down is not stored after a pass: %v", err)
	}

	e.clk.Advance(scheduler.CapacityCooldown)
	e.pass(t, time.Second)
	for _, k := range []string{key, "capacity.until.elsewhere-1/m5.large"} {
		if v, err := e.st.GetMeta(ctx, k); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("meta %s = %q, %v after the cool-down ended; want it deleted", k, v, err)
		}
	}
	if n := e.capacity.Len(); n != 0 {
		t.Errorf("%d cool-downs held in memory after they ended, want 0", n)
	}

	// A new report after that is stored again.
	e.capacity.Report(fakeRegion, "c5.large")
	e.pass(t, time.Second)
	if _, err := e.st.GetMeta(ctx, key); err != nil {
		t.Errorf("a new cool-down is not stored after a pass: %v", err)
	}
}

func TestService_OutputBeyondTheCapIsTruncated(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newFakeEnv(t)
	e.jobs.MaxOutput = 16
	e.create(t, "lab", `compute: {types: [t3.small], initial_nodes: 1, min_nodes: 1, max_nodes: 1}`)
	id := e.submit(t, "lab", 1)
	e.converge(t, "job running", func() bool { return e.job(t, id).State == store.JobRunning })
	a := e.startRanks(t, id)[0]
	node := e.node(t, e.job(t, id).Assigned[0])
	send := func(data string) {
		t.Helper()
		err := e.jobs.AgentOutput(ctx, node, api.JobOutputBatch{JobRef: a.JobRef, Frames: []api.ExecFrame{{Stream: "stdout", Data: []byte(data)}}})
		if err != nil {
			t.Fatalf("output: %v", err)
		}
	}
	send("0123456789")
	send("abcdefghij") // crosses the cap: 6 bytes kept
	send("klmnopqrst") // past it: dropped
	if err := e.jobs.AgentExit(ctx, node, api.JobExit{JobRef: a.JobRef}); err != nil {
		t.Fatal(err)
	}

	out, err := e.jobs.Output(ctx, ann, id, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	for _, c := range out.Chunks {
		if c.Stream == "stderr" {
			stderr.Write(c.Data)
		} else {
			stdout.Write(c.Data)
		}
	}
	if stdout.String() != "0123456789abcdef" {
		t.Errorf("stdout kept %q, want the first 16 bytes", stdout.String())
	}
	if !strings.Contains(stderr.String(), "[stratus: output truncated") || strings.Count(stderr.String(), "truncated") != 1 {
		t.Errorf("stderr %q, want one truncation marker", stderr.String())
	}
	j, err := e.jobs.Get(ctx, ann, id)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(raw), `"output_truncated":true`) || !strings.Contains(string(raw), `"output_bytes":16`) {
		t.Errorf("job JSON %s, want output_truncated true and output_bytes 16", raw)
	}
}

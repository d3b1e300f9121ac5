package aws_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/dispatch"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/aws/ec2fake"
	"github.com/stratus-cloud/stratus/internal/region"
	"github.com/stratus-cloud/stratus/internal/schedule"
	"github.com/stratus-cloud/stratus/internal/store"
)

// fakeAgents stand in for the agents of workers on ec2fake (which runs no
// programs): while a worker's instance runs, its agent takes the commands
// the hub holds for it and answers with the exit code set by exit.
type fakeAgents struct {
	fake *ec2fake.Fake
	st   store.Store
	hub  *dispatch.Hub

	mu   sync.Mutex
	exit int
	ran  []string // the instances commands ran on
}

func (a *fakeAgents) setExit(code int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.exit = code
}

func (a *fakeAgents) ranOn() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.ran...)
}

func (a *fakeAgents) run(ctx context.Context) {
	for ctx.Err() == nil {
		nodes, _ := a.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker})
		for _, n := range nodes {
			in, ok := a.fake.Instance(n.Region, n.InstanceID)
			if n.InstanceID == "" || !ok || in.State == nil || in.State.Name != types.InstanceStateNameRunning {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Millisecond)
			work := a.hub.Poll(pctx, n.ID)
			cancel()
			for _, x := range work {
				a.mu.Lock()
				code := a.exit
				a.ran = append(a.ran, n.InstanceID)
				a.mu.Unlock()
				frames := []api.ExecFrame{{Stream: "stdout", Data: []byte("ran on " + n.InstanceID + "\n")}, {Exit: &code}}
				_ = a.hub.Stream(ctx, n.ID, x.ID, func() (api.ExecFrame, bool) {
					if len(frames) == 0 {
						return api.ExecFrame{}, false
					}
					f := frames[0]
					frames = frames[1:]
					return f, true
				})
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A schedule on regions configured by `region configure` on the aws
// provider: a run whose worker is missing launches it the way configure
// does (the copied image, the region's group, key pair and profile), runs
// the command and stops the worker; a failing command and a launch that
// cannot be made still end with the run recorded and nothing running.
func TestScheduleOnConfiguredRegions(t *testing.T) {
	t.Parallel()
	e := newRegionEnv(t)
	ctx := context.Background()
	resp, err := e.svc.Configure(ctx, "admin", api.RegionConfigureRequest{Regions: regionTargets, Home: regionHome, PublicKey: e.pub, WorkerType: "t3.small"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Regions {
		if !r.OK {
			t.Fatalf("configure %s: %+v", r.Region, r.Steps)
		}
	}

	// The worker of the first region loses its instance (a replacement is
	// launched); the second loses its record too (one is created).
	for i, r := range regionTargets {
		nodes, err := e.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: r})
		if err != nil || len(nodes) != 1 {
			t.Fatalf("workers of %s: %+v, %v", r, nodes, err)
		}
		if _, err := e.fake.Client(r).TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: []string{nodes[0].InstanceID}}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := e.st.DeleteNode(ctx, nodes[0].ID); err != nil {
				t.Fatal(err)
			}
		}
	}

	clk := clock.NewFake(time.Date(2026, 11, 2, 9, 59, 0, 0, time.UTC))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := &schedule.Service{Store: e.st, Clock: clk, Logger: log, Regions: append([]string{regionHome}, regionTargets...),
		Billing: cost.PerSecond, StorageMicros: cost.DefaultCatalog().StorageMicrosPerGBMonth}
	if _, err := svc.Create(ctx, cluster.Caller{User: "ada"}, api.CreateScheduleRequest{Name: "probe", Cron: "0 * * * *",
		Rotate: regionTargets, MaxRuntime: "30m", Argv: []string{"probe"}}); err != nil {
		t.Fatal(err)
	}
	hub := dispatch.NewHub()
	c := &schedule.Controller{
		Store: e.st, Provider: e.p, Hub: hub, Clock: clk, Logger: log,
		Launcher: cluster.Launcher{Installation: regionInst, AgentSecret: "secret", AdvertiseURL: "http://127.0.0.1:1"},
		Workers:  e.svc,
		Billing:  cost.PerSecond, StorageMicros: cost.DefaultCatalog().StorageMicrosPerGBMonth,
	}
	agents := &fakeAgents{fake: e.fake, st: e.st, hub: hub}
	actx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); agents.run(actx) }()
	t.Cleanup(func() { cancel(); <-done; c.Wait() })

	tick := func(hour int) *store.ScheduleRun {
		t.Helper()
		clk.Set(time.Date(2026, 11, 2, hour, 0, 0, 0, time.UTC))
		if _, err := c.Reconcile(actx); err != nil {
			t.Fatalf("Reconcile: %v", err)
		}
		runs, _ := e.st.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: "probe"})
		number := len(runs)
		deadline := time.Now().Add(10 * time.Second)
		for {
			r, err := e.st.GetScheduleRun(ctx, "probe", number)
			if err == nil && !r.EndedAt.IsZero() {
				return r
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d has not ended: %+v, %v", number, r, err)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	// checkWorker checks that the run's worker was launched as configure
	// launches it and is stopped.
	checkWorker := func(r *store.ScheduleRun) {
		t.Helper()
		in, ok := e.fake.Instance(r.Region, r.InstanceID)
		if !ok {
			t.Fatalf("run %d: no instance %q in %s", r.Number, r.InstanceID, r.Region)
		}
		imgs, _ := e.p.ListImages(ctx, r.Region, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		gs, _ := e.p.ListSecurityGroups(ctx, r.Region, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		if len(imgs) != 1 || awssdk.ToString(in.ImageId) != imgs[0].ID {
			t.Errorf("run %d's worker launched from %s, want the copy in %s: %+v", r.Number, awssdk.ToString(in.ImageId), r.Region, imgs)
		}
		if len(gs) != 1 || len(in.SecurityGroups) != 1 || awssdk.ToString(in.SecurityGroups[0].GroupId) != gs[0].ID {
			t.Errorf("run %d's worker has groups %+v, want the region's %+v", r.Number, in.SecurityGroups, gs)
		}
		if got := awssdk.ToString(in.KeyName); got != region.DefaultKeyPrefix+regionInst {
			t.Errorf("run %d's worker has key %q, want %q", r.Number, got, region.DefaultKeyPrefix+regionInst)
		}
		if in.IamInstanceProfile == nil || !strings.HasSuffix(awssdk.ToString(in.IamInstanceProfile.Arn), "/"+region.DefaultInstanceProfile) {
			t.Errorf("run %d's worker has profile %+v, want %s", r.Number, in.IamInstanceProfile, region.DefaultInstanceProfile)
		}
		if in.InstanceType != types.InstanceTypeT3Small {
			t.Errorf("run %d's worker is a %s, want the configured t3.small", r.Number, in.InstanceType)
		}
		if s := in.State.Name; s != types.InstanceStateNameStopped && s != types.InstanceStateNameStopping {
			t.Errorf("run %d's worker is %s after the run, want stopped", r.Number, s)
		}
	}

	// 10:00, the first region: its worker's instance is replaced.
	agents.setExit(0)
	r := tick(10)
	if r.State != store.RunSucceeded || r.ExitCode != 0 || r.Region != regionTargets[0] {
		t.Errorf("run 1: %s, exit %d, region %s (%s); want succeeded, 0, %s", r.State, r.ExitCode, r.Region, r.Reason, regionTargets[0])
	}
	checkWorker(r)

	// 11:00, the second region: its worker is created; the command fails
	// and the worker is stopped all the same.
	agents.setExit(3)
	r = tick(11)
	if r.State != store.RunFailed || r.ExitCode != 3 || r.Region != regionTargets[1] {
		t.Errorf("run 2: %s, exit %d, region %s (%s); want failed, 3, %s", r.State, r.ExitCode, r.Region, r.Reason, regionTargets[1])
	}
	checkWorker(r)
	if got := agents.ranOn(); len(got) != 2 {
		t.Errorf("commands ran on %v, want one per run", got)
	}

	// The region's copy is gone and its worker too: the run cannot launch
	// one and says why; nothing is left running.
	target := regionTargets[0]
	imgs, _ := e.p.ListImages(ctx, target, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
	if len(imgs) != 1 {
		t.Fatalf("images in %s: %+v", target, imgs)
	}
	if err := e.p.DeregisterImage(ctx, target, imgs[0].ID); err != nil {
		t.Fatal(err)
	}
	nodes, _ := e.st.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: target})
	for _, n := range nodes {
		if err := e.p.Terminate(ctx, target, n.InstanceID); err != nil {
			t.Fatal(err)
		}
	}
	launches := e.fake.Calls(ec2fake.ActionRunInstances)
	r = tick(12)
	if r.State != store.RunFailed || r.Region != target || !strings.Contains(r.Reason, "no available copy of the image") ||
		!strings.Contains(r.Reason, "stratus region configure "+target) {
		t.Errorf("run 3: %s in %s, reason %q; want failed for want of the image", r.State, r.Region, r.Reason)
	}
	if n := e.fake.Calls(ec2fake.ActionRunInstances) - launches; n != 0 {
		t.Errorf("run 3 launched %d instances, want none", n)
	}
	for _, rg := range regionTargets {
		ins, _ := e.p.Describe(ctx, rg, provider.Filter{Tags: map[string]string{provider.TagInstallation: regionInst}})
		for _, in := range ins {
			if in.State == provider.StateRunning || in.State == provider.StatePending {
				t.Errorf("instance %s in %s is %s after the runs", in.ID, rg, in.State)
			}
		}
	}
}

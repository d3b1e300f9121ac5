package cluster_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/notify"
	"github.com/stratus-cloud/stratus/internal/store"
)

const testKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7MFQfcHd1ylZUcKQiI8JWtuQRNG3PWlubfBl1oO9T8 ann@laptop"

func customEnv(t *testing.T, custom *api.Customisation) *env {
	t.Helper()
	e := newEnv(t)
	e.svc.Customisation = func(user string) api.Customisation {
		if user != "ann" {
			return api.Customisation{}
		}
		return *custom
	}
	return e
}

// What a cluster gets is captured at creation: a later change of the
// policy's customisation leaves it alone, and a role gets its own scripts.
func TestCustomisation_CapturedAtCreation(t *testing.T) {
	custom := &api.Customisation{
		SSHKeys: []string{testKey},
		Head:    []api.BootstrapScript{{Name: "head.sh", Content: []byte("#!/bin/sh\necho v1\n")}},
		Compute: []api.BootstrapScript{{Name: "compute.sh", Content: []byte("#!/bin/sh\n")}},
	}
	e := customEnv(t, custom)
	e.create(t, "lab", reqOneCompute)
	*custom = api.Customisation{Head: []api.BootstrapScript{{Name: "other.sh", Content: []byte("#!/bin/sh\necho v2\n")}}}

	var head, compute *store.Node
	for _, n := range e.nodes(t, "lab") {
		if n.Role == store.RoleHead {
			head = n
		} else {
			compute = n
		}
	}
	got, err := e.svc.NodeCustomisation(context.Background(), head)
	if err != nil {
		t.Fatal(err)
	}
	if got.Owner != "ann" || got.Role != "head" || len(got.SSHKeys) != 1 || len(got.Scripts) != 1 ||
		got.Scripts[0].Name != "head.sh" || string(got.Scripts[0].Content) != "#!/bin/sh\necho v1\n" {
		t.Errorf("head's customisation %+v", got)
	}
	got, err = e.svc.NodeCustomisation(context.Background(), compute)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Scripts) != 1 || got.Scripts[0].Name != "compute.sh" {
		t.Errorf("compute's customisation %+v", got)
	}
	sum := e.get(t, "lab").Customisation
	if sum == nil || len(sum.SSHKeys) != 1 || sum.SSHKeys[0] != "SHA256:+7Mp32er4lydoNiApNjjbYQK0PA6q+yZEYhxADwBN3M ann@laptop" ||
		len(sum.HeadScripts) != 1 || sum.HeadScripts[0] != "head.sh" || len(sum.ComputeScripts) != 1 {
		t.Errorf("summary %+v", sum)
	}
	// A cluster created now gets the new customisation; bob gets none.
	e.create(t, "lab2", reqHeadOnly)
	if sum := e.get(t, "lab2").Customisation; sum == nil || len(sum.HeadScripts) != 1 || sum.HeadScripts[0] != "other.sh" || len(sum.SSHKeys) != 0 {
		t.Errorf("lab2's summary %+v", sum)
	}
	if _, err := e.svc.Create(context.Background(), bob, api.CreateClusterRequest{Name: "bobs", Request: reqHeadOnly}); err != nil {
		t.Fatal(err)
	}
	cl, err := e.svc.Get(context.Background(), bob, "bobs")
	if err != nil || cl.Customisation != nil {
		t.Errorf("bob's cluster: %v, customisation %+v", err, cl.Customisation)
	}
}

// A compute node whose bootstrap fails once the cluster runs is taken out
// of service; the cluster keeps running. A head node's failure fails it.
func TestCustomisation_FailureOfRunningCluster(t *testing.T) {
	custom := &api.Customisation{Compute: []api.BootstrapScript{{Name: "c.sh", Content: []byte("#!/bin/sh\nexit 1\n")}}}
	e := customEnv(t, custom)
	nodes := e.running(t, "lab", reqOneCompute)
	var head, compute *store.Node
	for _, n := range nodes {
		if n.Role == store.RoleHead {
			head = n
		} else {
			compute = n
		}
	}
	fail := api.CustomisationReport{Results: []api.ScriptResult{{Name: "c.sh", ExitCode: 1, Output: "line one\nno licence\n"}}}
	if err := e.svc.ReportCustomisation(context.Background(), compute, fail); err != nil {
		t.Fatal(err)
	}
	if st := e.get(t, "lab").State; st != "running" {
		t.Errorf("cluster %s after a compute node's bootstrap failed, want running", st)
	}
	if !e.node(t, compute.ID).Terminate {
		t.Errorf("failed compute node not marked for termination")
	}
	evs := e.events(t, "lab")
	if !hasEvent(evs, "bootstrap.failed", compute.ID) || !hasEvent(evs, "node.terminating", compute.ID) {
		t.Errorf("events %v", evs)
	}
	for _, ev := range evs {
		if ev.Kind == "bootstrap.failed" && ev.Message != "script c.sh exited 1 on the compute node: line one | no licence" {
			t.Errorf("event message %q", ev.Message)
		}
	}
	// The head node's (after a relaunch, say) fails the cluster, and its
	// owner is told.
	var told []notify.Event
	e.svc.Notify = notify.Func(func(_ context.Context, ev notify.Event) error {
		told = append(told, ev)
		return nil
	})
	if err := e.svc.ReportCustomisation(context.Background(), head, api.CustomisationReport{KeysError: "login user \"ec2-user\": unknown user"}); err != nil {
		t.Fatal(err)
	}
	cl := e.get(t, "lab")
	if cl.State != "failed" || cl.Reason != `ssh keys could not be installed on the head node: login user "ec2-user": unknown user` {
		t.Errorf("cluster %s (%s)", cl.State, cl.Reason)
	}
	if len(told) != 1 || told[0].Kind != notify.ClusterFailed || told[0].User != "ann" || !strings.Contains(told[0].Body, "unknown user") {
		t.Errorf("notifications %+v, want one cluster.failed to ann with the reason", told)
	}
}

package agent_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/agent"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/store"
)

const (
	keyAnn = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIM7MFQfcHd1ylZUcKQiI8JWtuQRNG3PWlubfBl1oO9T8 ann@laptop"
	keyBob = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGt5xX5qCVI5KCwEgY6WES8/A6QAG6l6VkwjhSo/HqX8 bob"
)

func TestInstallAuthorizedKeys(t *testing.T) {
	t.Parallel()
	home := filepath.Join(t.TempDir(), "home")
	file, err := agent.InstallAuthorizedKeys(home, []string{keyAnn}, -1, -1)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(home, ".ssh", "authorized_keys"); file != want {
		t.Errorf("file %s, want %s", file, want)
	}
	if m := mode(t, filepath.Join(home, ".ssh")); m != 0o700 {
		t.Errorf(".ssh mode %v, want 0700", m)
	}
	if m := mode(t, file); m != 0o600 {
		t.Errorf("authorized_keys mode %v, want 0600", m)
	}
	if got := read(t, file); got != keyAnn+"\n" {
		t.Errorf("authorized_keys = %q", got)
	}
	// Existing lines are kept (a missing final newline too), keys already
	// there are not added again, and repeating changes nothing.
	own := "# mine\nssh-rsa AAAAB3NzaC1yc2E mine"
	if err := os.WriteFile(file, []byte(own), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if _, err := agent.InstallAuthorizedKeys(home, []string{keyBob, "  " + keyBob + " ", keyAnn}, -1, -1); err != nil {
			t.Fatal(err)
		}
		if got, want := read(t, file), own+"\n"+keyBob+"\n"+keyAnn+"\n"; got != want {
			t.Errorf("round %d: authorized_keys = %q, want %q", i, got, want)
		}
	}
	if _, err := agent.InstallAuthorizedKeys(home, []string{keyAnn}, -1, -1); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(read(t, file), keyAnn); n != 1 {
		t.Errorf("ann's key appears %d times", n)
	}
}

func mode(t *testing.T, p string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// newCustomPlane is the control plane of newControlPlane, its cluster
// "lab" of ann created with custom as its customisation.
func newCustomPlane(t *testing.T, custom api.Customisation) *controlPlane {
	t.Helper()
	return newPlane(t, func(user string) api.Customisation {
		if user != "ann" {
			return api.Customisation{}
		}
		return custom
	}, time.Second)
}

func (cp *controlPlane) registered(t *testing.T) bool {
	n, err := cp.st.GetNode(context.Background(), cp.head)
	if err != nil {
		t.Fatal(err)
	}
	return !n.RegisteredAt.IsZero()
}

// events returns the cluster's events of the given kinds, oldest first, as
// "kind: message".
func (cp *controlPlane) events(t *testing.T, kinds ...string) []string {
	t.Helper()
	es, err := cp.st.ListEvents(context.Background(), store.EventFilter{Cluster: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		for _, k := range kinds {
			if es[i].Kind == k {
				out = append(out, es[i].Kind+": "+es[i].Message)
			}
		}
	}
	return out
}

func (cp *controlPlane) cluster(t *testing.T) *store.Cluster {
	t.Helper()
	cl, err := cp.st.GetCluster(context.Background(), "lab")
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func script(name, body string) api.BootstrapScript {
	return api.BootstrapScript{Name: name, Content: []byte("#!/bin/sh\n" + body)}
}

func TestAgent_CustomisationRunsOnceInOrderBeforeRegistering(t *testing.T) {
	t.Parallel()
	cp := newCustomPlane(t, api.Customisation{
		SSHKeys: []string{keyAnn, keyBob},
		Head: []api.BootstrapScript{
			script("scripts/first.sh", `echo "first $STRATUS_CLUSTER $STRATUS_NODE_ROLE $STRATUS_OWNER" >>"$HOME/order"`+"\n"),
			script("second.sh", `echo second >>"$HOME/order"; echo second-out`+"\n"),
		},
		Compute: []api.BootstrapScript{script("compute.sh", "echo compute >>\"$HOME/order\"\n")},
	})
	dir := t.TempDir()
	stop := cp.runAgent(t, dir, 0)
	eventually(t, "the agent has registered", func() bool { return cp.registered(t) })
	home := filepath.Join(dir, "home")
	// The scripts ran before registration: their effects are there now.
	if got, want := read(t, filepath.Join(home, "order")), "first lab head ann\nsecond\n"; got != want {
		t.Errorf("scripts' effects %q, want %q", got, want)
	}
	if got, want := read(t, filepath.Join(home, ".ssh", "authorized_keys")), keyAnn+"\n"+keyBob+"\n"; got != want {
		t.Errorf("authorized_keys = %q, want %q", got, want)
	}
	want := []string{
		"bootstrap.ok: 2 ssh key(s) installed in " + filepath.Join(home, ".ssh", "authorized_keys") + " on the head node",
		"bootstrap.ok: script scripts/first.sh exited 0 on the head node",
		"bootstrap.ok: script second.sh exited 0 on the head node",
	}
	if got := cp.events(t, "bootstrap.ok", "bootstrap.failed"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// A restarted agent runs nothing again and registers.
	stop()
	n, _ := cp.st.GetNode(context.Background(), cp.head)
	n.RegisteredAt = time.Time{}
	if err := cp.st.UpdateNode(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	cp.runAgent(t, dir, 0)
	eventually(t, "the restarted agent has registered", func() bool { return cp.registered(t) })
	if got := read(t, filepath.Join(home, "order")); got != "first lab head ann\nsecond\n" {
		t.Errorf("scripts ran again after a restart: %q", got)
	}
	if got := cp.events(t, "bootstrap.ok", "bootstrap.failed"); len(got) != 3 {
		t.Errorf("events after a restart:\n%s", strings.Join(got, "\n"))
	}
	if st := cp.cluster(t).State; st != store.ClusterCreating {
		t.Errorf("cluster state %s, want creating (nothing failed)", st)
	}
}

func TestAgent_CustomisationFailureStopsScriptsAndFailsCluster(t *testing.T) {
	t.Parallel()
	cp := newCustomPlane(t, api.Customisation{Head: []api.BootstrapScript{
		script("ok.sh", "echo ok >>\"$HOME/order\"\n"),
		script("bad.sh", "echo bad >>\"$HOME/order\"; echo 'cannot mount /shared' >&2; exit 3\n"),
		script("never.sh", "echo never >>\"$HOME/order\"\n"),
	}})
	dir := t.TempDir()
	cp.runAgent(t, dir, 0)
	// The agent registers after reporting even so (the node can be looked
	// at), but the cluster has failed.
	eventually(t, "the agent has registered", func() bool { return cp.registered(t) })
	if got := read(t, filepath.Join(dir, "home", "order")); got != "ok\nbad\n" {
		t.Errorf("scripts run: %q, want ok and bad only", got)
	}
	cl := cp.cluster(t)
	if cl.State != store.ClusterFailed || !strings.Contains(cl.Reason, "bad.sh exited 3 on the head node: cannot mount /shared") {
		t.Errorf("cluster %s (%s), want failed naming bad.sh, its exit code and output", cl.State, cl.Reason)
	}
	got := cp.events(t, "bootstrap.ok", "bootstrap.failed", "cluster.failed")
	want := []string{
		"bootstrap.ok: script ok.sh exited 0 on the head node",
		"bootstrap.failed: script bad.sh exited 3 on the head node: cannot mount /shared",
		"cluster.failed: cluster is failed: bootstrap script bad.sh exited 3 on the head node: cannot mount /shared",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAgent_CustomisationScriptTimeout(t *testing.T) {
	t.Parallel()
	cp := newCustomPlane(t, api.Customisation{Head: []api.BootstrapScript{
		script("slow.sh", "echo started; exec sleep 60\n"),
	}})
	cp.runAgent(t, t.TempDir(), 200*time.Millisecond)
	eventually(t, "the agent has registered", func() bool { return cp.registered(t) })
	got := cp.events(t, "bootstrap.failed")
	if len(got) != 1 || !strings.Contains(got[0], "script slow.sh timed out (killed) on the head node: started") {
		t.Errorf("events %q, want slow.sh timed out", got)
	}
	if cl := cp.cluster(t); cl.State != store.ClusterFailed {
		t.Errorf("cluster %s, want failed", cl.State)
	}
}

// An agent that stopped while a script ran does not run it again: it
// reports it as interrupted.
func TestAgent_CustomisationInterruptedScriptIsNotRunAgain(t *testing.T) {
	t.Parallel()
	cp := newCustomPlane(t, api.Customisation{Head: []api.BootstrapScript{
		script("once.sh", "echo ran >>\"$HOME/order\"\n"),
	}})
	dir := t.TempDir()
	state, _ := json.Marshal(map[string]any{"running": "once.sh"})
	if err := os.WriteFile(filepath.Join(dir, agent.CustomisationFile), state, 0o600); err != nil {
		t.Fatal(err)
	}
	cp.runAgent(t, dir, 0)
	eventually(t, "the agent has registered", func() bool { return cp.registered(t) })
	if _, err := os.Stat(filepath.Join(dir, "home", "order")); !os.IsNotExist(err) {
		t.Errorf("the interrupted script ran again (%v)", err)
	}
	got := cp.events(t, "bootstrap.failed")
	if len(got) != 1 || !strings.Contains(got[0], "script once.sh exited -1 on the head node: the agent stopped while the script ran") {
		t.Errorf("events %q", got)
	}
}

// A report the control plane already has changes nothing.
func TestReportCustomisationIsRecordedOnce(t *testing.T) {
	t.Parallel()
	cp := newCustomPlane(t, api.Customisation{Head: []api.BootstrapScript{script("a.sh", "true\n")}})
	c := api.NewClient(cp.url, auth.AgentToken(testSecret, cp.head, 1))
	got, err := c.Customisation(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Cluster != "lab" || got.Role != "head" || got.Owner != "ann" || len(got.Scripts) != 1 || got.Scripts[0].Name != "a.sh" {
		t.Errorf("customisation %+v", got)
	}
	rep := api.CustomisationReport{Results: []api.ScriptResult{{Name: "a.sh", ExitCode: 1, Output: "no"}}}
	for i := 0; i < 2; i++ {
		if err := c.ReportCustomisation(context.Background(), rep); err != nil {
			t.Fatal(err)
		}
	}
	if got := cp.events(t, "bootstrap.failed", "cluster.failed"); len(got) != 2 {
		t.Errorf("events %q, want one bootstrap.failed and one cluster.failed", got)
	}
	// Unknown tokens get nothing.
	if _, err := api.NewClient(cp.url, "nope").Customisation(context.Background()); err == nil {
		t.Error("an unknown token got a customisation")
	}
}

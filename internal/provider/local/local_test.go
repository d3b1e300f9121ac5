package local_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/agent"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/local"
	"github.com/stratus-cloud/stratus/internal/provider/providertest"
)

// The test binary doubles as a harmless agent: started with helperEnv=1 it
// prints its pid and waits for SIGTERM.
const helperEnv = "STRATUS_LOCAL_TEST_AGENT"

// With ignoreTermEnv=1 as well, the helper agent ignores SIGTERM: only
// SIGKILL ends it, as an agent that takes all its grace time.
const ignoreTermEnv = "STRATUS_LOCAL_TEST_IGNORE_TERM"

// Started with launcherEnv=ROOT, the test binary is a second process
// poking the same cloud: it launches with the token "shared" and prints the
// instance id.
const launcherEnv = "STRATUS_LOCAL_TEST_LAUNCHER_ROOT"

// Started with stopperEnv="ROOT CALL ID", the test binary is a control
// plane that asks the cloud at ROOT to stop or terminate instance ID, says
// "asked", and dies at once by SIGKILL, leaving the transition to whoever
// calls next.
const stopperEnv = "STRATUS_LOCAL_TEST_STOPPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		fakeAgent()
		return
	}
	if root := os.Getenv(launcherEnv); root != "" {
		os.Exit(launcher(root))
	}
	if args := os.Getenv(stopperEnv); args != "" {
		os.Exit(stopper(strings.Fields(args)))
	}
	os.Exit(m.Run())
}

func stopper(args []string) int {
	if len(args) != 3 {
		fmt.Fprintf(os.Stderr, "%s: want ROOT CALL ID, got %q\n", stopperEnv, args)
		return 2
	}
	p, err := local.New(local.Options{Root: args[0], KillGrace: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	call := p.Stop
	if args[1] == "terminate" {
		call = p.Terminate
	}
	if err := call(context.Background(), "local-1", args[2]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("asked")
	syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {}
}

func launcher(root string) int {
	p, err := local.New(local.Options{Root: root})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := range 5 {
		spec := launchSpec("shared")
		spec.Agent = provider.AgentBootstrap{}
		in, err := p.Launch(context.Background(), spec)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		spec.ClientToken = fmt.Sprintf("own-%d-%d", os.Getpid(), i)
		if _, err := p.Launch(context.Background(), spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(in.ID)
	}
	return 0
}

func fakeAgent() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
	wd, _ := os.Getwd()
	fmt.Printf("pid %d cwd %s id %s\n", os.Getpid(), wd, os.Getenv("STRATUS_INSTANCE_ID"))
	if os.Getenv(ignoreTermEnv) == "1" {
		for range ch {
		}
	}
	<-ch
	os.Exit(0)
}

func helperCommand(dir string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	// GORACE: a race-enabled helper would otherwise sleep 1s on exit.
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GORACE=atexit_sleep_ms=0")
	return cmd
}

// stubbornCommand is helperCommand for an agent that ignores SIGTERM.
func stubbornCommand(dir string) *exec.Cmd {
	cmd := helperCommand(dir)
	cmd.Env = append(cmd.Env, ignoreTermEnv+"=1")
	return cmd
}

var withAgent = provider.AgentBootstrap{ServerURL: "http://127.0.0.1:1", Token: "secret-token"}

// newLocal returns a provider on a fresh root running helper agents, and
// terminates everything in it when the test ends.
func newLocal(t *testing.T, opts local.Options) *local.Provider {
	t.Helper()
	if opts.Root == "" {
		opts.Root = t.TempDir()
	}
	if opts.AgentCommand == nil {
		opts.AgentCommand = helperCommand
	}
	if opts.KillGrace == 0 {
		opts.KillGrace = 2 * time.Second
	}
	p, err := local.New(opts)
	if err != nil {
		t.Fatalf("local.New: %v", err)
	}
	t.Cleanup(func() { terminateAll(t, p) })
	return p
}

// terminateAll terminates every instance under p's root, in every region,
// and waits until they are terminated (their processes gone).
func terminateAll(t *testing.T, p *local.Provider) {
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{}); err != nil {
		t.Errorf("cleanup: reset behaviour: %v", err)
	}
	ctx := context.Background()
	regions, err := p.Regions(ctx)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, r := range regions {
		ins, err := p.Describe(ctx, r, provider.Filter{})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			continue
		}
		for _, in := range ins {
			if err := p.Terminate(ctx, r, in.ID); err != nil {
				t.Errorf("cleanup: terminate %s: %v", in.ID, err)
			}
		}
	}
	deadline := time.Now().Add(15 * time.Second)
	for _, r := range regions {
		for {
			ins, err := p.Describe(ctx, r, provider.Filter{})
			if err != nil {
				t.Errorf("cleanup: %v", err)
				break
			}
			left := 0
			for _, in := range ins {
				if in.State != provider.StateTerminated {
					left++
				}
			}
			if left == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("cleanup: %d instances in %s not terminated yet", left, r)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func TestConformance(t *testing.T) {
	providertest.Run(t, providertest.Harness{
		New: func(t *testing.T) provider.Provider {
			return newLocal(t, local.Options{BootDelay: 100 * time.Millisecond})
		},
		WaitTimeout: 15 * time.Second,
		Agent:       withAgent,
		SetNoCapacity: func(t *testing.T, p provider.Provider, typ string) {
			if err := local.WriteBehaviour(p.(*local.Provider).Root(), local.Behaviour{NoCapacity: []string{typ}}); err != nil {
				t.Fatal(err)
			}
		},
		Reclaim: func(t *testing.T, p provider.Provider, region, id string, notice time.Duration) error {
			return p.(*local.Provider).Reclaim(context.Background(), region, id, notice)
		},
	})
}

func launchSpec(token string) provider.LaunchSpec {
	return provider.LaunchSpec{
		Region:      "local-1",
		ClientToken: token,
		Type:        "t3.micro",
		Tags:        map[string]string{provider.TagCluster: "c1"},
		Agent:       withAgent,
	}
}

func mustLaunch(t *testing.T, p *local.Provider, spec provider.LaunchSpec) provider.Instance {
	t.Helper()
	in, err := p.Launch(context.Background(), spec)
	if err != nil {
		t.Fatalf("Launch: %v", err)
	}
	return in
}

func describeOne(t *testing.T, p *local.Provider, id string) (provider.Instance, bool) {
	t.Helper()
	ins, err := p.Describe(context.Background(), "local-1", provider.Filter{IDs: []string{id}})
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if len(ins) == 0 {
		return provider.Instance{}, false
	}
	return ins[0], true
}

func waitState(t *testing.T, p *local.Provider, id string, want provider.State) provider.Instance {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		in, ok := describeOne(t, p, id)
		if ok && in.State == want {
			return in
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance %s: state %q, want %s", id, in.State, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// agentPIDs returns the pids the helper agents of instance dir have
// printed to agent.log, waiting until there are at least n.
func agentPIDs(t *testing.T, dir string, n int) []int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var pids []int
		if f, err := os.Open(filepath.Join(dir, local.AgentLog)); err == nil {
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var pid int
				var cwd, id string
				if _, err := fmt.Sscanf(sc.Text(), "pid %d cwd %s id %s", &pid, &cwd, &id); err == nil {
					if cwd != dir || id != filepath.Base(dir) {
						t.Errorf("agent ran in %s for %s, want %s for %s", cwd, id, dir, filepath.Base(dir))
					}
					pids = append(pids, pid)
				}
			}
			f.Close()
		}
		if len(pids) >= n {
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d agent pids logged, want %d", dir, len(pids), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	rest := string(data[strings.LastIndexByte(string(data), ')')+1:])
	return !strings.HasPrefix(strings.TrimSpace(rest), "Z")
}

// sessionID returns the session of pid (field 6 of /proc/pid/stat).
func sessionID(t *testing.T, pid int) int {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("stat %d: %v", pid, err)
	}
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	sid, _ := strconv.Atoi(fields[3])
	return sid
}

func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d is still alive", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLocal_AgentDetachedAndKilledOnTerminate(t *testing.T) {
	p := newLocal(t, local.Options{})
	in := mustLaunch(t, p, launchSpec("a"))
	dir := p.InstanceDir(in.ID)

	cfg, err := agent.ReadConfig(dir)
	if err != nil {
		t.Fatalf("agent config: %v", err)
	}
	want := agent.Config{InstanceID: in.ID, Region: "local-1", Address: in.Address, ServerURL: withAgent.ServerURL, Token: withAgent.Token}
	if cfg != want {
		t.Errorf("agent config = %+v, want %+v", cfg, want)
	}
	pid := agentPIDs(t, dir, 1)[0]
	if !alive(pid) {
		t.Fatalf("agent %d is not running", pid)
	}
	if sid := sessionID(t, pid); sid != pid {
		t.Errorf("agent %d is in session %d, want its own session", pid, sid)
	}
	if sid := sessionID(t, os.Getpid()); sid == pid {
		t.Errorf("agent shares the test's session")
	}

	if err := p.Terminate(context.Background(), "local-1", in.ID); err != nil {
		t.Fatalf("Terminate: %v", err)
	}
	waitDead(t, pid)
	waitState(t, p, in.ID, provider.StateTerminated)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory still exists after Terminate: %v", err)
	}
}

func TestLocal_NoAgentWithoutServerURL(t *testing.T) {
	p := newLocal(t, local.Options{})
	spec := launchSpec("a")
	spec.Agent = provider.AgentBootstrap{}
	in := mustLaunch(t, p, spec)
	dir := p.InstanceDir(in.ID)
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("instance directory: %v", err)
	}
	for _, f := range []string{agent.ConfigFile, local.AgentLog} {
		if _, err := os.Stat(filepath.Join(dir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s exists for an instance without an agent", f)
		}
	}
	waitState(t, p, in.ID, provider.StateRunning)
}

func TestLocal_StopKeepsDirStartRestarts(t *testing.T) {
	p := newLocal(t, local.Options{})
	ctx := context.Background()
	in := mustLaunch(t, p, launchSpec("a"))
	dir := p.InstanceDir(in.ID)
	first := agentPIDs(t, dir, 1)[0]
	if err := os.WriteFile(filepath.Join(dir, "data"), []byte("kept"), 0o600); err != nil {
		t.Fatal(err)
	}

	if err := p.Stop(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitDead(t, first)
	waitState(t, p, in.ID, provider.StateStopped)
	if data, err := os.ReadFile(filepath.Join(dir, "data")); err != nil || string(data) != "kept" {
		t.Fatalf("disk after Stop: %q, %v", data, err)
	}

	if err := p.Start(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	pids := agentPIDs(t, dir, 2)
	second := pids[1]
	if second == first || !alive(second) {
		t.Errorf("after Start the agent is %d (alive %v), first was %d", second, alive(second), first)
	}
	got := waitState(t, p, in.ID, provider.StateRunning)
	if got.Address != in.Address {
		t.Errorf("address changed across stop/start: %s → %s", in.Address, got.Address)
	}
}

func TestLocal_BehaviourNoCapacity(t *testing.T) {
	p := newLocal(t, local.Options{})
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{NoCapacity: []string{"c5.large"}}); err != nil {
		t.Fatal(err)
	}
	spec := launchSpec("a")
	spec.Type = "c5.large"
	_, err := p.Launch(context.Background(), spec)
	var ce *provider.CapacityError
	if !errors.As(err, &ce) || ce.Type != "c5.large" {
		t.Fatalf("Launch c5.large: %v, want a CapacityError for c5.large", err)
	}
	mustLaunch(t, p, launchSpec("b")) // t3.micro is fine

	if err := local.WriteBehaviour(p.Root(), local.Behaviour{}); err != nil {
		t.Fatal(err)
	}
	mustLaunch(t, p, spec) // capacity is back, same token
}

func TestLocal_BehaviourAPIDelayHonoursContext(t *testing.T) {
	p := newLocal(t, local.Options{})
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{APIDelay: local.Duration(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Launch(ctx, launchSpec("a"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Launch with a 1m api_delay and a 100ms deadline: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Launch returned after %v; it should return when the context ends", d)
	}
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{}); err != nil {
		t.Fatal(err)
	}
	if ins, _ := p.Describe(context.Background(), "local-1", provider.Filter{}); len(ins) != 0 {
		t.Errorf("a cancelled Launch made %d instances", len(ins))
	}
}

func TestLocal_BehaviourFailures(t *testing.T) {
	p := newLocal(t, local.Options{})
	ctx := context.Background()
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{FailRate: 1, FailCalls: []string{local.CallLaunch}}); err != nil {
		t.Fatal(err)
	}
	_, err := p.Launch(ctx, launchSpec("a"))
	var ie *local.InjectedError
	if !errors.As(err, &ie) || !ie.Temporary() {
		t.Fatalf("Launch with fail_rate 1: %v, want a temporary *InjectedError", err)
	}
	if ins, err := p.Describe(ctx, "local-1", provider.Filter{}); err != nil || len(ins) != 0 {
		t.Fatalf("Describe (not in fail_calls): %d instances, %v; want 0, nil", len(ins), err)
	}

	// A failure after the effect: the instance exists, the retry finds it.
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{FailRate: 1, FailCalls: []string{local.CallLaunch}, FailAfterEffect: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Launch(ctx, launchSpec("a")); !errors.As(err, &ie) {
		t.Fatalf("Launch: %v, want an *InjectedError", err)
	}
	ins, _ := p.Describe(ctx, "local-1", provider.Filter{})
	if len(ins) != 1 {
		t.Fatalf("after a launch with a lost response, %d instances, want 1", len(ins))
	}
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{}); err != nil {
		t.Fatal(err)
	}
	if in := mustLaunch(t, p, launchSpec("a")); in.ID != ins[0].ID {
		t.Errorf("retry made %s, want %s", in.ID, ins[0].ID)
	}
}

func TestLocal_BehaviourFileFormat(t *testing.T) {
	p := newLocal(t, local.Options{})
	path := filepath.Join(p.Root(), local.BehaviourFile)
	doc := `{"boot_delay":"2s","stop_delay":"3s","api_delay":"100ms","fail_rate":0.0,"fail_calls":["launch"],"no_capacity":["c5.large"]}`
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := local.ReadBehaviour(p.Root())
	if err != nil {
		t.Fatal(err)
	}
	if b.BootDelay == nil || *b.BootDelay != local.Duration(2*time.Second) || b.StopDelay == nil || *b.StopDelay != local.Duration(3*time.Second) ||
		b.APIDelay != local.Duration(100*time.Millisecond) ||
		len(b.FailCalls) != 1 || len(b.NoCapacity) != 1 || b.NoCapacity[0] != "c5.large" {
		t.Errorf("ReadBehaviour = %+v", b)
	}
	if err := local.WriteBehaviour(p.Root(), b); err != nil {
		t.Fatal(err)
	}
	again, err := local.ReadBehaviour(p.Root())
	if err != nil || *again.BootDelay != *b.BootDelay || *again.StopDelay != *b.StopDelay || again.APIDelay != b.APIDelay {
		t.Errorf("round trip: %+v, %v", again, err)
	}

	for _, bad := range []string{`{"fail_rate":2}`, `{"boot_delay":5}`, `{"stop_delay":"-1s"}`, `{"fail_calls":["explode"]}`, `{"typo":1}`, `{`} {
		if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := p.Describe(context.Background(), "local-1", provider.Filter{})
		if err == nil || !strings.Contains(err.Error(), local.BehaviourFile) {
			t.Errorf("behaviour %s: Describe error %v, want one naming %s", bad, err, local.BehaviourFile)
		}
	}
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{FailRate: -1}); err == nil {
		t.Error("WriteBehaviour accepted fail_rate -1")
	}
}

func TestLocal_BehaviourBootDelayOverridesOptions(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	p := newLocal(t, local.Options{Clock: clk, BootDelay: time.Hour})
	in := mustLaunch(t, p, launchSpec("a"))
	clk.Advance(time.Minute)
	if got, _ := describeOne(t, p, in.ID); got.State != provider.StatePending {
		t.Fatalf("with a 1h boot delay, after 1m: %s", got.State)
	}
	zero := local.Duration(0)
	if err := local.WriteBehaviour(p.Root(), local.Behaviour{BootDelay: &zero}); err != nil {
		t.Fatal(err)
	}
	b := mustLaunch(t, p, launchSpec("b"))
	if got, _ := describeOne(t, p, b.ID); got.State != provider.StateRunning {
		t.Errorf("with boot_delay 0s from the file: %s, want running", got.State)
	}
	cfg, err := agent.ReadConfig(p.InstanceDir(b.ID))
	if err != nil || cfg.BootDelayMillis != 0 {
		t.Errorf("agent boot delay %d, %v; want 0", cfg.BootDelayMillis, err)
	}
	if cfg, _ := agent.ReadConfig(p.InstanceDir(in.ID)); cfg.BootDelayMillis != time.Hour.Milliseconds() {
		t.Errorf("agent boot delay of the first instance = %dms, want 1h", cfg.BootDelayMillis)
	}
}

func TestLocal_Reclaim(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newLocal(t, local.Options{Clock: clk})
	ctx := context.Background()
	spec := launchSpec("spot")
	spec.Spot = true
	in := mustLaunch(t, p, spec)
	dir := p.InstanceDir(in.ID)
	pid := agentPIDs(t, dir, 1)[0]

	if err := p.Reclaim(ctx, "local-1", mustLaunch(t, p, launchSpec("od")).ID, time.Minute); err == nil {
		t.Error("Reclaim of an on-demand instance succeeded")
	}
	if err := p.Reclaim(ctx, "local-1", "i-00000000000000000", time.Minute); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Reclaim of an unknown instance: %v, want ErrNotFound", err)
	}

	if err := p.Reclaim(ctx, "local-1", in.ID, 2*time.Minute); err != nil {
		t.Fatalf("Reclaim: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(dir, agent.InterruptionFile))
	if err != nil {
		t.Fatalf("interruption notice: %v", err)
	}
	var notice struct{ Action, Time string }
	if err := json.Unmarshal(data, &notice); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(2 * time.Minute)
	if notice.Action != "terminate" || notice.Time != at.Format(time.RFC3339) {
		t.Errorf("notice = %+v, want terminate at %s", notice, at.Format(time.RFC3339))
	}
	got, _ := describeOne(t, p, in.ID)
	if !got.InterruptionAt.Equal(at) || got.State != provider.StateRunning {
		t.Errorf("after Reclaim: state %s InterruptionAt %v, want running and %v", got.State, got.InterruptionAt, at)
	}

	clk.Advance(119 * time.Second)
	if got, _ := describeOne(t, p, in.ID); got.State != provider.StateRunning {
		t.Errorf("before the interruption time: %s", got.State)
	}
	clk.Advance(time.Second)
	got, _ = describeOne(t, p, in.ID)
	if got.State.Gone() || (got.State == provider.StateShuttingDown && !got.StateChangedAt.Equal(at)) {
		t.Errorf("after the interruption time: state %s changed at %v, want shutting-down from %v (or terminated)", got.State, got.StateChangedAt, at)
	}
	if err := p.Reclaim(ctx, "local-1", in.ID, time.Minute); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Reclaim of a reclaimed instance: %v, want ErrNotFound", err)
	}
	waitDead(t, pid)
	waitState(t, p, in.ID, provider.StateTerminated)
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("reclaimed instance's directory remains: %v", err)
	}
}

func TestLocal_TerminatedPurgedAfterAnHour(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC))
	p := newLocal(t, local.Options{Clock: clk})
	ctx := context.Background()
	in := mustLaunch(t, p, launchSpec("a"))
	if err := p.Terminate(ctx, "local-1", in.ID); err != nil {
		t.Fatal(err)
	}
	waitState(t, p, in.ID, provider.StateTerminated)
	clk.Advance(59 * time.Minute)
	if again := mustLaunch(t, p, launchSpec("a")); again.ID != in.ID || again.State != provider.StateTerminated {
		t.Errorf("within the hour the token returns %s %s, want terminated %s", again.ID, again.State, in.ID)
	}
	clk.Advance(time.Minute)
	if _, ok := describeOne(t, p, in.ID); ok {
		t.Fatal("terminated instance still listed after an hour")
	}
	if again := mustLaunch(t, p, launchSpec("a")); again.ID == in.ID {
		t.Error("purged instance came back")
	}
}

func TestLocal_StateSurvivesNewProvider(t *testing.T) {
	root := t.TempDir()
	a := newLocal(t, local.Options{Root: root, BootDelay: 50 * time.Millisecond})
	in := mustLaunch(t, a, launchSpec("a"))
	pid := agentPIDs(t, a.InstanceDir(in.ID), 1)[0]

	b := newLocal(t, local.Options{Root: root, BootDelay: time.Hour})
	got := waitState(t, b, in.ID, provider.StateRunning)
	if got.Address != in.Address || got.Tags[provider.TagCluster] != "c1" {
		t.Errorf("provider B sees %+v, launched %+v", got, in)
	}
	if again := mustLaunch(t, b, launchSpec("a")); again.ID != in.ID {
		t.Errorf("provider B made %s for A's token, want %s", again.ID, in.ID)
	}
	if err := b.Terminate(context.Background(), "local-1", in.ID); err != nil {
		t.Fatal(err)
	}
	waitDead(t, pid)
	if got, _ := describeOne(t, a, in.ID); got.State != provider.StateTerminated {
		t.Errorf("provider A sees %s, want terminated", got.State)
	}
}

func TestLocal_ConcurrentProvidersOneToken(t *testing.T) {
	root := t.TempDir()
	ps := []*local.Provider{newLocal(t, local.Options{Root: root}), newLocal(t, local.Options{Root: root})}
	var wg sync.WaitGroup
	var mu sync.Mutex
	got := map[string]int{}
	addrs := map[string]string{}
	for i := range 16 {
		p := ps[i%2]
		wg.Go(func() {
			shared, err := p.Launch(context.Background(), launchSpec("shared"))
			own, err2 := p.Launch(context.Background(), launchSpec(fmt.Sprintf("own-%d", i)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil || err2 != nil {
				t.Errorf("launch %d: %v, %v", i, err, err2)
				return
			}
			got[shared.ID]++
			if prev, dup := addrs[own.Address]; dup {
				t.Errorf("%s and %s share address %s", prev, own.ID, own.Address)
			}
			addrs[own.Address] = own.ID
		})
	}
	wg.Wait()
	if len(got) != 1 {
		t.Errorf("16 launches with one token from two providers made %d instances: %v", len(got), got)
	}
	ins, err := ps[0].Describe(context.Background(), "local-1", provider.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ins) != 17 {
		t.Errorf("Describe lists %d instances, want 17", len(ins))
	}
}

func TestLocal_ConcurrentProcessesOneToken(t *testing.T) {
	p := newLocal(t, local.Options{})
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	const procs = 4
	var wg sync.WaitGroup
	outs := make([][]byte, procs)
	errs := make([]error, procs)
	for i := range procs {
		wg.Go(func() {
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), launcherEnv+"="+p.Root())
			outs[i], errs[i] = cmd.Output()
		})
	}
	wg.Wait()
	ids := map[string]bool{}
	for i := range procs {
		if errs[i] != nil {
			t.Fatalf("launcher %d: %v", i, errs[i])
		}
		for _, id := range strings.Fields(string(outs[i])) {
			ids[id] = true
		}
	}
	if len(ids) != 1 {
		t.Errorf("%d processes launching with one token made %d instances: %v", procs, len(ids), ids)
	}
	ins, err := p.Describe(context.Background(), "local-1", provider.Filter{})
	if err != nil {
		t.Fatalf("Describe after concurrent processes: %v", err)
	}
	if want := 1 + procs*5; len(ins) != want {
		t.Errorf("Describe lists %d instances, want %d", len(ins), want)
	}
}

func TestLocal_AddressesReusedAfterTerminate(t *testing.T) {
	p := newLocal(t, local.Options{})
	spec := launchSpec("")
	spec.Agent = provider.AgentBootstrap{}
	a := mustLaunch(t, p, spec)
	b := mustLaunch(t, p, spec)
	if a.Address != "127.100.0.1" || b.Address != "127.100.0.2" {
		t.Errorf("addresses %s, %s; want 127.100.0.1, 127.100.0.2", a.Address, b.Address)
	}
	if err := p.Terminate(context.Background(), "local-1", a.ID); err != nil {
		t.Fatal(err)
	}
	if c := mustLaunch(t, p, spec); c.Address != "127.100.0.1" {
		t.Errorf("after terminating %s the next address is %s, want 127.100.0.1", a.Address, c.Address)
	}
}

// A recorded pid that now belongs to another process is never signalled.
func TestLocal_ReusedPIDNotKilled(t *testing.T) {
	p := newLocal(t, local.Options{})
	spec := launchSpec("a")
	spec.Agent = provider.AgentBootstrap{}
	in := mustLaunch(t, p, spec)

	stranger := exec.Command("sleep", "60")
	stranger.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := stranger.Start(); err != nil {
		t.Fatalf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() { stranger.Process.Kill(); stranger.Wait() })

	// Point the instance's record at the stranger, as after pid reuse.
	statePath := filepath.Join(p.Root(), "state.json")
	var st map[string]any
	data, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	rec := st["instances"].(map[string]any)[in.ID].(map[string]any)
	rec["pid"] = stranger.Process.Pid
	rec["agent"] = true
	data, _ = json.Marshal(st)
	if err := os.WriteFile(statePath, data, 0o600); err != nil {
		t.Fatal(err)
	}

	if err := p.Terminate(context.Background(), "local-1", in.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if !alive(stranger.Process.Pid) {
		t.Fatal("Terminate killed a process that was not the instance's")
	}
}

// launchWithFailedAgentStart returns a local cloud whose first agent start
// fails, after a Launch of launchSpec("a") that failed so.
func launchWithFailedAgentStart(t *testing.T) *local.Provider {
	t.Helper()
	var mu sync.Mutex
	calls := 0
	p := newLocal(t, local.Options{AgentCommand: func(dir string) *exec.Cmd {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return exec.Command(filepath.Join(dir, "no-such-binary"))
		}
		return helperCommand(dir)
	}})
	if _, err := p.Launch(context.Background(), launchSpec("a")); err == nil {
		t.Fatal("Launch with a broken agent command succeeded")
	}
	return p
}

// A launch whose agent failed to start is finished by the retry with the
// same token, as after a crash between persisting the token and starting
// the process.
func TestLocal_RetryStartsMissingAgent(t *testing.T) {
	p := launchWithFailedAgentStart(t)
	ins, _ := p.Describe(context.Background(), "local-1", provider.Filter{})
	if len(ins) != 1 {
		t.Fatalf("%d instances after the failed start, want 1", len(ins))
	}
	in := mustLaunch(t, p, launchSpec("a"))
	if in.ID != ins[0].ID {
		t.Errorf("retry made %s, want %s", in.ID, ins[0].ID)
	}
	pid := agentPIDs(t, p.InstanceDir(in.ID), 1)[0]
	if !alive(pid) {
		t.Error("agent not running after the retry")
	}
}

// A launch accepted by the cloud boots even if its caller died before the
// agent was started (the control plane killed inside Launch): the next call
// of anyone, here a Describe, finishes it, and exactly one agent runs.
func TestLocal_AcceptedLaunchBootsWithoutRetry(t *testing.T) {
	p := launchWithFailedAgentStart(t)
	ins, err := p.Describe(context.Background(), "local-1", provider.Filter{})
	if err != nil || len(ins) != 1 {
		t.Fatalf("Describe = %d instances, %v; want 1", len(ins), err)
	}
	pid := agentPIDs(t, p.InstanceDir(ins[0].ID), 1)[0]
	if !alive(pid) {
		t.Fatal("agent not running after Describe")
	}
	// More calls adopt the running agent instead of starting another.
	for range 3 {
		if _, err := p.Describe(context.Background(), "local-1", provider.Filter{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(200 * time.Millisecond) // give a wrongly started second agent time to log
	if pids := agentPIDs(t, p.InstanceDir(ins[0].ID), 1); len(pids) != 1 {
		t.Fatalf("%d agents started for one instance, want 1", len(pids))
	}
}

func TestLocal_NewValidatesOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts local.Options
	}{
		{"no root", local.Options{}},
		{"duplicate region", local.Options{Root: t.TempDir(), Regions: []string{"a", "a"}}},
		{"empty region", local.Options{Root: t.TempDir(), Regions: []string{""}}},
		{"negative boot delay", local.Options{Root: t.TempDir(), BootDelay: -time.Second}},
		{"negative stop delay", local.Options{Root: t.TempDir(), StopDelay: -time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := local.New(tc.opts); err == nil {
				t.Error("New succeeded")
			}
		})
	}
	p, err := local.New(local.Options{Root: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	regions, _ := p.Regions(context.Background())
	if len(regions) != 6 || regions[0] != "local-1" {
		t.Errorf("default regions = %v", regions)
	}
}

func TestLocal_SpotPriceIsMinOfMaxAndSpot(t *testing.T) {
	p := newLocal(t, local.Options{})
	for _, tc := range []struct {
		max, want int64
	}{
		{0, 39900},      // 30% of r4.large's 133000
		{30000, 30000},  // cf-create's "ComputeSpotPrice": "0.03"
		{133000, 39900}, // max at on-demand
	} {
		spec := launchSpec(fmt.Sprintf("spot-%d", tc.max))
		spec.Type, spec.Spot, spec.MaxPriceMicros = "r4.large", true, tc.max
		spec.Agent = provider.AgentBootstrap{}
		if in := mustLaunch(t, p, spec); !in.Spot || in.PriceMicros != tc.want {
			t.Errorf("max %d: Spot %v PriceMicros %d, want true %d", tc.max, in.Spot, in.PriceMicros, tc.want)
		}
	}
}

// Stop and Terminate record the transitional state and return while the
// instance's processes are still there (here an agent that ignores SIGTERM
// and would get SIGKILL only after an hour); the transition completes once
// they are gone. Meanwhile the cloud answers other calls: nothing holds its
// lock while processes exit.
func TestLocal_StopAndTerminateReturnWhileAgentLingers(t *testing.T) {
	p := newLocal(t, local.Options{AgentCommand: stubbornCommand, KillGrace: time.Hour})
	ctx := context.Background()
	in := mustLaunch(t, p, launchSpec("a"))
	dir := p.InstanceDir(in.ID)
	first := agentPIDs(t, dir, 1)[0]
	waitState(t, p, in.ID, provider.StateRunning)

	inTime(t, "Stop", func() error { return p.Stop(ctx, "local-1", in.ID) })
	got, _ := describeOne(t, p, in.ID)
	if got.State != provider.StateStopping {
		t.Fatalf("with the agent still running, the state after Stop is %s, want stopping", got.State)
	}
	if !alive(first) {
		t.Fatal("the agent that ignores SIGTERM died before its grace")
	}
	// Another provider on the same root sees the same, and launches.
	other := newLocal(t, local.Options{Root: p.Root(), AgentCommand: helperCommand})
	if seen, _ := describeOne(t, other, in.ID); seen.State != provider.StateStopping || !seen.StateChangedAt.Equal(got.StateChangedAt) {
		t.Errorf("another provider sees %s since %v, want stopping since %v", seen.State, seen.StateChangedAt, got.StateChangedAt)
	}
	mustLaunch(t, other, launchSpec("b"))

	inTime(t, "Stop of a stopping instance", func() error { return p.Stop(ctx, "local-1", in.ID) })
	if err := p.Start(ctx, "local-1", in.ID); !errors.Is(err, local.ErrIncorrectState) {
		t.Errorf("Start of a stopping instance: %v, want ErrIncorrectState", err)
	}
	if again, _ := describeOne(t, p, in.ID); again.State != provider.StateStopping || !again.StateChangedAt.Equal(got.StateChangedAt) {
		t.Errorf("after a repeated Stop and a refused Start: %s since %v, want stopping since %v", again.State, again.StateChangedAt, got.StateChangedAt)
	}

	// Once the agent is gone the instance is stopped, its disk kept.
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDead(t, first)
	waitState(t, p, in.ID, provider.StateStopped)
	if _, err := os.Stat(filepath.Join(dir, agent.ConfigFile)); err != nil {
		t.Errorf("disk after the stop: %v", err)
	}

	// Started again, then terminated: shutting-down until the agent is gone.
	if err := p.Start(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Start of the stopped instance: %v", err)
	}
	second := agentPIDs(t, dir, 2)[1]
	inTime(t, "Terminate", func() error { return p.Terminate(ctx, "local-1", in.ID) })
	if got, _ := describeOne(t, p, in.ID); got.State != provider.StateShuttingDown || got.Address != in.Address {
		t.Fatalf("with the agent still running, after Terminate: %s at %q, want shutting-down at %s", got.State, got.Address, in.Address)
	}
	inTime(t, "Terminate of a shutting-down instance", func() error { return p.Terminate(ctx, "local-1", in.ID) })
	if err := p.Stop(ctx, "local-1", in.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Stop of a shutting-down instance: %v, want ErrNotFound", err)
	}
	if err := p.Start(ctx, "local-1", in.ID); !errors.Is(err, provider.ErrNotFound) {
		t.Errorf("Start of a shutting-down instance: %v, want ErrNotFound", err)
	}
	if err := syscall.Kill(second, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitDead(t, second)
	got = waitState(t, p, in.ID, provider.StateTerminated)
	if got.Address != "" {
		t.Errorf("terminated instance keeps address %s", got.Address)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory after termination: %v", err)
	}
}

// inTime runs call and fails the test if it has not returned within 10s
// (it should return at once; the bound only keeps a hang from blocking the
// test run).
func inTime(t *testing.T, what string, call func() error) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("%s has not returned after 10s", what)
	}
}

// Processes that ignore SIGTERM get SIGKILL after the kill grace, and the
// stop completes.
func TestLocal_StopKillsAfterGrace(t *testing.T) {
	p := newLocal(t, local.Options{AgentCommand: stubbornCommand, KillGrace: 200 * time.Millisecond})
	in := mustLaunch(t, p, launchSpec("a"))
	pid := agentPIDs(t, p.InstanceDir(in.ID), 1)[0]
	if err := p.Stop(context.Background(), "local-1", in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitDead(t, pid)
	waitState(t, p, in.ID, provider.StateStopped)
}

// With a stop delay the transitional states last on the provider's clock:
// stopping until the delay has passed even though the agent exited at
// once; Terminate of a stopping instance proceeds to shutting-down and
// terminated.
func TestLocal_StopDelayOnTheClock(t *testing.T) {
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	clk := clock.NewFake(t0)
	p := newLocal(t, local.Options{Clock: clk, StopDelay: time.Minute})
	ctx := context.Background()
	in := mustLaunch(t, p, launchSpec("a"))
	dir := p.InstanceDir(in.ID)
	first := agentPIDs(t, dir, 1)[0]

	if err := p.Stop(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	waitDead(t, first)
	clk.Advance(59 * time.Second)
	got, _ := describeOne(t, p, in.ID)
	if got.State != provider.StateStopping || !got.StateChangedAt.Equal(t0) {
		t.Fatalf("59s into a 1m stop delay: %s since %v, want stopping since %v", got.State, got.StateChangedAt, t0)
	}
	if err := p.Start(ctx, "local-1", in.ID); !errors.Is(err, local.ErrIncorrectState) {
		t.Errorf("Start of a stopping instance: %v, want ErrIncorrectState", err)
	}
	clk.Advance(time.Second)
	got, _ = describeOne(t, p, in.ID)
	if got.State != provider.StateStopped || !got.StateChangedAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("after the stop delay: %s since %v, want stopped since %v", got.State, got.StateChangedAt, t0.Add(time.Minute))
	}

	// Stop again, and terminate while it is stopping.
	if err := p.Start(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Start: %v", err)
	}
	second := agentPIDs(t, dir, 2)[1]
	if err := p.Stop(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	clk.Advance(30 * time.Second)
	if err := p.Terminate(ctx, "local-1", in.ID); err != nil {
		t.Fatalf("Terminate of a stopping instance: %v", err)
	}
	waitDead(t, second)
	got, _ = describeOne(t, p, in.ID)
	if want := t0.Add(90 * time.Second); got.State != provider.StateShuttingDown || !got.StateChangedAt.Equal(want) {
		t.Fatalf("after Terminate of a stopping instance: %s since %v, want shutting-down since %v", got.State, got.StateChangedAt, want)
	}
	clk.Advance(time.Minute)
	if got, _ := describeOne(t, p, in.ID); got.State != provider.StateTerminated {
		t.Fatalf("after the stop delay: %s, want terminated", got.State)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory after termination: %v", err)
	}
}

// A control plane that asked for a stop or a terminate and died at once
// (so nothing of it is left to give SIGKILL) leaves the instance stopping
// or shutting-down with its agent still running: a new Provider over the
// same root finishes the transition on its calls.
func TestLocal_NewProviderFinishesTransition(t *testing.T) {
	for _, tc := range []struct {
		call       string
		transition provider.State
		final      provider.State
	}{
		{"stop", provider.StateStopping, provider.StateStopped},
		{"terminate", provider.StateShuttingDown, provider.StateTerminated},
	} {
		t.Run(tc.call, func(t *testing.T) {
			root := t.TempDir()
			a := newLocal(t, local.Options{Root: root, AgentCommand: stubbornCommand})
			in := mustLaunch(t, a, launchSpec("a"))
			dir := a.InstanceDir(in.ID)
			pid := agentPIDs(t, dir, 1)[0]
			waitState(t, a, in.ID, provider.StateRunning)

			exe, err := os.Executable()
			if err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), stopperEnv+"="+root+" "+tc.call+" "+in.ID)
			out, err := cmd.CombinedOutput()
			if !strings.HasPrefix(string(out), "asked\n") {
				t.Fatalf("stopper process: %v\n%s", err, out)
			}
			// Read the state file itself: a call would already move on.
			if got := rawState(t, root, in.ID); got != string(tc.transition) {
				t.Fatalf("state.json says %s after the stopper died, want %s", got, tc.transition)
			}
			if !alive(pid) {
				t.Fatal("the agent that ignores SIGTERM is gone already")
			}

			b := newLocal(t, local.Options{Root: root})
			got := waitState(t, b, in.ID, tc.final)
			if alive(pid) {
				t.Errorf("agent %d still runs with its instance %s", pid, got.State)
			}
			_, err = os.Stat(dir)
			if kept := err == nil; kept != (tc.final == provider.StateStopped) {
				t.Errorf("%s instance: directory kept %v (%v)", tc.final, kept, err)
			}
			if tc.final == provider.StateStopped {
				if err := b.Start(context.Background(), "local-1", in.ID); err != nil {
					t.Fatalf("Start after the stop was finished: %v", err)
				}
				waitState(t, b, in.ID, provider.StateRunning)
			}
		})
	}
}

// rawState returns instance id's state as state.json records it.
func rawState(t *testing.T, root, id string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		Instances map[string]struct {
			State string `json:"state"`
		} `json:"instances"`
	}
	if err := json.Unmarshal(data, &st); err != nil {
		t.Fatal(err)
	}
	return st.Instances[id].State
}

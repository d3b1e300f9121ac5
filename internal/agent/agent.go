package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// Version is the agent's version, reported at registration.
var Version = "dev"

// Options configure an agent.
type Options struct {
	// InstanceDir is the instance's directory holding agent.json; commands
	// run in its home/ subdirectory.
	InstanceDir string
	Logger      *slog.Logger
	// PollWait is how long one poll for work may wait (default 25s).
	PollWait time.Duration
	// Config, if set, is used instead of InstanceDir/agent.json (EC2 mode
	// learns the instance's identity from instance metadata).
	Config *Config
	// WatchNotices, if set, watches for interruption notices and reports
	// each once (EC2: instance metadata); else the notice file in the
	// instance directory is watched.
	WatchNotices func(ctx context.Context, report func(api.Notice))
	// ScriptTimeout bounds each bootstrap script (default
	// DefaultScriptTimeout; custom.go).
	ScriptTimeout time.Duration
}

// Agent is a running agent.
type Agent struct {
	cfg    Config
	opts   Options
	log    *slog.Logger
	client *api.Client
	home   string

	mu       sync.Mutex
	interval time.Duration
}

// Run runs the agent until ctx is cancelled: it waits out the boot delay,
// registers (retrying while the control plane is away), then heartbeats and
// runs the work it is given.
func Run(ctx context.Context, opts Options) error {
	var cfg Config
	if opts.Config != nil {
		cfg = *opts.Config
	} else {
		var err error
		if cfg, err = ReadConfig(opts.InstanceDir); err != nil {
			return err
		}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	if opts.PollWait <= 0 {
		opts.PollWait = 25 * time.Second
	}
	a := &Agent{
		cfg: cfg, opts: opts, log: opts.Logger.With("instance", cfg.InstanceID),
		client:   api.NewClient(cfg.ServerURL, cfg.Token),
		home:     filepath.Join(opts.InstanceDir, "home"),
		interval: 10 * time.Second,
	}
	if err := os.MkdirAll(a.home, 0o755); err != nil {
		return err
	}
	if d := time.Duration(cfg.BootDelayMillis) * time.Millisecond; d > 0 {
		a.log.Info("booting", "delay", d)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(d):
		}
	}
	// The instance's customisation (ssh keys, bootstrap scripts) runs
	// once, before the node counts as registered (custom.go).
	if err := a.customise(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	if err := a.register(ctx); err != nil {
		return nil // ctx ended
	}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); a.heartbeatLoop(ctx) }()
	go func() { defer wg.Done(); a.workLoop(ctx) }()
	go func() {
		defer wg.Done()
		if opts.WatchNotices == nil {
			a.watchNotice(ctx)
			return
		}
		opts.WatchNotices(ctx, func(n api.Notice) {
			a.retry(ctx, "report interruption notice", func() error { return a.client.SendNotice(ctx, n) })
		})
	}()
	wg.Wait()
	return nil
}

// register registers with the control plane, retrying with backoff until it
// succeeds or ctx ends.
func (a *Agent) register(ctx context.Context) error {
	backoff := 200 * time.Millisecond
	for {
		resp, err := a.client.Register(ctx, api.RegisterRequest{InstanceID: a.cfg.InstanceID, Address: a.cfg.Address, Version: Version})
		if err == nil {
			if d, perr := time.ParseDuration(resp.HeartbeatInterval); perr == nil && d > 0 {
				a.mu.Lock()
				a.interval = d
				a.mu.Unlock()
			}
			a.log.Info("registered", "node", resp.Node, "cluster", resp.Cluster, "role", resp.Role)
			return nil
		}
		a.log.Warn("cannot register; will retry", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (a *Agent) heartbeatLoop(ctx context.Context) {
	for {
		a.mu.Lock()
		d := a.interval
		a.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(d):
		}
		err := a.client.Heartbeat(ctx)
		var se *api.StatusError
		if errors.As(err, &se) && (se.Status == 401 || se.Status == 404) {
			a.log.Warn("control plane does not know this agent; registering again")
			if a.register(ctx) != nil {
				return
			}
		} else if err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat failed", "err", err)
		}
	}
}

func (a *Agent) workLoop(ctx context.Context) {
	backoff := 200 * time.Millisecond
	var js jobs
	for ctx.Err() == nil {
		work, err := a.client.PollWorkFor(ctx, js.refs(), a.opts.PollWait)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			a.log.Warn("poll for work failed", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		for _, x := range work.Execs {
			go a.runExec(ctx, x)
		}
		for _, ref := range work.Kill {
			js.kill(ref)
		}
		for _, x := range work.Jobs {
			// Recorded before it starts, so the next poll reports it and
			// it is never handed out (and run) twice.
			if len(x.Argv) > 0 && js.add(ctx, x.JobRef) {
				go a.runJob(ctx, &js, x)
			}
		}
	}
}

// frameWriter turns writes into ExecFrames of one stream.
type frameWriter struct {
	mu     *sync.Mutex
	enc    *json.Encoder
	stream string
}

func (w frameWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.enc.Encode(api.ExecFrame{Stream: w.stream, Data: p}); err != nil {
		return 0, err
	}
	return len(p), nil
}

// runExec runs one command and streams its output and exit code back. If
// the stream breaks (the caller went away), the command is killed.
func (a *Agent) runExec(parent context.Context, x api.ExecAssignment) {
	log := a.log.With("exec", x.ID)
	pr, pw := io.Pipe()
	var mu sync.Mutex
	enc := json.NewEncoder(pw)
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	streamDone := make(chan error, 1)
	go func() {
		err := a.client.StreamExec(ctx, x.ID, pr)
		_ = pr.CloseWithError(errors.New("stream closed"))
		if err != nil {
			cancel() // nobody reads the output any more: stop the command
		}
		streamDone <- err
	}()

	code := a.run(ctx, x.Argv, x.Stdin, nil, frameWriter{&mu, enc, "stdout"}, frameWriter{&mu, enc, "stderr"})
	mu.Lock()
	_ = enc.Encode(api.ExecFrame{Exit: &code})
	mu.Unlock()
	_ = pw.Close()
	if err := <-streamDone; err != nil && parent.Err() == nil {
		log.Warn("exec stream failed", "err", err)
	}
	log.Info("exec finished", "argv0", x.Argv[0], "exit", code)
}

// run runs argv in the agent's home directory and returns its exit code:
// 127 if it cannot be started, 128+N if killed by signal N. The command and
// its children are killed when ctx ends or a write to stdout/stderr fails.
func (a *Agent) run(ctx context.Context, argv []string, stdin []byte, env []string, stdout, stderr io.Writer) int {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = a.home
	cmd.Env = append(append(os.Environ(),
		"STRATUS_INSTANCE_ID="+a.cfg.InstanceID,
		"STRATUS_ADDRESS="+a.cfg.Address,
		"HOME="+a.home,
	), env...)
	cmd.Stdin = bytes.NewReader(stdin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A child that left the process group and holds the output open must
	// not keep Wait (and the rank) from ending after the kill.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		_, _ = io.WriteString(stderr, "stratus agent: "+err.Error()+"\n")
		return 127
	}
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	err := cmd.Wait()
	close(done)
	return exitCode(cmd, err)
}

func exitCode(cmd *exec.Cmd, err error) int {
	if err == nil {
		return 0
	}
	if st, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && st.Signaled() {
		return 128 + int(st.Signal())
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 1
}

package agent

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

// How output is shipped: in batches every flushEvery or flushBytes,
// whichever comes first; each batch is retried until the control plane
// takes it, so output written while it is away arrives when it is back.
const (
	flushEvery = 300 * time.Millisecond
	flushBytes = 64 << 10
	// maxBatch bounds one batch's output (the control plane takes request
	// bodies up to 1 MiB, and the bytes travel base64 encoded).
	maxBatch = 256 << 10
)

// jobs tracks the job ranks this agent runs.
type jobs struct {
	mu      sync.Mutex
	running map[api.JobRef]context.CancelFunc
	ctxs    map[api.JobRef]context.Context
}

func (js *jobs) refs() []api.JobRef {
	js.mu.Lock()
	defer js.mu.Unlock()
	out := make([]api.JobRef, 0, len(js.running))
	for r := range js.running {
		out = append(out, r)
	}
	return out
}

// add records ref as running, with a context for its run that kill
// cancels; false if it already was running.
func (js *jobs) add(ctx context.Context, ref api.JobRef) bool {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.running == nil {
		js.running = map[api.JobRef]context.CancelFunc{}
		js.ctxs = map[api.JobRef]context.Context{}
	}
	if _, ok := js.running[ref]; ok {
		return false
	}
	js.ctxs[ref], js.running[ref] = context.WithCancel(ctx)
	return true
}

// context returns the run context of a ref added before.
func (js *jobs) context(ref api.JobRef) (context.Context, context.CancelFunc) {
	js.mu.Lock()
	defer js.mu.Unlock()
	return js.ctxs[ref], js.running[ref]
}

func (js *jobs) kill(ref api.JobRef) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if cancel, ok := js.running[ref]; ok {
		cancel()
	}
}

func (js *jobs) remove(ref api.JobRef) {
	js.mu.Lock()
	defer js.mu.Unlock()
	delete(js.running, ref)
	delete(js.ctxs, ref)
}

// batcher collects a rank's output and ships it in batches.
type batcher struct {
	mu     sync.Mutex
	frames []api.ExecFrame
	size   int
	full   chan struct{}
}

func (b *batcher) writer(stream string) frameSink { return frameSink{b, stream} }

type frameSink struct {
	b      *batcher
	stream string
}

func (w frameSink) Write(p []byte) (int, error) {
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	w.b.frames = append(w.b.frames, api.ExecFrame{Stream: w.stream, Data: append([]byte(nil), p...)})
	w.b.size += len(p)
	if w.b.size >= flushBytes {
		select {
		case w.b.full <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// take returns the frames collected so far, up to maxBatch bytes of
// output (the rest stays for the next take); a frame larger than maxBatch
// is split.
func (b *batcher) take() []api.ExecFrame {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []api.ExecFrame
	size := 0
	for len(b.frames) > 0 && size < maxBatch {
		f := b.frames[0]
		if room := maxBatch - size; len(f.Data) > room {
			out = append(out, api.ExecFrame{Stream: f.Stream, Data: f.Data[:room]})
			b.frames[0].Data = f.Data[room:]
			size += room
			break
		}
		out = append(out, f)
		size += len(f.Data)
		b.frames = b.frames[1:]
	}
	b.size -= size
	return out
}

// retry calls fn until it succeeds, the control plane says the run is no
// longer current (409/404: stop), or ctx ends. It reports whether to go on.
func (a *Agent) retry(ctx context.Context, what string, fn func() error) bool {
	backoff := 200 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return true
		}
		var se *api.StatusError
		if errors.As(err, &se) && (se.Status == 409 || se.Status == 404 || se.Status == 400) {
			a.log.Info(what+": the control plane no longer wants it", "err", err)
			return false
		}
		a.log.Warn(what+" failed; will retry", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// runJob runs one rank of a job until it ends, its time limit passes or it
// is killed, ships its output and reports its exit code.
func (a *Agent) runJob(ctx context.Context, js *jobs, x api.JobAssignment) {
	log := a.log.With("job", x.Job, "attempt", x.Attempt, "rank", x.Rank)
	runCtx, kill := js.context(x.JobRef)
	defer kill()
	defer js.remove(x.JobRef)
	limit, err := time.ParseDuration(x.TimeLimit)
	if err != nil || limit <= 0 {
		limit = time.Hour
	}
	limitCtx, cancelLimit := context.WithTimeout(runCtx, limit)
	defer cancelLimit()

	b := &batcher{full: make(chan struct{}, 1)}
	shipping := true
	ship := func() {
		for shipping {
			frames := b.take()
			if len(frames) == 0 {
				return
			}
			shipping = a.retry(ctx, "send job output", func() error {
				return a.client.SendJobOutput(ctx, api.JobOutputBatch{JobRef: x.JobRef, Frames: frames})
			})
		}
	}
	done := make(chan int, 1)
	log.Info("job rank starting", "argv0", x.Argv[0], "time_limit", limit)
	go func() { done <- a.run(limitCtx, x.Argv, nil, x.Env, b.writer("stdout"), b.writer("stderr")) }()
	var code int
loop:
	for {
		select {
		case code = <-done:
			break loop
		case <-b.full:
			ship()
		case <-time.After(flushEvery):
			ship()
		}
	}
	timedOut := errors.Is(limitCtx.Err(), context.DeadlineExceeded) && runCtx.Err() == nil
	if timedOut {
		_, _ = b.writer("stderr").Write([]byte("\n[stratus: killed at the job's time limit]\n"))
	}
	ship()
	if runCtx.Err() != nil && !timedOut {
		log.Info("job rank killed on the control plane's word", "exit", code)
		return // cancelled or requeued: the control plane has decided already
	}
	a.retry(ctx, "report job exit", func() error {
		return a.client.SendJobExit(ctx, api.JobExit{JobRef: x.JobRef, Code: code, TimedOut: timedOut})
	})
	log.Info("job rank ended", "exit", code, "timed_out", timedOut)
}

// watchNotice watches for a spot interruption notice (the local provider
// writes it into the instance directory, as EC2 serves it from instance
// metadata) and reports it once.
func (a *Agent) watchNotice(ctx context.Context) {
	path := filepath.Join(a.opts.InstanceDir, InterruptionFile)
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var n api.Notice
		if err := json.Unmarshal(data, &n); err != nil {
			a.log.Warn("unreadable interruption notice", "err", err)
			continue
		}
		a.log.Warn("spot interruption notice", "action", n.Action, "time", n.Time)
		a.retry(ctx, "report interruption notice", func() error { return a.client.SendNotice(ctx, n) })
		return
	}
}

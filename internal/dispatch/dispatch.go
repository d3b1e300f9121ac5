// Package dispatch hands interactive commands (exec) to node agents and
// carries their output back. Agents only make outbound calls: they long-poll
// for work and stream each command's output in a request of their own, so
// that an agent behind NAT (an EC2 instance) works the same as a local one.
//
// Exec sessions are in memory: an exec is interactive, so if the control
// plane restarts, the caller's connection is gone too.
package dispatch

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"

	"github.com/stratus-cloud/stratus/api"
)

// ErrUnknownExec means no exec with that id is waiting for its output.
var ErrUnknownExec = errors.New("unknown exec")

// Hub holds pending execs per node and the sessions waiting for output.
type Hub struct {
	mu      sync.Mutex
	pending map[string][]api.ExecAssignment // node id → execs not yet picked up
	waiters map[string]chan struct{}        // node id → closed when work arrives
	woken   map[string]bool                 // node id → woken while not polling
	execs   map[string]*Session
}

// NewHub returns an empty hub.
func NewHub() *Hub {
	return &Hub{
		pending: map[string][]api.ExecAssignment{},
		waiters: map[string]chan struct{}{},
		woken:   map[string]bool{},
		execs:   map[string]*Session{},
	}
}

// Session is one exec: the caller reads Frames until it is closed.
type Session struct {
	ID   string
	Node string
	// Frames carries the agent's output frames to the caller, ending with
	// the exit (or error) frame; it is closed when the agent's stream ends.
	Frames chan api.ExecFrame
	// picked is closed when the agent starts streaming.
	picked   chan struct{}
	pickOnce sync.Once
	done     chan struct{}
	doneOnce sync.Once
}

// Picked is closed once the agent has started to stream the exec.
func (s *Session) Picked() <-chan struct{} { return s.picked }

// Done is closed when the caller has gone away (Cancel) or the stream ended.
func (s *Session) Done() <-chan struct{} { return s.done }

func newID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "x-" + hex.EncodeToString(b)
}

// Start queues argv for node's agent and returns the session to read.
func (h *Hub) Start(node string, req api.ExecRequest) *Session {
	s := &Session{
		ID:     newID(),
		Node:   node,
		Frames: make(chan api.ExecFrame, 64),
		picked: make(chan struct{}),
		done:   make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.execs[s.ID] = s
	h.pending[node] = append(h.pending[node], api.ExecAssignment{ID: s.ID, Argv: req.Argv, Stdin: req.Stdin})
	if w, ok := h.waiters[node]; ok {
		close(w)
		delete(h.waiters, node)
	}
	return s
}

// Cancel forgets the session: its command, if not yet picked up, is never
// handed out, and a stream in progress is cut.
func (h *Hub) Cancel(s *Session) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.execs, s.ID)
	kept := h.pending[s.Node][:0]
	for _, a := range h.pending[s.Node] {
		if a.ID != s.ID {
			kept = append(kept, a)
		}
	}
	if len(kept) == 0 {
		delete(h.pending, s.Node)
	} else {
		h.pending[s.Node] = kept
	}
	s.doneOnce.Do(func() { close(s.done) })
}

// Session returns the session of exec id, or nil if none waits for it.
func (h *Hub) Session(id string) *Session {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.execs[id]
}

// Poll returns the execs waiting for node, waiting until there is one, the
// node is woken (Wake) or ctx ends; then it returns nothing.
func (h *Hub) Poll(ctx context.Context, node string) []api.ExecAssignment {
	h.mu.Lock()
	if work := h.pending[node]; len(work) > 0 || h.woken[node] {
		delete(h.pending, node)
		delete(h.woken, node)
		h.mu.Unlock()
		return work
	}
	w, ok := h.waiters[node]
	if !ok {
		w = make(chan struct{})
		h.waiters[node] = w
	}
	h.mu.Unlock()
	select {
	case <-ctx.Done():
		// Forget the waiter, or a later Wake would close it instead of
		// marking the node woken for its next poll.
		h.mu.Lock()
		if h.waiters[node] == w {
			delete(h.waiters, node)
		}
		h.mu.Unlock()
		return nil
	case <-w:
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	work := h.pending[node]
	delete(h.pending, node)
	return work
}

// Wake ends node's poll in progress, or the next one if none is in
// progress, so that its agent asks again (there is other work for it, such
// as a job).
func (h *Hub) Wake(node string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w, ok := h.waiters[node]; ok {
		close(w)
		delete(h.waiters, node)
		return
	}
	h.woken[node] = true
}

// Stream delivers the frames an agent sends for exec id, read by next until
// it returns false, to the waiting session. It returns ErrUnknownExec if
// nobody waits for that exec or it belongs to another node.
func (h *Hub) Stream(ctx context.Context, node, id string, next func() (api.ExecFrame, bool)) error {
	h.mu.Lock()
	s, ok := h.execs[id]
	h.mu.Unlock()
	if !ok || s.Node != node {
		return ErrUnknownExec
	}
	s.pickOnce.Do(func() { close(s.picked) })
	defer func() {
		h.mu.Lock()
		delete(h.execs, id)
		h.mu.Unlock()
		close(s.Frames)
	}()
	for {
		f, ok := next()
		if !ok {
			return nil
		}
		select {
		case s.Frames <- f:
		case <-s.done:
			return context.Canceled
		case <-ctx.Done():
			return ctx.Err()
		}
		if f.Exit != nil || f.Error != "" {
			return nil
		}
	}
}

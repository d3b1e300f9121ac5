package scheduler

import (
	"context"
	"sync"
)

// notifier wakes waiters by key (a job id): Wait blocks until Notify(key)
// or ctx ends.
type notifier struct {
	mu sync.Mutex
	ch map[int64]chan struct{}
}

func (n *notifier) wait(ctx context.Context, key int64) {
	n.mu.Lock()
	if n.ch == nil {
		n.ch = map[int64]chan struct{}{}
	}
	c, ok := n.ch[key]
	if !ok {
		c = make(chan struct{})
		n.ch[key] = c
	}
	n.mu.Unlock()
	select {
	case <-ctx.Done():
	case <-c:
	}
}

func (n *notifier) notify(key int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.ch[key]; ok {
		close(c)
		delete(n.ch, key)
	}
}

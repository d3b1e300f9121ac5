// Package notifytest holds a notify.Notifier for tests that keeps the
// events it is handed.
package notifytest

import (
	"context"
	"sync"

	"github.com/stratus-cloud/stratus/internal/notify"
)

// Recorder is a notify.Notifier that keeps the events it is handed. It is
// safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []notify.Event
}

var _ notify.Notifier = (*Recorder)(nil)

// Notify keeps e.
func (r *Recorder) Notify(_ context.Context, e notify.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return nil
}

// Events returns the events kept, oldest first.
func (r *Recorder) Events() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Event(nil), r.events...)
}

// Take returns the events kept and forgets them.
func (r *Recorder) Take() []notify.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	evs := r.events
	r.events = nil
	return evs
}

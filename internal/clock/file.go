package clock

import (
	"os"
	"strings"
	"sync"
	"time"
)

// File is a clock read from a file, so that an end-to-end test can move a
// running control plane's time by writing it: when the file exists and holds
// an RFC 3339 time on its first line, that is the time; without the file it
// is the wall clock (a file caught half-written reads as the last time it
// held, so that writing it need not be atomic). Its After polls the
// file, so a timer fires once the file's time (or the wall clock, without
// the file) reaches the deadline. It is meant for tests (`stratus serve
// --clock-file`): a timer whose deadline the file never reaches keeps a
// goroutine polling until the process ends.
type File struct {
	// Path is the file holding the time.
	Path string
	// Poll is how often After reads the file (default 50ms).
	Poll time.Duration

	mu   sync.Mutex
	last time.Time // the last time read from the file
}

var _ Clock = (*File)(nil)

// Now returns the file's time, or the wall clock's when there is no file.
// A file caught half-written (not a time) reads as the last time it held.
func (f *File) Now() time.Time {
	data, err := os.ReadFile(f.Path)
	if err != nil {
		return time.Now()
	}
	line, _, _ := strings.Cut(string(data), "\n")
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(line))
	f.mu.Lock()
	defer f.mu.Unlock()
	if err != nil {
		if f.last.IsZero() {
			return time.Now()
		}
		return f.last
	}
	f.last = t
	return t
}

// After returns a channel that receives the time once Now has reached
// Now()+d, checked every Poll of the wall clock.
func (f *File) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	at := f.Now().Add(d)
	poll := f.Poll
	if poll <= 0 {
		poll = 50 * time.Millisecond
	}
	go func() {
		for {
			if now := f.Now(); !now.Before(at) {
				ch <- now
				return
			}
			time.Sleep(poll)
		}
	}()
	return ch
}

package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stratus-cloud/stratus/api"
)

func TestHub_PollReceivesExecStartedLater(t *testing.T) {
	h := NewHub()
	got := make(chan []api.ExecAssignment)
	go func() { got <- h.Poll(context.Background(), "n1") }()
	time.Sleep(10 * time.Millisecond)
	s := h.Start("n1", api.ExecRequest{Argv: []string{"echo", "hi"}})
	select {
	case work := <-got:
		want := []api.ExecAssignment{{ID: s.ID, Argv: []string{"echo", "hi"}}}
		if diff := cmp.Diff(want, work); diff != "" {
			t.Fatalf("work (-want +got):\n%s", diff)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("poll did not return")
	}
}

func TestHub_PollTimesOutEmpty(t *testing.T) {
	h := NewHub()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if work := h.Poll(ctx, "n1"); work != nil {
		t.Fatalf("got work %v, want none", work)
	}
}

func TestHub_StreamDeliversFramesToSession(t *testing.T) {
	h := NewHub()
	s := h.Start("n1", api.ExecRequest{Argv: []string{"true"}})
	h.Poll(context.Background(), "n1")
	code := 3
	frames := []api.ExecFrame{{Stream: "stdout", Data: []byte("a")}, {Stream: "stderr", Data: []byte("b")}, {Exit: &code}}
	i := 0
	errc := make(chan error, 1)
	go func() {
		errc <- h.Stream(context.Background(), "n1", s.ID, func() (api.ExecFrame, bool) {
			if i == len(frames) {
				return api.ExecFrame{}, false
			}
			i++
			return frames[i-1], true
		})
	}()
	var got []api.ExecFrame
	for f := range s.Frames {
		got = append(got, f)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(frames, got); diff != "" {
		t.Fatalf("frames (-want +got):\n%s", diff)
	}
}

func TestHub_StreamRejectsOtherNodeAndUnknown(t *testing.T) {
	h := NewHub()
	s := h.Start("n1", api.ExecRequest{Argv: []string{"true"}})
	none := func() (api.ExecFrame, bool) { return api.ExecFrame{}, false }
	if err := h.Stream(context.Background(), "n2", s.ID, none); !errors.Is(err, ErrUnknownExec) {
		t.Fatalf("other node: err = %v, want ErrUnknownExec", err)
	}
	if err := h.Stream(context.Background(), "n1", "x-nope", none); !errors.Is(err, ErrUnknownExec) {
		t.Fatalf("unknown id: err = %v, want ErrUnknownExec", err)
	}
}

func TestHub_CancelRemovesPendingWork(t *testing.T) {
	h := NewHub()
	s := h.Start("n1", api.ExecRequest{Argv: []string{"true"}})
	h.Cancel(s)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if work := h.Poll(ctx, "n1"); work != nil {
		t.Fatalf("cancelled exec was handed out: %v", work)
	}
}

func TestHub_WakeEndsPollWithoutWork(t *testing.T) {
	h := NewHub()
	got := make(chan []api.ExecAssignment)
	go func() { got <- h.Poll(context.Background(), "n1") }()
	time.Sleep(10 * time.Millisecond)
	h.Wake("n1")
	select {
	case work := <-got:
		if work != nil {
			t.Fatalf("woken poll returned work %v", work)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Wake did not end the poll")
	}
}

// A wake that comes after a poll timed out is kept for the next poll.
func TestHub_WakeAfterTimedOutPollIsNotLost(t *testing.T) {
	h := NewHub()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	h.Poll(ctx, "n1")
	h.Wake("n1")
	got := make(chan struct{})
	go func() { h.Poll(context.Background(), "n1"); close(got) }()
	select {
	case <-got:
	case <-time.After(2 * time.Second):
		t.Fatal("the wake was lost: the next poll waited")
	}
}

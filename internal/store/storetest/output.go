package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/store"
)

// outputOpts compare output chunks: Data byte for byte (nil and empty
// equal), times as instants. (Not with opts: its json.RawMessage comparer
// would also apply to []byte.)
var outputOpts = cmp.Options{cmp.Comparer(func(a, b []byte) bool { return bytes.Equal(a, b) })}

// binaryData is every byte value, then NULs and invalid UTF-8 sequences.
func binaryData() []byte {
	b := make([]byte, 0, 300)
	for i := range 256 {
		b = append(b, byte(i))
	}
	return append(b, 0, 0, 0, 0xff, 0xfe, 0xc3, 0x28, 0xe2, 0x82, 0xed, 0xa0, 0x80, 'o', 'k', 0)
}

func testOutput(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Run("AppendAllFields", func(t *testing.T) {
		s := newStore(t)
		c := &store.OutputChunk{Job: 7, Attempt: 2, Rank: 3, Stream: "stderr", Data: []byte("line 1\nline 2\n"),
			Time: at(time.Second).In(time.FixedZone("UTC+9", 9*3600))}
		if err := s.AppendJobOutput(ctx(t), c); err != nil {
			t.Fatalf("AppendJobOutput: %v", err)
		}
		if c.Seq <= 0 {
			t.Errorf("Seq = %d after AppendJobOutput, want > 0", c.Seq)
		}
		got, err := s.ListJobOutput(ctx(t), 7, 0, 0)
		if err != nil {
			t.Fatalf("ListJobOutput: %v", err)
		}
		if d := cmp.Diff([]*store.OutputChunk{c}, got, outputOpts); d != "" {
			t.Errorf("ListJobOutput (-want +got):\n%s", d)
		}
	})

	t.Run("AppendFillsTime", func(t *testing.T) {
		s := newStore(t)
		c := &store.OutputChunk{Job: 1, Attempt: 1, Stream: "stdout", Data: []byte("x")}
		if err := s.AppendJobOutput(ctx(t), c); err != nil {
			t.Fatalf("AppendJobOutput: %v", err)
		}
		if !recent(c.Time) {
			t.Errorf("Time = %v, want now", c.Time)
		}
		got, err := s.ListJobOutput(ctx(t), 1, 0, 0)
		if err != nil {
			t.Fatalf("ListJobOutput: %v", err)
		}
		if d := cmp.Diff([]*store.OutputChunk{c}, got, outputOpts); d != "" {
			t.Errorf("ListJobOutput (-want +got):\n%s", d)
		}
	})

	t.Run("BinaryData", func(t *testing.T) {
		s := newStore(t)
		datas := [][]byte{binaryData(), {0}, {0xff}, bytes.Repeat([]byte{0, 0xff, '\n'}, 100_000), nil, {}}
		for _, d := range datas {
			if err := s.AppendJobOutput(ctx(t), &store.OutputChunk{Job: 1, Stream: "stdout", Data: d, Time: at(0)}); err != nil {
				t.Fatalf("AppendJobOutput of %d bytes: %v", len(d), err)
			}
		}
		got, err := s.ListJobOutput(ctx(t), 1, 0, 0)
		if err != nil {
			t.Fatalf("ListJobOutput: %v", err)
		}
		if len(got) != len(datas) {
			t.Fatalf("ListJobOutput = %d chunks, want %d", len(got), len(datas))
		}
		for i, d := range datas {
			if !bytes.Equal(got[i].Data, d) {
				t.Errorf("chunk %d: Data = %q (%d bytes), want %q (%d bytes) exactly", i, trunc(got[i].Data), len(got[i].Data), trunc(d), len(d))
			}
		}
	})

	t.Run("ListAfterLimitOrder", func(t *testing.T) {
		s := newStore(t)
		// Two jobs' output interleaved, with times not in append order.
		var job1, job2 []*store.OutputChunk
		var last int64
		for i := range 10 {
			c := &store.OutputChunk{Job: 1 + int64(i%2), Attempt: 1, Rank: i % 3, Stream: "stdout",
				Data: fmt.Appendf(nil, "chunk %d\n", i), Time: at(time.Duration(20-i) * time.Second)}
			if err := s.AppendJobOutput(ctx(t), c); err != nil {
				t.Fatalf("AppendJobOutput: %v", err)
			}
			if c.Seq <= last {
				t.Fatalf("chunk %d got Seq %d, not above the previous %d", i, c.Seq, last)
			}
			last = c.Seq
			if c.Job == 1 {
				job1 = append(job1, c)
			} else {
				job2 = append(job2, c)
			}
		}
		for _, tc := range []struct {
			name       string
			job, after int64
			limit      int
			want       []*store.OutputChunk
		}{
			{"all of job 1", 1, 0, 0, job1},
			{"all of job 2", 2, 0, 0, job2},
			{"after the first", 1, job1[0].Seq, 0, job1[1:]},
			{"after a seq of another job", 1, job2[1].Seq, 0, job1[2:]},
			{"after the last", 1, job1[4].Seq, 0, nil},
			{"limit", 1, 0, 2, job1[:2]},
			{"after and limit", 2, job2[1].Seq, 2, job2[2:4]},
			{"limit above the count", 2, job2[2].Seq, 10, job2[3:]},
			{"no such job", 3, 0, 0, nil},
			{"negative after", 1, -5, 0, job1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := s.ListJobOutput(ctx(t), tc.job, tc.after, tc.limit)
				if err != nil {
					t.Fatalf("ListJobOutput: %v", err)
				}
				if len(got) == 0 && len(tc.want) == 0 {
					return
				}
				if d := cmp.Diff(tc.want, got, outputOpts); d != "" {
					t.Errorf("ListJobOutput(job %d, after %d, limit %d) (-want +got):\n%s", tc.job, tc.after, tc.limit, d)
				}
			})
		}
	})

	t.Run("NegativeLimit", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.ListJobOutput(ctx(t), 1, 0, -1); err == nil {
			t.Error("ListJobOutput with a negative limit succeeded, want an error")
		}
	})
}

// trunc shortens data for a message.
func trunc(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

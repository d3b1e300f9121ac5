package agent

import (
	"bytes"
	"testing"
)

// A burst of output larger than a request may carry is shipped in bounded
// batches, in order, with nothing lost.
func TestBatcher_TakeBoundsBatches(t *testing.T) {
	b := &batcher{full: make(chan struct{}, 1)}
	want := bytes.Repeat([]byte("0123456789abcdef"), 40<<10) // 640 KiB
	out, errOut := b.writer("stdout"), b.writer("stderr")
	out.Write(want[:1000])
	errOut.Write([]byte("err"))
	out.Write(want[1000:])
	var got []byte
	batches := 0
	for {
		frames := b.take()
		if len(frames) == 0 {
			break
		}
		batches++
		size := 0
		for _, f := range frames {
			size += len(f.Data)
			if f.Stream == "stdout" {
				got = append(got, f.Data...)
			} else if string(f.Data) != "err" {
				t.Fatalf("stderr frame %q", f.Data)
			}
		}
		if size > maxBatch {
			t.Fatalf("batch of %d bytes, the bound is %d", size, maxBatch)
		}
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("stdout came back as %d bytes, want the %d written, in order", len(got), len(want))
	}
	if batches < 3 {
		t.Fatalf("%d batches for 640 KiB, want at least 3", batches)
	}
}

package clock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFile_NowFromFileElseWallClock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	c := &File{Path: path}
	if d := time.Since(c.Now()); d < -time.Minute || d > time.Minute {
		t.Errorf("without the file, Now = %v, want the wall clock", c.Now())
	}
	want := time.Date(2030, 1, 1, 0, 30, 0, 0, time.UTC)
	if err := os.WriteFile(path, []byte(want.Format(time.RFC3339)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(want) {
		t.Errorf("Now = %v, want %v", got, want)
	}
	if err := os.WriteFile(path, []byte(""), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := c.Now(); !got.Equal(want) {
		t.Errorf("with the file caught half-written, Now = %v, want the last time read, %v", got, want)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(c.Now()); d < -time.Minute || d > time.Minute {
		t.Errorf("with the file removed, Now = %v, want the wall clock", c.Now())
	}
}

func TestFile_AfterFiresWhenTheFileMoves(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	write := func(tm time.Time) {
		t.Helper()
		if err := os.WriteFile(path, []byte(tm.Format(time.RFC3339)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(start)
	c := &File{Path: path, Poll: time.Millisecond}
	ch := c.After(time.Hour)
	write(start.Add(59 * time.Minute))
	select {
	case got := <-ch:
		t.Fatalf("After(1h) fired at %v, before the hour", got)
	case <-time.After(50 * time.Millisecond):
	}
	write(start.Add(2 * time.Hour))
	select {
	case got := <-ch:
		if !got.Equal(start.Add(2 * time.Hour)) {
			t.Errorf("After fired with %v, want the file's time", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("After(1h) did not fire after the file moved 2h on")
	}
}

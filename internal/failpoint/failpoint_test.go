package failpoint

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestHit_KillsOnTheArmedHit runs this test binary again with a failpoint
// armed for the second hit and checks it died of SIGKILL after one hit.
func TestHit_KillsOnTheArmedHit(t *testing.T) {
	if os.Getenv("FAILPOINT_CHILD") == "1" {
		Hit("p")
		os.Stdout.WriteString("after first\n")
		Hit("p")
		os.Stdout.WriteString("after second\n")
		os.Exit(0)
	}
	cmd := exec.Command(os.Args[0], "-test.run=TestHit_KillsOnTheArmedHit")
	cmd.Env = append(os.Environ(), "FAILPOINT_CHILD=1", Env+"=p:2")
	out, err := cmd.Output()
	ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if err == nil || !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child was not killed by SIGKILL: err=%v status=%v", err, cmd.ProcessState)
	}
	if string(out) != "after first\n" {
		t.Fatalf("child printed %q, want only the line before the armed hit", out)
	}
}

// Package failpoint lets crash tests kill the control plane at a chosen
// point, exactly as kill -9 would, to prove that nothing is lost or
// duplicated when it restarts. A failpoint fires only when the environment
// variable STRATUS_FAILPOINT names it; in production it is a map lookup.
//
// STRATUS_FAILPOINT="cluster.after-launch:2" kills the process the second
// time the point cluster.after-launch is reached; without ":N", the first.
// Several points may be given, separated by commas.
package failpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Env is the environment variable that arms failpoints.
const Env = "STRATUS_FAILPOINT"

var (
	once  sync.Once
	mu    sync.Mutex
	armed map[string]int // point → hit on which to die
	hits  map[string]int
)

func load() {
	armed, hits = map[string]int{}, map[string]int{}
	for _, item := range strings.Split(os.Getenv(Env), ",") {
		name, n, _ := strings.Cut(strings.TrimSpace(item), ":")
		if name == "" {
			continue
		}
		at, err := strconv.Atoi(n)
		if err != nil || at < 1 {
			at = 1
		}
		armed[name] = at
	}
}

// Hit marks that the named point was reached; if it is armed for this hit,
// the process kills itself with SIGKILL.
func Hit(name string) {
	once.Do(load)
	if len(armed) == 0 {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	at, ok := armed[name]
	if !ok {
		return
	}
	hits[name]++
	if hits[name] == at {
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal is on its way
	}
}

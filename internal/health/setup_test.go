package health

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/clock"
)

// webServer starts a web server that answers "ok", with status while
// down is set. It is closed when the test ends.
func webServer(t *testing.T, status int) (srv *httptest.Server, down *atomic.Bool) {
	t.Helper()
	down = new(atomic.Bool)
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			w.WriteHeader(status)
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv, down
}

// replicaGroup starts three servers; server i answers {"<field>": rev[i]},
// every rev starting as first. They are closed when the test ends.
func replicaGroup(t *testing.T, field, first string) (rev *[3]atomic.Value, mirrors [3]*httptest.Server) {
	t.Helper()
	rev = new([3]atomic.Value)
	for i := range mirrors {
		rev[i].Store(first)
		mirrors[i] = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `{%q:%q}`, field, rev[i].Load())
		}))
		t.Cleanup(mirrors[i].Close)
	}
	return rev, mirrors
}

// passes runs n passes of ctl, step apart on clk.
func passes(t *testing.T, ctl *Controller, clk *clock.Fake, n int, step time.Duration) {
	t.Helper()
	for range n {
		if _, err := ctl.Reconcile(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(step)
	}
}

package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

func TestAPI_Checks(t *testing.T) {
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ann := s.client(annToken)
	if cs, err := ann.ListChecks(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("ListChecks of none = %v, %v", cs, err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	st := &store.CheckState{Name: "mirrors", Kind: "replicas", State: "behind", Since: now, LastProbe: now,
		Members: []store.CheckMember{{URL: "http://a", Value: "r1", State: "behind", Since: now}}}
	if err := s.st.PutCheckState(ctx, st); err != nil {
		t.Fatal(err)
	}
	if err := s.st.AppendCheckResult(ctx, &store.CheckResult{Check: "mirrors", Time: now, State: "behind", Members: st.Members}); err != nil {
		t.Fatal(err)
	}
	cs, err := ann.ListChecks(ctx)
	if err != nil || len(cs) != 1 || cs[0].Name != "mirrors" || cs[0].Members[0].Value != "r1" {
		t.Fatalf("ListChecks = %+v, %v", cs, err)
	}
	d, err := ann.GetCheck(ctx, "mirrors")
	if err != nil || len(d.History) != 1 || d.History[0].State != "behind" || !d.Since.Equal(now) {
		t.Fatalf("GetCheck = %+v, %v", d, err)
	}
	_, err = ann.GetCheck(ctx, "nope")
	statusError(t, err, http.StatusNotFound, "not_found")
	_, err = s.client("").ListChecks(ctx)
	statusError(t, err, http.StatusUnauthorized, "unauthorized")
}

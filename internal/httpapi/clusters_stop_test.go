package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/store"
)

func TestAPI_StopStart(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ann := s.client(annToken)
	if _, err := ann.CreateCluster(ctx, api.CreateClusterRequest{Name: "lab", Request: headOnly}); err != nil {
		t.Fatalf("create: %v", err)
	}

	// A creating cluster cannot be stopped yet: 409, nothing changes.
	_, err := ann.StopCluster(ctx, "lab")
	se := statusError(t, err, http.StatusConflict, "not_ready")
	if !strings.Contains(se.Body.Message, "only a running cluster can be stopped") {
		t.Errorf("message %q", se.Body.Message)
	}
	setState(t, ctx, s.st, "lab", store.ClusterRunning)

	// Not bob's: not found.
	_, err = s.client(bobToken).StopCluster(ctx, "lab")
	statusError(t, err, http.StatusNotFound, "not_found")
	_, err = ann.StopCluster(ctx, "nope")
	statusError(t, err, http.StatusNotFound, "not_found")

	cl, err := ann.StopCluster(ctx, "lab")
	if err != nil || cl.State != "stopping" {
		t.Fatalf("stop = %s, %v; want stopping", cl.State, err)
	}
	// A stopping cluster can be started again, by an admin too.
	cl, err = s.client(adminToken).StartCluster(ctx, "lab")
	if err != nil || cl.State != "starting" {
		t.Fatalf("start by an admin = %s, %v; want starting", cl.State, err)
	}
	setState(t, ctx, s.st, "lab", store.ClusterDeleting)
	_, err = ann.StartCluster(ctx, "lab")
	statusError(t, err, http.StatusConflict, "not_ready")
}

func setState(t *testing.T, ctx context.Context, st store.Store, name string, state store.ClusterState) {
	t.Helper()
	err := st.WithTx(ctx, func(q store.Queries) error {
		cl, err := q.GetCluster(ctx, name)
		if err != nil {
			return err
		}
		cl.State = state
		return q.UpdateCluster(ctx, cl)
	})
	if err != nil {
		t.Fatal(err)
	}
}

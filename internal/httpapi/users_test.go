package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stratus-cloud/stratus/api"
)

func TestAPI_UsersAdminOnly(t *testing.T) {
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ann := s.client(annToken)
	_, err := ann.CreateUser(ctx, api.CreateUserRequest{Name: "carol"})
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = ann.ListUsers(ctx)
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = ann.CreateUserToken(ctx, "ann")
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = ann.DisableUser(ctx, "bob")
	statusError(t, err, http.StatusForbidden, "forbidden")
	_, err = s.client("").ListUsers(ctx)
	statusError(t, err, http.StatusUnauthorized, "unauthorized")
	_, err = s.client("stk_nobody").CreateUser(ctx, api.CreateUserRequest{Name: "carol"})
	statusError(t, err, http.StatusUnauthorized, "unauthorized")

	admin := s.client(adminToken)
	_, err = admin.CreateUser(ctx, api.CreateUserRequest{Name: "Bad Name", Role: "root", Email: "nope"})
	se := statusError(t, err, http.StatusBadRequest, "invalid")
	var fields []string
	for _, f := range se.Body.Fields {
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ",") != "name,role,email" {
		t.Errorf("fields = %v, want name, role and email", fields)
	}
	u, err := admin.CreateUser(ctx, api.CreateUserRequest{Name: "carol", Email: "carol@example.org"})
	if err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	if u.Role != "user" {
		t.Errorf("Role = %q, want the default user", u.Role)
	}
	_, err = admin.CreateUser(ctx, api.CreateUserRequest{Name: "carol"})
	statusError(t, err, http.StatusConflict, "conflict")
}

func TestAPI_UserTokenAndDisable(t *testing.T) {
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	admin := s.client(adminToken)
	if _, err := admin.CreateUser(ctx, api.CreateUserRequest{Name: "carol"}); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	tok, err := admin.CreateUserToken(ctx, "carol")
	if err != nil {
		t.Fatalf("CreateUserToken: %v", err)
	}
	carol := s.client(tok.Token)
	who, err := carol.WhoAmI(ctx)
	if err != nil || who.User != "carol" || who.Role != "user" {
		t.Fatalf("WhoAmI = %+v, %v; want carol, user", who, err)
	}
	_, err = carol.ListUsers(ctx)
	statusError(t, err, http.StatusForbidden, "forbidden")
	if _, err := admin.DisableUser(ctx, "carol"); err != nil {
		t.Fatalf("DisableUser: %v", err)
	}
	_, err = carol.WhoAmI(ctx)
	se := statusError(t, err, http.StatusUnauthorized, "unauthorized")
	if strings.Contains(se.Body.Message, tok.Token) {
		t.Errorf("error message contains the token: %s", se.Body.Message)
	}
	_, err = admin.CreateUserToken(ctx, "carol")
	statusError(t, err, http.StatusConflict, "conflict")
	_, err = admin.CreateUserToken(ctx, "ghost")
	statusError(t, err, http.StatusNotFound, "not_found")
}

func TestAPI_AuditLog(t *testing.T) {
	s := newServer(t, nil)
	ctx := ctxTimeout(t, 10*time.Second)
	ann, bob, admin := s.client(annToken), s.client(bobToken), s.client(adminToken)
	if _, err := ann.CreateCluster(ctx, api.CreateClusterRequest{Name: "lab", Request: headOnly}); err != nil {
		t.Fatalf("create: %v", err)
	}
	_, err := bob.DeleteCluster(ctx, "lab")
	statusError(t, err, http.StatusNotFound, "not_found")
	if _, err := ann.ListClusters(ctx); err != nil { // not audited
		t.Fatalf("list: %v", err)
	}

	all, err := admin.Audit(ctx, "", time.Time{})
	if err != nil {
		t.Fatalf("Audit: %v", err)
	}
	type entry struct {
		User, Method, Path, Object string
		Status                     int
	}
	var got []entry
	for _, e := range all {
		got = append(got, entry{e.User, e.Method, e.Path, e.Object, e.Status})
		if e.Time.IsZero() {
			t.Errorf("entry %d has no time", e.ID)
		}
	}
	want := []entry{
		{"ann", "POST", "/v1/clusters", "lab", http.StatusCreated},
		{"bob", "DELETE", "/v1/clusters/lab", "lab", http.StatusNotFound},
	}
	if len(got) != len(want) {
		t.Fatalf("audit = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("audit[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	mine, err := bob.Audit(ctx, "", time.Time{})
	if err != nil || len(mine) != 1 || mine[0].User != "bob" {
		t.Errorf("bob's Audit = %+v, %v; want his one entry", mine, err)
	}
	_, err = bob.Audit(ctx, "ann", time.Time{})
	statusError(t, err, http.StatusForbidden, "forbidden")
	later, err := admin.Audit(ctx, "", time.Now().Add(time.Hour))
	if err != nil || len(later) != 0 {
		t.Errorf("Audit since an hour ahead = %+v, %v; want none", later, err)
	}
}

package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/auth"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// userNameRE is what a user name must match.
var userNameRE = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,31}$`)

func (h *Handler) userRoutes(m *http.ServeMux) {
	m.HandleFunc("POST /v1/users", h.user(h.createUser))
	m.HandleFunc("GET /v1/users", h.user(h.listUsers))
	m.HandleFunc("POST /v1/users/{name}/tokens", h.user(h.createUserToken))
	m.HandleFunc("POST /v1/users/{name}/disable", h.user(h.disableUser))
	m.HandleFunc("GET /v1/audit", h.user(h.listAudit))
}

func validateUserName(name string) error {
	if !userNameRE.MatchString(name) {
		return spec.Errors{{Field: "name", Message: fmt.Sprintf("must match [a-z][a-z0-9_-]{0,31} (a lower-case letter, then up to 31 lower-case letters, digits, _ or -), got %q", name)}}
	}
	return nil
}

func apiUser(u *store.User) api.User {
	return api.User{Name: u.Name, Email: u.Email, Role: u.Role, Disabled: u.Disabled, CreatedAt: u.CreatedAt}
}

func (h *Handler) createUser(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	if !c.Admin {
		writeError(w, h.Logger, errForbidden)
		return
	}
	var req api.CreateUserRequest
	if err := decode(r, &req); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	var errs spec.Errors
	if err := validateUserName(req.Name); err != nil {
		errs = append(errs, err.(spec.Errors)...)
	}
	if req.Role == "" {
		req.Role = "user"
	}
	if req.Role != "user" && req.Role != "admin" {
		errs = append(errs, spec.FieldError{Field: "role", Message: fmt.Sprintf("must be admin or user, got %q", req.Role)})
	}
	if req.Email != "" {
		if a, err := mail.ParseAddress(req.Email); err != nil || a.Address != req.Email {
			errs = append(errs, spec.FieldError{Field: "email", Message: fmt.Sprintf("must be an address like ada@example.org, got %q", req.Email)})
		}
	}
	if len(errs) > 0 {
		writeError(w, h.Logger, errs)
		return
	}
	u := &store.User{Name: req.Name, Email: req.Email, Role: req.Role}
	if err := h.Store.CreateUser(r.Context(), u); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, apiUser(u))
}

func (h *Handler) listUsers(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	if !c.Admin {
		writeError(w, h.Logger, errForbidden)
		return
	}
	us, err := h.Store.ListUsers(r.Context())
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	out := make([]api.User, 0, len(us))
	for _, u := range us {
		out = append(out, apiUser(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) createUserToken(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	if !c.Admin {
		writeError(w, h.Logger, errForbidden)
		return
	}
	u, err := h.Store.GetUser(r.Context(), r.PathValue("name"))
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	if u.Disabled {
		writeError(w, h.Logger, fmt.Errorf("user %q is disabled: %w", u.Name, store.ErrConflict))
		return
	}
	tok := auth.NewToken("stk")
	if err := h.Store.CreateToken(r.Context(), &store.Token{Hash: auth.Hash(tok), User: u.Name, Role: u.Role}); err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.UserToken{User: u.Name, Role: u.Role, Token: tok})
}

func (h *Handler) disableUser(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	if !c.Admin {
		writeError(w, h.Logger, errForbidden)
		return
	}
	name := r.PathValue("name")
	if name == c.User {
		writeError(w, h.Logger, badRequest{"name: you cannot disable yourself"})
		return
	}
	var u *store.User
	err := h.Store.WithTx(r.Context(), func(q store.Queries) error {
		var err error
		if u, err = q.GetUser(r.Context(), name); err != nil {
			return err
		}
		u.Disabled = true
		return q.UpdateUser(r.Context(), u)
	})
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	writeJSON(w, http.StatusOK, apiUser(u))
}

func (h *Handler) listAudit(w http.ResponseWriter, r *http.Request, c cluster.Caller) {
	f := store.AuditFilter{User: r.URL.Query().Get("user")}
	if !c.Admin {
		if f.User != "" && f.User != c.User {
			writeError(w, h.Logger, errForbidden)
			return
		}
		f.User = c.User
	}
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			writeError(w, h.Logger, badRequest{fmt.Sprintf("since: want an RFC 3339 time, got %q", s)})
			return
		}
		f.Since = t
	}
	es, err := h.Store.ListAudit(r.Context(), f)
	if err != nil {
		writeError(w, h.Logger, err)
		return
	}
	out := make([]api.AuditEntry, 0, len(es))
	for _, e := range es {
		out = append(out, api.AuditEntry{ID: e.ID, Time: e.Time, User: e.User, Method: e.Method, Path: e.Path, Object: e.Object, Status: e.Status})
	}
	writeJSON(w, http.StatusOK, out)
}

// audited reports whether a request is written to the audit log: every
// mutating call under /v1/ except the agents'.
func audited(r *http.Request) bool {
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch:
	default:
		return false
	}
	return strings.HasPrefix(r.URL.Path, "/v1/") && !strings.HasPrefix(r.URL.Path, "/v1/agent/")
}

// auditObject names the object a request is about: the path's name or id,
// else the "name" of a JSON body (which is put back for the handler).
func auditObject(r *http.Request) string {
	for _, k := range []string{"name", "id"} {
		if v := r.PathValue(k); v != "" {
			return v
		}
	}
	if r.Body == nil {
		return ""
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data), r.Body))
	if err != nil {
		return ""
	}
	var v struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(data, &v) != nil {
		return ""
	}
	return v.Name
}

// statusRecorder keeps the status a handler answered with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the real writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// withAudit runs next and writes the call to the audit log. The entry has
// the method and path, never the token or the body.
func (h *Handler) withAudit(w http.ResponseWriter, r *http.Request, user string, next func(w http.ResponseWriter, r *http.Request)) {
	if !audited(r) {
		next(w, r)
		return
	}
	object := auditObject(r)
	rec := &statusRecorder{ResponseWriter: w}
	next(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	e := &store.AuditEntry{User: user, Method: r.Method, Path: r.URL.Path, Object: object, Status: status}
	if err := h.Store.AppendAudit(context.WithoutCancel(r.Context()), e); err != nil && h.Logger != nil {
		h.Logger.Error("audit log", "err", err, "method", r.Method, "path", r.URL.Path)
	}
}

// errDisabled is returned for a disabled user's token.
func errDisabled(user string) error {
	return fmt.Errorf("user %q is disabled: %w", user, errUnauthorized)
}

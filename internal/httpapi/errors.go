package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Errors the handlers return that map to statuses below.
var (
	errUnauthorized = errors.New("missing or unknown token: pass --token or set STRATUS_TOKEN (the admin token is in the server's data directory, admin.token)")
	errForbidden    = errors.New("this needs an administrator's token")
)

// badRequest is an error in the request's form (not its content).
type badRequest struct{ msg string }

func (e badRequest) Error() string { return e.msg }

// methodNotAllowed is a known API path called with a method it does not
// serve.
type methodNotAllowed struct {
	method, path string
	allowed      []string
}

func (e methodNotAllowed) Error() string {
	return fmt.Sprintf("%s %s is not an API call; %s takes %s", e.method, e.path, e.path, strings.Join(e.allowed, ", "))
}

// statusOf maps an error to its HTTP status and code: the one place where
// this is decided.
func statusOf(err error) (int, string) {
	var se spec.Errors
	var br badRequest
	var mna methodNotAllowed
	switch {
	case errors.As(err, &mna):
		return http.StatusMethodNotAllowed, "method_not_allowed"
	case errors.As(err, &se), errors.As(err, &br):
		return http.StatusBadRequest, "invalid"
	case errors.Is(err, errUnauthorized):
		return http.StatusUnauthorized, "unauthorized"
	case errors.Is(err, errForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not_found"
	case errors.Is(err, store.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, cluster.ErrNotReady):
		return http.StatusConflict, "not_ready"
	default:
		return http.StatusInternalServerError, "internal"
	}
}

func writeError(w http.ResponseWriter, log *slog.Logger, err error) {
	status, code := statusOf(err)
	body := api.Error{Code: code, Message: err.Error()}
	var se spec.Errors
	if errors.As(err, &se) {
		body.Message = "invalid request"
		for _, f := range se {
			body.Fields = append(body.Fields, api.FieldError{Field: f.Field, Line: f.Line, Message: f.Message})
		}
	}
	if status == http.StatusInternalServerError {
		log.Error("request failed", "err", err)
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	// A known length lets a client read the whole answer even while the
	// handler still waits for something (agentStream waits for the
	// agent to stop sending).
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

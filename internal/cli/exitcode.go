package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"

	"github.com/stratus-cloud/stratus/api"
)

// Exit codes of the stratus command. Every error is mapped to one of them
// here and nowhere else (see exitCode).
//
//	0    ExitOK           success
//	1    ExitError        any other error: a cluster that ended in state
//	                      failed, a server error (5xx), a file that cannot be read
//	2    ExitUsage        bad command line: unknown command or flag, wrong
//	                      arguments, invalid flag value, missing -f, bad --server
//	                      URL, a --config file that does not exist
//	3    ExitInvalid      the server rejected the request as invalid (400);
//	                      each field error is printed on its own line
//	4    ExitNotFound     no such cluster or job (404)
//	5    ExitConflict     conflict (409), such as a name already in use or
//	                      cancelling a job that has ended
//	6    ExitUnreachable  the server could not be reached
//	7    ExitUnauthorized missing, wrong or insufficient token (401, 403)
//	8    ExitTimeout      --wait gave up after --timeout; the operation
//	                      continues on the server
//	130  ExitInterrupted  interrupted by SIGINT or SIGTERM
//
// `stratus exec` exits with the remote command's exit code once the command
// has run; the codes above apply only when it could not be run. `stratus job
// logs` does not: it exits 0 once it has printed the output, whatever the
// job's own exit code (`stratus job show` reports that).
const (
	ExitOK           = 0
	ExitError        = 1
	ExitUsage        = 2
	ExitInvalid      = 3
	ExitNotFound     = 4
	ExitConflict     = 5
	ExitUnreachable  = 6
	ExitUnauthorized = 7
	ExitTimeout      = 8
	ExitInterrupted  = 130
)

// usageError is a mistake on the command line. It is printed with a hint
// pointing at the command's help.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// timeoutError is returned when --wait gives up.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// exitStatus ends the command with a code and prints nothing; exec uses it
// to pass the remote command's exit code through.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// exitCode maps err to the command's exit code. ctx is the command's
// context: an error after it was cancelled means the user interrupted.
func exitCode(ctx context.Context, err error) int {
	if err == nil {
		return ExitOK
	}
	var (
		es *exitStatus
		ue *usageError
		te *timeoutError
		se *api.StatusError
		ne *url.Error
	)
	switch {
	case errors.As(err, &es):
		return es.code
	case ctx.Err() != nil:
		return ExitInterrupted
	case errors.As(err, &ue):
		return ExitUsage
	case errors.As(err, &te):
		return ExitTimeout
	case errors.As(err, &se):
		switch se.Status {
		case http.StatusBadRequest, http.StatusUnprocessableEntity:
			return ExitInvalid
		case http.StatusNotFound:
			return ExitNotFound
		case http.StatusConflict:
			return ExitConflict
		case http.StatusUnauthorized, http.StatusForbidden:
			return ExitUnauthorized
		}
		return ExitError
	case errors.As(err, &ne):
		// The api client wraps transport failures (connection refused,
		// DNS, TLS) in *url.Error; server answers are StatusErrors.
		return ExitUnreachable
	}
	return ExitError
}

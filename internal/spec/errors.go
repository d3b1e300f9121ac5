package spec

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/stratus-cloud/stratus/api"
)

// FieldError is one problem with a request or template: the field as the
// user wrote it (a cf-create key such as ComputeMaxNodes, or a native path
// such as compute.max_nodes; empty for a problem with the whole document),
// the 1-based line in the file when known, and the rule that was broken.
type FieldError struct {
	Field   string
	Line    int
	Message string
}

// Error formats e as "line 3: ComputeMaxNodes: must be ...", leaving out
// the parts that are unknown.
func (e FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", e.Line)
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// Errors is every problem found in a request or template. Parse, Validate,
// ParseTemplate, Build and ValidateName return it (as error); get it back
// with errors.As.
type Errors []FieldError

// Error lists the problems one per line.
func (es Errors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// API converts es to the wire form used in api.Error.Fields.
func (es Errors) API() []api.FieldError {
	out := make([]api.FieldError, len(es))
	for i, e := range es {
		out[i] = api.FieldError{Field: e.Field, Line: e.Line, Message: e.Message}
	}
	return out
}

// err returns es as an error, or nil when it is empty.
func (es Errors) err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// MaxErrors is the most problems reported for one document; more are
// summed up in a last entry. Real requests have a dozen keys; this bounds
// the answer to a hostile one.
const MaxErrors = 100

// finish orders problems by line, those without a line last, keeping the
// order of problems on the same line, and cuts the list at MaxErrors.
func (es Errors) finish() Errors {
	sort.SliceStable(es, func(i, j int) bool {
		li, lj := es[i].Line, es[j].Line
		if li == 0 || lj == 0 {
			return li != 0 && lj == 0
		}
		return li < lj
	})
	if len(es) > MaxErrors {
		more := len(es) - MaxErrors
		es = append(es[:MaxErrors:MaxErrors], FieldError{Message: fmt.Sprintf("and %d more problems", more)})
	}
	return es
}

// MaxNameLength is the longest cluster name ValidateName accepts.
const MaxNameLength = 63

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9][-a-zA-Z0-9]*$`)

// ValidateName checks a cluster name: letters, digits and dashes, starting
// with a letter or digit ([a-zA-Z0-9][-a-zA-Z0-9]*), at most 63 characters.
// The error is an Errors naming the field "name".
func ValidateName(name string) error {
	var msg string
	switch {
	case name == "":
		msg = "must not be empty; use letters, digits and dashes, like lab-1"
	case len(name) > MaxNameLength:
		msg = fmt.Sprintf("must be at most %d characters, got %d", MaxNameLength, len(name))
	case !nameRE.MatchString(name):
		msg = fmt.Sprintf("must match [a-zA-Z0-9][-a-zA-Z0-9]* (letters, digits and dashes, not starting with a dash), got %s", quote(name))
	default:
		return nil
	}
	return Errors{{Field: "name", Message: msg}}
}

// quote quotes s for a message, shortening it if it is long.
func quote(s string) string {
	const max = 40
	if utf8.RuneCountInString(s) > max {
		r := []rune(s)
		return strconv.Quote(string(r[:max])) + "..."
	}
	return strconv.Quote(s)
}

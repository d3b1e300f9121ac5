package api

import "testing"

func TestStatusError_Fields(t *testing.T) {
	for _, tc := range []struct {
		name  string
		field FieldError
		want  string
	}{
		{"FieldAndLine", FieldError{Field: "ComputeMaxNodes", Line: 3, Message: "must be a whole number"},
			"invalid request\n  ComputeMaxNodes (line 3): must be a whole number"},
		{"FieldOnly", FieldError{Field: "name", Message: "must match [a-zA-Z0-9][-a-zA-Z0-9]*"},
			"invalid request\n  name: must match [a-zA-Z0-9][-a-zA-Z0-9]*"},
		{"WholeDocumentWithLine", FieldError{Line: 4, Message: "invalid JSON (column 1): invalid character '}'"},
			"invalid request\n  line 4: invalid JSON (column 1): invalid character '}'"},
		{"WholeDocument", FieldError{Message: "empty document: stdin has nothing in it"},
			"invalid request\n  empty document: stdin has nothing in it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := &StatusError{Status: 400, Body: Error{Code: "invalid", Message: "invalid request", Fields: []FieldError{tc.field}}}
			if got := err.Error(); got != tc.want {
				t.Errorf("Error() =\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}

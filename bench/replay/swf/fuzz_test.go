package swf

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: any input parses or fails with an error naming a line; never
// a panic, and the same input always gives the same result.
func FuzzParse(f *testing.F) {
	f.Add("; MaxNodes: 100\n; MaxProcs: 100\n1 0 10 100 4 -1 -1 4 600 -1 1 1 1 -1 -1 -1 -1 -1\n")
	f.Add("1 0 10 100 4 -1 -1 4 600 -1 1 1 1 -1 -1 -1 -1\n")
	f.Add("1 0 x 100 4 -1 -1 4 600 -1 1 1 1 -1 -1 -1 -1 -1\n")
	f.Add(";\n\n   \n")
	f.Fuzz(func(t *testing.T, in string) {
		tr, err := Parse(strings.NewReader(in))
		again, err2 := Parse(bytes.NewReader([]byte(in)))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("not deterministic: %v then %v", err, err2)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "line ") {
				t.Fatalf("error does not name the line: %v", err)
			}
			return
		}
		if len(tr.Jobs) != len(again.Jobs) {
			t.Fatalf("not deterministic: %d then %d jobs", len(tr.Jobs), len(again.Jobs))
		}
	})
}

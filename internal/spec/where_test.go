package spec

import "testing"

func TestWhere(t *testing.T) {
	for _, tc := range []struct {
		name, in, filename, path string
		wantField                string
		wantLine                 int
	}{
		{"CFCreateKeyAndLine", "{\n  \"ComputeMaxNodes\": \"3\",\n  \"Region\": \"mars-1\"\n}", "r.json", "region", "Region", 3},
		{"CFCreateLeftToTheTemplate", `{"ComputeMaxNodes": "3"}`, "r.json", "region", "Region", 0},
		{"NativePathAndLine", "compute:\n  max_nodes: 3\nregion: mars-1\n", "r.yaml", "region", "region", 3},
		{"NativeNested", "compute:\n  max_nodes: 3\n", "r.yaml", "compute.max_nodes", "compute.max_nodes", 2},
		{"NotSet", "head: {type: t3.small}\n", "r.yaml", "region", "region", 0},
		{"Unparsable", "{", "r.json", "region", "region", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			field, line := Where([]byte(tc.in), tc.filename, tc.path)
			if field != tc.wantField || line != tc.wantLine {
				t.Errorf("Where = %q, line %d; want %q, line %d", field, line, tc.wantField, tc.wantLine)
			}
		})
	}
}

package swf

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sample = `; Version: 2.2
; Computer: IBM SP2
; Information: http://www.pdc.kth.se/
;              http://www.cs.huji.ac.il/labs/parallel/workload/
; UnixStartTime: 843480031
; TimeZone: 3600
; MaxNodes: 100
; MaxProcs: 400
;
; Note: a comment line
   15   599850 192180   3477    4     -1    -1    4  53940    -1  1  12  12  -1 -1 -1 -1 -1

   16   600022  11940   2488   -1   12.5  3.25   25   -1    -1  1  13  13  -1 -1 -1 -1 -1
`

func TestParse(t *testing.T) {
	tr, err := Parse(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	wantHeader := Header{
		MaxNodes: 100, MaxProcs: 400, UnixStartTime: 843480031, TimeZone: 3600,
		Fields: map[string]string{
			"Version": "2.2", "Computer": "IBM SP2", "Information": "http://www.pdc.kth.se/",
			"UnixStartTime": "843480031", "TimeZone": "3600", "MaxNodes": "100", "MaxProcs": "400",
			"Note": "a comment line",
		},
	}
	if diff := cmp.Diff(wantHeader, tr.Header); diff != "" {
		t.Errorf("header mismatch (-want +got):\n%s", diff)
	}
	wantJobs := []Job{
		{Number: 15, Submit: 599850, Wait: 192180, RunTime: 3477, AllocProcs: 4, AvgCPUTime: -1, UsedMemory: -1,
			ReqProcs: 4, ReqTime: 53940, ReqMemory: -1, Status: 1, User: 12, Group: 12, Executable: -1,
			Queue: -1, Partition: -1, PrecedingJob: -1, ThinkTimeAfter: -1},
		{Number: 16, Submit: 600022, Wait: 11940, RunTime: 2488, AllocProcs: -1, AvgCPUTime: 12.5, UsedMemory: 3.25,
			ReqProcs: 25, ReqTime: -1, ReqMemory: -1, Status: 1, User: 13, Group: 13, Executable: -1,
			Queue: -1, Partition: -1, PrecedingJob: -1, ThinkTimeAfter: -1},
	}
	if diff := cmp.Diff(wantJobs, tr.Jobs); diff != "" {
		t.Errorf("jobs mismatch (-want +got):\n%s", diff)
	}
}

func TestParse_HeaderDefaultsToUnknown(t *testing.T) {
	tr, err := Parse(strings.NewReader("1 0 0 10 1 -1 -1 1 60 -1 1 1 1 -1 -1 -1 -1 -1\n"))
	if err != nil {
		t.Fatal(err)
	}
	h := tr.Header
	if h.MaxNodes != Unknown || h.MaxProcs != Unknown || h.UnixStartTime != Unknown || h.TimeZone != Unknown {
		t.Errorf("header without lines = %+v, want every number Unknown", h)
	}
}

func TestParse_Errors(t *testing.T) {
	good := "1 0 0 10 1 -1 -1 1 60 -1 1 1 1 -1 -1 -1 -1 -1\n"
	tests := []struct {
		name, input, want string
	}{
		{"too few fields", "; MaxNodes: 4\n" + good + "2 5 0 10 1 -1 -1 1 60 -1 1 1 1 -1 -1 -1 -1\n", "line 3: 17 fields, want 18"},
		{"too many fields", good + good + "3 5 0 10 1 -1 -1 1 60 -1 1 1 1 -1 -1 -1 -1 -1 7\n", "line 3: 19 fields, want 18"},
		{"non-numeric field", good + "2 5 0 10 four -1 -1 1 60 -1 1 1 1 -1 -1 -1 -1 -1\n", `line 2: field 5 (allocated processors): "four" is not a number`},
		{"not a number in the header", "; MaxProcs: many\n", `line 1: header MaxProcs: "many" is not an integer`},
		{"NaN is not a number", "1 NaN 0 10 1 -1 -1 1 60 -1 1 1 1 -1 -1 -1 -1 -1\n", `line 1: field 2 (submit time): "NaN" is not a number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.input))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse() error = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestJobProcs(t *testing.T) {
	tests := []struct {
		name        string
		alloc, req  int64
		want        int64
		header      Header
		wantNodesOf int64
	}{
		{"allocated first", 8, 4, 8, Header{MaxNodes: 100, MaxProcs: 400}, 2},
		{"requested when allocated is unknown", -1, 5, 5, Header{MaxNodes: 100, MaxProcs: 400}, 2},
		{"unknown when both are", -1, -1, Unknown, Header{MaxNodes: 100, MaxProcs: 400}, Unknown},
		{"zero counts as unknown", 0, 3, 3, Header{MaxNodes: 10, MaxProcs: 10}, 3},
		{"one processor per node without a header", 7, -1, 7, Header{MaxNodes: Unknown, MaxProcs: Unknown}, 7},
		{"rounds up to whole nodes", 9, -1, 9, Header{MaxNodes: 100, MaxProcs: 400}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			j := Job{AllocProcs: tc.alloc, ReqProcs: tc.req}
			if got := j.Procs(); got != tc.want {
				t.Errorf("Procs() = %d, want %d", got, tc.want)
			}
			if got := tc.header.Nodes(j); got != tc.wantNodesOf {
				t.Errorf("Nodes() = %d, want %d", got, tc.wantNodesOf)
			}
		})
	}
}

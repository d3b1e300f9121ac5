package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRun_JSON(t *testing.T) {
	var out, errOut bytes.Buffer
	err := run([]string{"-trace", "testdata/tiny.swf", "-policies", "immediate,static", "-cap", "trace", "-json"}, &out, &errOut)
	if err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	var rows []row
	dec := json.NewDecoder(&out)
	for dec.More() {
		var r row
		if err := dec.Decode(&r); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, r)
	}
	// Worked out by hand in bench/replay/sim's TestRun_TinyTrace: immediate
	// bills 2350 node-seconds. Static keeps the cap, 10 nodes, up from 0 to
	// the last end at 1200 (10 × 1200 s); only job 1 waits for them to boot.
	want := []row{
		{Policy: "immediate", Billing: "second", LatencyS: 300, Cap: 10, UsefulNodeHours: 0.4, BilledNodeHours: 0.65,
			WasteRatio: 1.6207, MeanWaitS: 166.7, P95WaitS: 300, Launches: 3},
		{Policy: "static", Billing: "second", LatencyS: 300, Cap: 10, UsefulNodeHours: 0.4, BilledNodeHours: 3.33,
			WasteRatio: 8.2759, MeanWaitS: 100, P95WaitS: 300, Launches: 10},
	}
	if diff := cmp.Diff(want, rows, cmp.AllowUnexported(row{}), cmp.FilterPath(func(p cmp.Path) bool {
		return p.Last().String() == ".elapsed"
	}, cmp.Ignore())); diff != "" {
		t.Errorf("rows mismatch (-want +got):\n%s", diff)
	}
}

func TestRun_Table(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-trace", "testdata/tiny.swf", "-billing", "hour", "-latency", "60s"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}
	text := out.String()
	for _, s := range []string{
		"3 jobs replayed, 2 skipped",
		"| policy | billing |",
		"| stratus | hour |", "| immediate | hour |", "| idle-10min | hour |", "| idle-30min | hour |", "| billing-hour | hour |", "| static | hour |",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("output lacks %q:\n%s", s, text)
		}
	}
}

func TestRun_BadFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{}, "-trace is required"},
		{[]string{"-trace", "testdata/tiny.swf", "-billing", "minute"}, `unknown billing model "minute"`},
		{[]string{"-trace", "testdata/tiny.swf", "-policies", "idle-soon"}, `policy "idle-soon": want idle-DURATION`},
		{[]string{"-trace", "testdata/tiny.swf", "-policies", "never"}, `unknown policy "never"`},
		{[]string{"-trace", "testdata/tiny.swf", "-cap", "lots"}, `-cap: "lots" is not a positive number`},
		{[]string{"-trace", "testdata/missing.swf"}, "no such file"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(tc.args, &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run(%q) error = %v, want one containing %q", tc.args, err, tc.want)
			}
		})
	}
}

func TestRun_CapLeavesOutWiderJobs(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := run([]string{"-trace", "testdata/tiny.swf", "-cap", "1", "-policies", "immediate"}, &out, &errOut); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out.String(), "2 jobs replayed, 2 skipped (no run time or processors), 1 wider than the cap") {
		t.Errorf("output:\n%s", out.String())
	}
}

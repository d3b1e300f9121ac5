package sim

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/fleet"
)

var t0 = time.Date(1996, 10, 1, 9, 0, 0, 0, time.UTC)

// tinyTrace is three jobs whose replay is worked out by hand below.
func tinyTrace() []Job {
	s := time.Second
	return []Job{
		{ID: 1, Submit: t0, Nodes: 2, Runtime: 600 * s, Limit: 1200 * s},
		{ID: 2, Submit: t0.Add(850 * s), Nodes: 1, Runtime: 50 * s, Limit: 60 * s},
		{ID: 3, Submit: t0.Add(1000 * s), Nodes: 1, Runtime: 200 * s, Limit: 300 * s},
	}
}

func testPolicy(sd fleet.ScaleDown, b cost.Billing, lo, hi int) fleet.Policy {
	return fleet.Policy{Min: lo, Max: hi, Types: []string{"sim"}, Autoscaling: true, ScaleDown: sd,
		LaunchLatency: 300 * time.Second, Billing: b}
}

func TestRun_TinyTrace(t *testing.T) {
	s := time.Second
	tests := []struct {
		name   string
		policy fleet.Policy
		want   Result
	}{
		{
			// t=0 job 1 arrives: n1, n2 launched, ready at 300; job 1 runs
			// 300–900 (wait 300). t=850 job 2 arrives, nothing idle: n3
			// launched, ready at 1150. t=900 job 1 ends: job 2 starts on n2
			// (wait 50), n1 is removed (billed 900 s); job 2 ends at 950, n2
			// removed (950 s). t=1000 job 3 arrives: booting n3 will serve
			// it, no launch; it starts at 1150 (wait 150), ends at 1350, n3
			// removed (1350-850 = 500 s). Billed 900+950+500 = 2350 s;
			// useful 2×600+50+200 = 1450 s.
			name:   "immediate, per second",
			policy: testPolicy(fleet.ScaleDownImmediate, cost.PerSecond, 0, 10),
			want: Result{Jobs: 3, UsefulNodeSeconds: 1450, BilledNodeSeconds: 2350, Launches: 3,
				MeanWait: 500 * s / 3, P95Wait: 300 * s, PeakNodes: 3},
		},
		{
			// The same periods, each billed a whole hour.
			name:   "immediate, per hour",
			policy: testPolicy(fleet.ScaleDownImmediate, cost.PerHour, 0, 10),
			want: Result{Jobs: 3, UsefulNodeSeconds: 1450, BilledNodeSeconds: 3 * 3600, Launches: 3,
				MeanWait: 500 * s / 3, P95Wait: 300 * s, PeakNodes: 3},
		},
		{
			// Two nodes launched at 0, ready at 300, never removed. Job 1
			// runs 300–900 (wait 300); job 2 waits for it and runs 900–950
			// on n2 (wait 50); job 3 finds both idle at 1000 (wait 0) and
			// ends at 1200, when the replay stops: 2 × 1200 s billed.
			name:   "static, per second",
			policy: testPolicy(fleet.ScaleDownStatic, cost.PerSecond, 2, 2),
			want: Result{Jobs: 3, UsefulNodeSeconds: 1450, BilledNodeSeconds: 2400, Launches: 2,
				MeanWait: 350 * s / 3, P95Wait: 300 * s, PeakNodes: 2},
		},
		{
			// As immediate until 900, but n1 and n2 stay idle up to 10
			// minutes: job 3 starts at once on n2 (idle since 950) at 1000
			// and ends at 1200; n1 goes at 1500 (idle since 900), n3, ready
			// at 1150 and never used, at 1750, n2 at 1800. Billed
			// 1500 + 1800 + (1750-850) = 4200 s.
			name: "idle 10 minutes, per second",
			policy: func() fleet.Policy {
				p := testPolicy(fleet.ScaleDownIdle, cost.PerSecond, 0, 10)
				p.IdleTimeout = 10 * time.Minute
				return p
			}(),
			want: Result{Jobs: 3, UsefulNodeSeconds: 1450, BilledNodeSeconds: 4200, Launches: 3,
				MeanWait: 350 * s / 3, P95Wait: 300 * s, PeakNodes: 3},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Run(tinyTrace(), Config{Policy: tc.policy})
			if err != nil {
				t.Fatal(err)
			}
			got.Passes = 0
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Run() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestResult_Ratios(t *testing.T) {
	r := Result{UsefulNodeSeconds: 7200, BilledNodeSeconds: 9000}
	if got := r.WasteRatio(); got != 1.25 {
		t.Errorf("WasteRatio() = %v, want 1.25", got)
	}
	if got := r.UsefulNodeHours(); got != 2 {
		t.Errorf("UsefulNodeHours() = %v, want 2", got)
	}
	if got := r.BilledNodeHours(); got != 2.5 {
		t.Errorf("BilledNodeHours() = %v, want 2.5", got)
	}
	if got := (Result{}).WasteRatio(); got != 0 {
		t.Errorf("WasteRatio() without useful work = %v, want 0", got)
	}
}

func TestRun_Errors(t *testing.T) {
	p := testPolicy(fleet.ScaleDownImmediate, cost.PerSecond, 0, 1)
	tests := []struct {
		name  string
		trace []Job
		want  string
	}{
		{"wider than max", tinyTrace(), "job 1 needs 2 nodes, more than the maximum 1"},
		{"unsorted", []Job{{ID: 1, Submit: t0.Add(time.Second), Nodes: 1, Runtime: time.Second}, {ID: 2, Submit: t0, Nodes: 1, Runtime: time.Second}},
			"job 2 submitted before job 1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Run(tc.trace, Config{Policy: p})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run() error = %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// The engine holds the planner to its contract: with every policy, on a
// busier random-looking trace, the replay completes without a violation
// and bills at least the useful work.
func TestRun_AllPoliciesKeepTheContract(t *testing.T) {
	var trace []Job
	at := t0
	for i := range 300 {
		at = at.Add(time.Duration((i*7919)%900) * time.Second)
		trace = append(trace, Job{ID: int64(i), Submit: at, Nodes: 1 + (i*31)%6,
			Runtime: time.Duration(10+(i*104729)%5000) * time.Second, Limit: time.Duration(60+(i*7)%7200) * time.Second})
	}
	for _, sd := range []fleet.ScaleDown{fleet.ScaleDownStratus, fleet.ScaleDownImmediate, fleet.ScaleDownIdle, fleet.ScaleDownBillingHour, fleet.ScaleDownStatic} {
		for _, b := range []cost.Billing{cost.PerSecond, cost.PerHour} {
			t.Run(string(sd)+"/"+b.Name, func(t *testing.T) {
				t.Parallel()
				p := testPolicy(sd, b, 0, 12)
				p.IdleTimeout = 10 * time.Minute
				if sd == fleet.ScaleDownStatic {
					p.Min = p.Max
				}
				r, err := Run(trace, Config{Policy: p})
				if err != nil {
					t.Fatal(err)
				}
				if r.BilledNodeSeconds < r.UsefulNodeSeconds {
					t.Errorf("billed %d s < useful %d s", r.BilledNodeSeconds, r.UsefulNodeSeconds)
				}
				if r.PeakNodes > p.Max {
					t.Errorf("peak %d nodes above max %d", r.PeakNodes, p.Max)
				}
			})
		}
	}
}

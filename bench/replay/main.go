// Command replay replays a Standard Workload Format job trace through
// stratus's real placer and fleet planner in simulated time, once per
// scale-down policy (stratus's own and the baselines users have today), and
// prints what each costs and how long it makes jobs wait:
//
//	go run ./bench/replay -trace FILE [-latency 300s] [-billing second|hour]
//	    [-cap N|trace|none] [-policies list] [-json]
//
// See docs/autoscaling.md for the results on the KTH SP2 trace.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stratus-cloud/stratus/bench/replay/sim"
	"github.com/stratus-cloud/stratus/bench/replay/swf"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/fleet"
)

// unlimited is the fleet maximum used for -cap none.
const unlimited = 1_000_000

const defaultPolicies = "stratus,immediate,idle-10min,idle-30min,billing-hour,static"

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "replay:", err)
		os.Exit(2)
	}
}

type options struct {
	trace        string
	latency      time.Duration
	billing      cost.Billing
	capFlag      string
	policies     []string
	json         bool
	batch        time.Duration
	defaultLimit time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var billing, policies string
	fs.StringVar(&o.trace, "trace", "", "SWF trace `file` (required)")
	fs.DurationVar(&o.latency, "latency", 300*time.Second, "launch latency: launch to ready, billed")
	fs.StringVar(&billing, "billing", "second", "billing model: second (60 s minimum) or hour")
	fs.StringVar(&o.capFlag, "cap", "none", "fleet maximum: a number of nodes, trace (the trace's MaxNodes) or none")
	fs.StringVar(&policies, "policies", defaultPolicies, "comma-separated scale-down policies: stratus, immediate, idle-DURATION (idle-10min, idle-90s), billing-hour, static")
	fs.BoolVar(&o.json, "json", false, "print one JSON object per policy and line instead of a table")
	fs.DurationVar(&o.batch, "batch", 0, "batch window of scale-ups")
	fs.DurationVar(&o.defaultLimit, "default-limit", time.Hour, "time limit of jobs whose requested time is unknown")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if o.trace == "" {
		return o, errors.New("-trace is required")
	}
	if o.latency < 0 {
		return o, errors.New("-latency must not be negative")
	}
	var err error
	if o.billing, err = cost.ParseBilling(billing); err != nil {
		return o, fmt.Errorf("-billing: %w", err)
	}
	for _, p := range strings.Split(policies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			if _, err := policyFor(p, 1); err != nil {
				return o, fmt.Errorf("-policies: %w", err)
			}
			o.policies = append(o.policies, p)
		}
	}
	if len(o.policies) == 0 {
		return o, errors.New("-policies: no policy given")
	}
	return o, nil
}

// policyFor returns the scale-down part of the policy called name.
func policyFor(name string, maxNodes int) (fleet.Policy, error) {
	p := fleet.Policy{Max: maxNodes, Autoscaling: true}
	switch {
	case name == "stratus":
		p.ScaleDown = fleet.ScaleDownStratus
	case name == "immediate":
		p.ScaleDown = fleet.ScaleDownImmediate
	case name == "billing-hour":
		p.ScaleDown = fleet.ScaleDownBillingHour
	case name == "static":
		p.ScaleDown, p.Min = fleet.ScaleDownStatic, maxNodes
	case strings.HasPrefix(name, "idle-"):
		d, err := time.ParseDuration(strings.Replace(strings.TrimPrefix(name, "idle-"), "min", "m", 1))
		if err != nil || d <= 0 {
			return p, fmt.Errorf("policy %q: want idle-DURATION, such as idle-10min", name)
		}
		p.ScaleDown, p.IdleTimeout = fleet.ScaleDownIdle, d
	default:
		return p, fmt.Errorf("unknown policy %q", name)
	}
	return p, nil
}

// workload is a trace turned into jobs.
type workload struct {
	jobs     []sim.Job
	maxNodes int   // the trace's MaxNodes (or widest job)
	skipped  int   // run time ≤ 0 or processors unknown
	tooWide  int   // wider than the cap
	start    int64 // UnixStartTime
}

// load reads the trace and makes jobs of it; jobs wider than capNodes (if
// positive) are left out and counted.
func load(path string, capFlag string, defaultLimit time.Duration) (workload, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return workload{}, 0, err
	}
	defer f.Close()
	t, err := swf.Parse(f)
	if err != nil {
		return workload{}, 0, fmt.Errorf("%s: %w", path, err)
	}
	w := workload{start: max(t.Header.UnixStartTime, 0)}
	loc := time.UTC
	if t.Header.TimeZone != swf.Unknown {
		loc = time.FixedZone("trace", int(t.Header.TimeZone))
	}
	var all []sim.Job
	for _, j := range t.Jobs {
		nodes := t.Header.Nodes(j)
		if j.RunTime <= 0 || nodes <= 0 || j.Submit < 0 {
			w.skipped++
			continue
		}
		limit := defaultLimit
		if j.ReqTime > 0 {
			limit = time.Duration(j.ReqTime) * time.Second
		}
		all = append(all, sim.Job{
			ID:      j.Number,
			Submit:  time.Unix(w.start+j.Submit, 0).In(loc),
			Nodes:   int(nodes),
			Runtime: time.Duration(j.RunTime) * time.Second,
			Limit:   limit,
		})
		w.maxNodes = max(w.maxNodes, int(nodes))
	}
	if t.Header.MaxNodes > 0 {
		w.maxNodes = int(t.Header.MaxNodes)
	}
	capNodes := unlimited
	switch capFlag {
	case "none":
	case "trace":
		capNodes = w.maxNodes
	default:
		n, err := strconv.Atoi(capFlag)
		if err != nil || n <= 0 {
			return w, 0, fmt.Errorf("-cap: %q is not a positive number, trace or none", capFlag)
		}
		capNodes = n
	}
	for _, j := range all {
		if j.Nodes > capNodes {
			w.tooWide++
			continue
		}
		w.jobs = append(w.jobs, j)
	}
	sort.SliceStable(w.jobs, func(a, b int) bool { return w.jobs[a].Submit.Before(w.jobs[b].Submit) })
	if len(w.jobs) == 0 {
		return w, 0, fmt.Errorf("%s: no job to replay", path)
	}
	return w, capNodes, nil
}

// row is one policy's result, also the JSON output.
type row struct {
	Policy          string  `json:"policy"`
	Billing         string  `json:"billing"`
	LatencyS        float64 `json:"latency_s"`
	Cap             int     `json:"cap"` // the fleet's maximum; 0 for none
	UsefulNodeHours float64 `json:"useful_node_hours"`
	BilledNodeHours float64 `json:"billed_node_hours"`
	WasteRatio      float64 `json:"waste_ratio"`
	MeanWaitS       float64 `json:"mean_wait_s"`
	P95WaitS        float64 `json:"p95_wait_s"`
	Launches        int     `json:"launches"`
	elapsed         time.Duration
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	begin := time.Now()
	w, capNodes, err := load(o.trace, o.capFlag, o.defaultLimit)
	if err != nil {
		return err
	}

	rows := make([]row, len(o.policies))
	errs := make([]error, len(o.policies))
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, name := range o.policies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			rows[i], errs[i] = replay(w, name, capNodes, o)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	if o.json {
		enc := json.NewEncoder(stdout)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(stdout, "Trace %s: %d jobs replayed, %d skipped (no run time or processors), %d wider than the cap.\n",
		o.trace, len(w.jobs), w.skipped, w.tooWide)
	fmt.Fprintf(stdout, "Launch latency %s, billing per %s, cap %s, batch window %s.\n\n",
		o.latency, o.billing.Name, o.capFlag, o.batch)
	printTable(stdout, rows)
	fmt.Fprintf(stderr, "replayed %d policies in %s\n", len(rows), time.Since(begin).Round(time.Millisecond))
	return nil
}

// replay runs one policy.
func replay(w workload, name string, capNodes int, o options) (row, error) {
	maxNodes := capNodes
	if name == "static" && capNodes == unlimited {
		maxNodes = w.maxNodes
	}
	p, err := policyFor(name, maxNodes)
	if err != nil {
		return row{}, err
	}
	p.Types = []string{"sim"}
	p.BatchWindow = o.batch
	p.LaunchLatency = o.latency
	p.Billing = o.billing
	begin := time.Now()
	res, err := sim.Run(w.jobs, sim.Config{Policy: p})
	if err != nil {
		return row{}, fmt.Errorf("policy %s: %w", name, err)
	}
	r := row{
		Policy:          name,
		Billing:         o.billing.Name,
		LatencyS:        o.latency.Seconds(),
		UsefulNodeHours: round(res.UsefulNodeHours(), 2),
		BilledNodeHours: round(res.BilledNodeHours(), 2),
		WasteRatio:      round(res.WasteRatio(), 4),
		MeanWaitS:       round(res.MeanWait.Seconds(), 1),
		P95WaitS:        round(res.P95Wait.Seconds(), 1),
		Launches:        res.Launches,
		elapsed:         time.Since(begin),
	}
	if maxNodes != unlimited {
		r.Cap = maxNodes
	}
	return r, nil
}

func round(x float64, digits int) float64 {
	s := strconv.FormatFloat(x, 'f', digits, 64)
	v, _ := strconv.ParseFloat(s, 64)
	return v
}

func printTable(out io.Writer, rows []row) {
	fmt.Fprintln(out, "| policy | billing | useful node-h | billed node-h | waste ratio | mean wait (s) | p95 wait (s) | launches |")
	fmt.Fprintln(out, "|---|---|--:|--:|--:|--:|--:|--:|")
	for _, r := range rows {
		fmt.Fprintf(out, "| %s | %s | %.1f | %.1f | %.4f | %.1f | %.1f | %d |\n",
			r.Policy, r.Billing, r.UsefulNodeHours, r.BilledNodeHours, r.WasteRatio, r.MeanWaitS, r.P95WaitS, r.Launches)
	}
}

// Package schedule runs commands on a cron schedule on a region's worker:
// at each tick it starts the worker (creating it if the region has none),
// waits for its agent, runs the command, keeps its output and exit code,
// and stops the worker again — always, whatever happened to the command or
// to the control plane. Ticks come from an injected clock.
//
// Service carries out the API's requests; Controller decides which ticks
// are due (Plan, a pure function) and applies the decisions: it writes a
// run's record before it starts the worker, so that a control plane killed
// mid-run finds the run on restart, marks it failed and stops its worker.
package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/clock"
	"github.com/stratus-cloud/stratus/internal/cluster"
	"github.com/stratus-cloud/stratus/internal/cost"
	"github.com/stratus-cloud/stratus/internal/spec"
	"github.com/stratus-cloud/stratus/internal/store"
)

// Limits of a schedule's maximum run time.
const (
	DefaultMaxRuntime = time.Hour
	MinMaxRuntime     = time.Second
	MaxMaxRuntime     = 7 * 24 * time.Hour
)

// Service carries out schedule requests: it validates, records desired
// state and answers queries. The controller does the rest.
type Service struct {
	Store store.Store
	// Clock is the schedules' clock (the controller's).
	Clock  clock.Clock
	Logger *slog.Logger
	// Regions are the regions a schedule may name (the provider's).
	Regions []string
	// Billing and StorageMicros price a run still going (what its worker
	// has cost so far).
	Billing       cost.Billing
	StorageMicros cost.Micros
	// Wake asks the controllers for a pass (may be nil).
	Wake func()
}

func (s *Service) wake() {
	if s.Wake != nil {
		s.Wake()
	}
}

// Validate checks a request and returns the schedule it asks for, or
// spec.Errors naming every field that is wrong.
func Validate(req api.CreateScheduleRequest, regions []string) (*store.Schedule, error) {
	var errs spec.Errors
	add := func(field, format string, args ...any) {
		errs = append(errs, spec.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if err := spec.ValidateName(req.Name); err != nil {
		var se spec.Errors
		if errors.As(err, &se) {
			errs = append(errs, se...)
		}
	}
	loc, err := ParseTimezone(req.Timezone)
	if err != nil {
		add("timezone", "%v", err)
	}
	if _, err := ParseCron(req.Cron, loc); err != nil {
		add("cron", "%v", err)
	}
	var rs []string
	switch {
	case req.Region != "" && len(req.Rotate) > 0:
		add("region", "give a region or a rotation (rotate), not both")
	case req.Region != "":
		rs = []string{req.Region}
	case len(req.Rotate) > 0:
		rs = req.Rotate
	default:
		add("region", "give the region to run in (region), or regions to take in turn (rotate)")
	}
	field := "region"
	if len(req.Rotate) > 0 {
		field = "rotate"
	}
	seen := map[string]bool{}
	for _, r := range rs {
		switch {
		case r == "":
			add(field, "a region name is empty")
		case len(regions) > 0 && !contains(regions, r):
			add(field, "unknown region %q; this provider has %s", r, strings.Join(regions, ", "))
		case seen[r]:
			add(field, "region %q is given twice", r)
		}
		seen[r] = true
	}
	maxRuntime := DefaultMaxRuntime
	if req.MaxRuntime != "" {
		d, err := time.ParseDuration(req.MaxRuntime)
		switch {
		case err != nil:
			add("max_runtime", "%q is not a duration: use one such as 30m, 2h or 1h30m", req.MaxRuntime)
		case d < MinMaxRuntime || d > MaxMaxRuntime:
			add("max_runtime", "must be between %s and %s, got %s", MinMaxRuntime, "168h (7 days)", d)
		default:
			maxRuntime = d
		}
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		add("argv", "give the command to run")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	tz := req.Timezone
	if tz == "" {
		tz = "UTC"
	}
	return &store.Schedule{
		Name: req.Name, Cron: strings.TrimSpace(req.Cron), Timezone: tz, Regions: rs, Rotate: len(req.Rotate) > 0,
		Argv: req.Argv, MaxRuntime: maxRuntime,
	}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Create validates and records a new schedule. spec.Errors means the
// request was invalid; store.ErrConflict that the name is taken.
func (s *Service) Create(ctx context.Context, caller cluster.Caller, req api.CreateScheduleRequest) (api.Schedule, error) {
	sc, err := Validate(req, s.Regions)
	if err != nil {
		return api.Schedule{}, err
	}
	sc.Owner = caller.User
	sc.CreatedAt = s.Clock.Now()
	if err := s.Store.CreateSchedule(ctx, sc); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return api.Schedule{}, fmt.Errorf("a schedule named %q already exists: %w", req.Name, store.ErrConflict)
		}
		return api.Schedule{}, err
	}
	s.Logger.Info("schedule created", "schedule", sc.Name, "owner", sc.Owner, "cron", sc.Cron, "regions", sc.Regions)
	s.wake()
	return s.view(ctx, sc, nil, false)
}

// get returns a schedule the caller may see.
func (s *Service) get(ctx context.Context, q store.Queries, caller cluster.Caller, name string) (*store.Schedule, error) {
	sc, err := q.GetSchedule(ctx, name)
	if err == nil && !caller.CanSee(sc.Owner) {
		err = store.ErrNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no schedule named %q (see `stratus schedule list`): %w", name, store.ErrNotFound)
	}
	return sc, err
}

// Get returns one schedule with its workers.
func (s *Service) Get(ctx context.Context, caller cluster.Caller, name string) (api.Schedule, error) {
	sc, err := s.get(ctx, s.Store, caller, name)
	if err != nil {
		return api.Schedule{}, err
	}
	runs, err := s.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: name})
	if err != nil {
		return api.Schedule{}, err
	}
	return s.view(ctx, sc, runs, true)
}

// List returns the schedules the caller may see.
func (s *Service) List(ctx context.Context, caller cluster.Caller) ([]api.Schedule, error) {
	scs, err := s.Store.ListSchedules(ctx)
	if err != nil {
		return nil, err
	}
	out := []api.Schedule{}
	for _, sc := range scs {
		if !caller.CanSee(sc.Owner) {
			continue
		}
		runs, err := s.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: sc.Name})
		if err != nil {
			return nil, err
		}
		v, err := s.view(ctx, sc, runs, false)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Delete deletes a schedule and its history. With nothing going it is gone
// at once (State "deleted"); otherwise it is marked deleting, the run going
// is cut short and its worker stopped, and the controller removes it.
func (s *Service) Delete(ctx context.Context, caller cluster.Caller, name string) (api.Schedule, error) {
	var sc *store.Schedule
	deleted := false
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		var err error
		if sc, err = s.get(ctx, q, caller, name); err != nil {
			return err
		}
		unended, err := q.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: name, Unended: true})
		if err != nil {
			return err
		}
		if len(unended) == 0 {
			deleted = true
			return q.DeleteSchedule(ctx, name)
		}
		if !sc.Deleting {
			sc.Deleting = true
			return q.UpdateSchedule(ctx, sc)
		}
		return nil
	})
	if err != nil {
		return api.Schedule{}, err
	}
	s.Logger.Info("schedule deletion requested", "schedule", name, "by", caller.User, "deleted", deleted)
	s.wake()
	v, err := s.view(ctx, sc, nil, false)
	if deleted {
		v.State = "deleted"
	}
	return v, err
}

// RunNow asks for a run of the schedule now: a pending run that the
// controller starts on its next pass. store.ErrConflict if a run is going.
func (s *Service) RunNow(ctx context.Context, caller cluster.Caller, name string) (api.ScheduleRun, error) {
	var run *store.ScheduleRun
	err := s.Store.WithTx(ctx, func(q store.Queries) error {
		sc, err := s.get(ctx, q, caller, name)
		if err != nil {
			return err
		}
		if sc.Deleting {
			return fmt.Errorf("schedule %q is being deleted: %w", name, store.ErrConflict)
		}
		unended, err := q.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: name, Unended: true})
		if err != nil {
			return err
		}
		for _, r := range unended {
			if r.State.Busy() {
				return fmt.Errorf("run %d of schedule %q is still %s; wait for it (stratus schedule wait %s) before starting another: %w",
					r.Number, name, r.State, name, store.ErrConflict)
			}
		}
		run = &store.ScheduleRun{Schedule: name, Trigger: store.TriggerManual, State: store.RunPending, ExitCode: -1}
		return q.CreateScheduleRun(ctx, run)
	})
	if err != nil {
		return api.ScheduleRun{}, err
	}
	s.Logger.Info("schedule run requested", "schedule", name, "run", run.Number, "by", caller.User)
	s.wake()
	return s.runView(ctx, run), nil
}

// Runs returns a schedule's runs and recorded ticks, oldest first.
func (s *Service) Runs(ctx context.Context, caller cluster.Caller, name string) ([]api.ScheduleRun, error) {
	if _, err := s.get(ctx, s.Store, caller, name); err != nil {
		return nil, err
	}
	runs, err := s.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: name})
	if err != nil {
		return nil, err
	}
	out := []api.ScheduleRun{}
	for _, r := range runs {
		out = append(out, s.runView(ctx, r))
	}
	return out, nil
}

// run returns run number of a schedule; number 0 is the latest that ran
// (neither skipped nor missed).
func (s *Service) run(ctx context.Context, caller cluster.Caller, name string, number int) (*store.ScheduleRun, error) {
	if _, err := s.get(ctx, s.Store, caller, name); err != nil {
		return nil, err
	}
	if number > 0 {
		r, err := s.Store.GetScheduleRun(ctx, name, number)
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("schedule %q has no run %d (see `stratus schedule runs %s`): %w", name, number, name, store.ErrNotFound)
		}
		return r, err
	}
	runs, err := s.Store.ListScheduleRuns(ctx, store.ScheduleRunFilter{Schedule: name})
	if err != nil {
		return nil, err
	}
	if r := lastRan(runs); r != nil {
		return r, nil
	}
	return nil, fmt.Errorf("schedule %q has not run yet: %w", name, store.ErrNotFound)
}

// Run returns run number of a schedule (0: the latest that ran).
func (s *Service) Run(ctx context.Context, caller cluster.Caller, name string, number int) (api.ScheduleRun, error) {
	r, err := s.run(ctx, caller, name, number)
	if err != nil {
		return api.ScheduleRun{}, err
	}
	return s.runView(ctx, r), nil
}

// Output returns the output kept of run number of a schedule (0: the
// latest that ran).
func (s *Service) Output(ctx context.Context, caller cluster.Caller, name string, number int) (api.ScheduleRunOutput, error) {
	r, err := s.run(ctx, caller, name, number)
	if err != nil {
		return api.ScheduleRunOutput{}, err
	}
	out, err := s.Store.ScheduleRunOutput(ctx, r.ID)
	if err != nil {
		return api.ScheduleRunOutput{}, err
	}
	return api.ScheduleRunOutput{Run: s.runView(ctx, r), Output: out}, nil
}

// lastRan returns the latest run that ran, or nil.
func lastRan(runs []*store.ScheduleRun) *store.ScheduleRun {
	for i := len(runs) - 1; i >= 0; i-- {
		if st := runs[i].State; st != store.RunSkipped && st != store.RunMissed {
			return runs[i]
		}
	}
	return nil
}

func (s *Service) view(ctx context.Context, sc *store.Schedule, runs []*store.ScheduleRun, workers bool) (api.Schedule, error) {
	out := api.Schedule{
		Name: sc.Name, Owner: sc.Owner, Cron: sc.Cron, Timezone: sc.Timezone, Regions: sc.Regions, Rotate: sc.Rotate,
		Argv: sc.Argv, MaxRuntime: sc.MaxRuntime.String(), State: "active", CreatedAt: sc.CreatedAt.UTC(),
	}
	if out.Regions == nil {
		out.Regions = []string{}
	}
	out.NextRegion, _ = RegionFor(sc.Regions, sc.NextRegion)
	if loc, err := ParseTimezone(sc.Timezone); err == nil {
		if c, err := ParseCron(sc.Cron, loc); err == nil {
			from := s.Clock.Now()
			if since := since(sc); since.After(from) {
				from = since
			}
			if next := c.Next(from); !next.IsZero() {
				next = next.In(loc)
				out.NextTick = &next
			}
		}
	}
	for _, r := range runs {
		if r.State.Busy() {
			out.State = "running"
		}
	}
	if sc.Deleting {
		out.State = "deleting"
	}
	if r := lastRan(runs); r != nil {
		v := s.runView(ctx, r)
		out.LastRun = &v
	}
	if workers {
		out.Workers = []api.Worker{}
		for _, region := range sc.Regions {
			nodes, err := s.Store.ListNodes(ctx, store.NodeFilter{Role: store.RoleWorker, Region: region})
			if err != nil {
				return api.Schedule{}, err
			}
			for _, n := range nodes {
				if n.Cluster != "" || n.Terminate {
					continue
				}
				state := n.InstanceState
				if state == "" {
					state = "not launched"
				}
				out.Workers = append(out.Workers, api.Worker{Region: region, Node: n.ID, ID: n.InstanceID, Type: n.Type, State: state})
			}
		}
	}
	return out, nil
}

// since is the latest tick a schedule has dealt with, or its creation.
func since(sc *store.Schedule) time.Time {
	if sc.LastTick.After(sc.CreatedAt) {
		return sc.LastTick
	}
	return sc.CreatedAt
}

func ptime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Service) runView(ctx context.Context, r *store.ScheduleRun) api.ScheduleRun {
	out := api.ScheduleRun{
		Schedule: r.Schedule, Number: r.Number, Trigger: r.Trigger, Tick: ptime(r.Tick), State: string(r.State),
		Reason: r.Reason, Region: r.Region, Node: r.Node, InstanceID: r.InstanceID,
		StartedAt: ptime(r.StartedAt), CommandStartedAt: ptime(r.CommandStartedAt), EndedAt: ptime(r.EndedAt),
		Cost: cost.Micros(r.CostMicros).String(), OutputBytes: r.OutputBytes, OutputTruncated: r.OutputTruncated,
	}
	if r.ExitCode >= 0 && !r.State.Busy() {
		code := r.ExitCode
		out.ExitCode = &code
	}
	if r.EndedAt.IsZero() && !r.StartedAt.IsZero() && r.InstanceID != "" {
		// Still going: what its worker has cost so far.
		if m, err := RunCost(ctx, s.Store, r, s.Clock.Now(), s.Billing, s.StorageMicros); err == nil {
			out.Cost = m.String()
		}
	}
	return out
}

// RunCost is what a run's worker cost over the run's window, from its
// start until until: the worker instance's usage periods, charged by the
// billing model, within the window.
func RunCost(ctx context.Context, st store.Queries, r *store.ScheduleRun, until time.Time, b cost.Billing, storage cost.Micros) (cost.Micros, error) {
	if r.InstanceID == "" || r.StartedAt.IsZero() || until.Before(r.StartedAt) {
		return 0, nil
	}
	periods, err := st.ListUsage(ctx, store.UsageFilter{InstanceID: r.InstanceID})
	if err != nil {
		return 0, err
	}
	var total cost.Micros
	for _, u := range periods {
		total += cost.PeriodOf(u).Between(r.StartedAt, until, b, storage).Cost
	}
	return total, nil
}

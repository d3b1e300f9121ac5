package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// CreateScheduleRequest asks for a new schedule: at each tick of Cron (read
// in Timezone), start a region's worker, run Argv on it and stop it again.
// Give Region, or Rotate to take several regions in turn, one per run.
type CreateScheduleRequest struct {
	Name string `json:"name"`
	// Cron is a five-field cron expression ("30 0,6,12,18 * * *") or a
	// descriptor (@hourly, @daily, @weekly, @monthly).
	Cron string `json:"cron"`
	// Timezone is an IANA time zone name; empty means UTC.
	Timezone string   `json:"timezone,omitempty"`
	Region   string   `json:"region,omitempty"`
	Rotate   []string `json:"rotate,omitempty"`
	// MaxRuntime is a Go duration ("30m"); empty means 1h. The command is
	// killed when it runs longer.
	MaxRuntime string   `json:"max_runtime,omitempty"`
	Argv       []string `json:"argv"`
}

// Schedule is a schedule as the API shows it.
type Schedule struct {
	Name     string `json:"name" yaml:"name"`
	Owner    string `json:"owner" yaml:"owner"`
	Cron     string `json:"cron" yaml:"cron"`
	Timezone string `json:"timezone" yaml:"timezone"`
	// Regions are the regions runs go to, in turn; Rotate is set when
	// they were given as a rotation.
	Regions    []string `json:"regions" yaml:"regions"`
	Rotate     bool     `json:"rotate" yaml:"rotate"`
	Argv       []string `json:"argv" yaml:"argv"`
	MaxRuntime string   `json:"max_runtime" yaml:"max_runtime"`
	// State is active, running (a run is going) or deleting.
	State     string    `json:"state" yaml:"state"`
	CreatedAt time.Time `json:"created_at" yaml:"created_at"`
	// NextTick is the next tick, and NextRegion where its run will go.
	NextTick   *time.Time `json:"next_tick,omitempty" yaml:"next_tick,omitempty"`
	NextRegion string     `json:"next_region" yaml:"next_region"`
	// LastRun is the latest run that ran (not skipped or missed).
	LastRun *ScheduleRun `json:"last_run,omitempty" yaml:"last_run,omitempty"`
	// Workers are the regions' worker instances (show only).
	Workers []Worker `json:"workers,omitempty" yaml:"workers,omitempty"`
}

// Worker is a region's instance that schedules start, run a command on and
// stop.
type Worker struct {
	Region string `json:"region" yaml:"region"`
	Node   string `json:"node" yaml:"node"`
	// ID is the provider's instance id; empty until it is launched.
	ID    string `json:"id" yaml:"id"`
	Type  string `json:"type" yaml:"type"`
	State string `json:"state" yaml:"state"`
}

// ScheduleRun is one run of a schedule, or one tick that did not run.
type ScheduleRun struct {
	Schedule string `json:"schedule" yaml:"schedule"`
	// Number counts the schedule's runs and recorded ticks: 1, 2, 3, ...
	Number int `json:"number" yaml:"number"`
	// Trigger is tick, catch-up (the one run made for ticks missed while
	// the control plane was down) or manual (schedule run).
	Trigger string     `json:"trigger" yaml:"trigger"`
	Tick    *time.Time `json:"tick,omitempty" yaml:"tick,omitempty"`
	// State is pending, running, succeeded, failed, timed_out (killed at
	// the maximum run time), cancelled (the schedule was deleted),
	// skipped (a run was going) or missed (the control plane was down).
	State      string `json:"state" yaml:"state"`
	Reason     string `json:"reason,omitempty" yaml:"reason,omitempty"`
	Region     string `json:"region,omitempty" yaml:"region,omitempty"`
	Node       string `json:"node,omitempty" yaml:"node,omitempty"`
	InstanceID string `json:"instance_id,omitempty" yaml:"instance_id,omitempty"`
	// StartedAt is when the run began (its worker was started);
	// CommandStartedAt when the worker's agent took the command; EndedAt
	// when the run was over and its worker stopped.
	StartedAt        *time.Time `json:"started_at,omitempty" yaml:"started_at,omitempty"`
	CommandStartedAt *time.Time `json:"command_started_at,omitempty" yaml:"command_started_at,omitempty"`
	EndedAt          *time.Time `json:"ended_at,omitempty" yaml:"ended_at,omitempty"`
	ExitCode         *int       `json:"exit_code,omitempty" yaml:"exit_code,omitempty"`
	// Cost is what the worker cost over the run, in dollars as an exact
	// decimal string.
	Cost            string `json:"cost" yaml:"cost"`
	OutputBytes     int64  `json:"output_bytes" yaml:"output_bytes"`
	OutputTruncated bool   `json:"output_truncated" yaml:"output_truncated"`
}

// ScheduleRunOutput is a run's output (stdout and stderr as they came).
type ScheduleRunOutput struct {
	Run    ScheduleRun `json:"run"`
	Output []byte      `json:"output"`
}

func schedulePath(name string) string { return "/v1/schedules/" + url.PathEscape(name) }

// runRef is a run number, or "latest" for 0.
func runRef(number int) string {
	if number <= 0 {
		return "latest"
	}
	return strconv.Itoa(number)
}

// CreateSchedule creates a schedule.
func (c *Client) CreateSchedule(ctx context.Context, req CreateScheduleRequest) (Schedule, error) {
	var out Schedule
	err := c.do(ctx, http.MethodPost, "/v1/schedules", req, &out)
	return out, err
}

// ListSchedules lists the schedules the caller may see.
func (c *Client) ListSchedules(ctx context.Context) ([]Schedule, error) {
	var out []Schedule
	err := c.do(ctx, http.MethodGet, "/v1/schedules", nil, &out)
	return out, err
}

// GetSchedule returns one schedule with its workers.
func (c *Client) GetSchedule(ctx context.Context, name string) (Schedule, error) {
	var out Schedule
	err := c.do(ctx, http.MethodGet, schedulePath(name), nil, &out)
	return out, err
}

// DeleteSchedule deletes a schedule and its history. A run going is cut
// short and its worker stopped first; the schedule is gone once
// GetSchedule returns not found.
func (c *Client) DeleteSchedule(ctx context.Context, name string) (Schedule, error) {
	var out Schedule
	err := c.do(ctx, http.MethodDelete, schedulePath(name), nil, &out)
	return out, err
}

// RunSchedule asks for a run now; the run returned is pending.
func (c *Client) RunSchedule(ctx context.Context, name string) (ScheduleRun, error) {
	var out ScheduleRun
	err := c.do(ctx, http.MethodPost, schedulePath(name)+"/run", struct{}{}, &out)
	return out, err
}

// ListScheduleRuns returns a schedule's runs and recorded ticks, oldest first.
func (c *Client) ListScheduleRuns(ctx context.Context, name string) ([]ScheduleRun, error) {
	var out []ScheduleRun
	err := c.do(ctx, http.MethodGet, schedulePath(name)+"/runs", nil, &out)
	return out, err
}

// GetScheduleRun returns run number of a schedule (0: the latest that ran).
func (c *Client) GetScheduleRun(ctx context.Context, name string, number int) (ScheduleRun, error) {
	var out ScheduleRun
	err := c.do(ctx, http.MethodGet, schedulePath(name)+"/runs/"+runRef(number), nil, &out)
	return out, err
}

// ScheduleRunOutput returns the output of run number of a schedule (0: the
// latest that ran).
func (c *Client) ScheduleRunOutput(ctx context.Context, name string, number int) (ScheduleRunOutput, error) {
	var out ScheduleRunOutput
	err := c.do(ctx, http.MethodGet, schedulePath(name)+"/runs/"+runRef(number)+"/output", nil, &out)
	return out, err
}

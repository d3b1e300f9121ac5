package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateSchedule inserts s; see store.SchedulesQueries.
func (s *Store) CreateSchedule(ctx context.Context, sc *store.Schedule) error {
	return writeCopy(ctx, s, sc, (*queries).CreateSchedule)
}

// GetSchedule returns the named schedule; store.ErrNotFound if absent.
func (s *Store) GetSchedule(ctx context.Context, name string) (*store.Schedule, error) {
	return s.read().GetSchedule(ctx, name)
}

// ListSchedules returns every schedule ordered by name.
func (s *Store) ListSchedules(ctx context.Context) ([]*store.Schedule, error) {
	return s.read().ListSchedules(ctx)
}

// UpdateSchedule writes sc if its Version is current; see store.SchedulesQueries.
func (s *Store) UpdateSchedule(ctx context.Context, sc *store.Schedule) error {
	return writeCopy(ctx, s, sc, (*queries).UpdateSchedule)
}

// DeleteSchedule removes the schedule and its runs; store.ErrNotFound if absent.
func (s *Store) DeleteSchedule(ctx context.Context, name string) error {
	return s.write(ctx, func(q *queries) error { return q.DeleteSchedule(ctx, name) })
}

// CreateScheduleRun inserts r, assigning its ID and Number.
func (s *Store) CreateScheduleRun(ctx context.Context, r *store.ScheduleRun) error {
	return writeCopy(ctx, s, r, (*queries).CreateScheduleRun)
}

// GetScheduleRun returns one run of a schedule; store.ErrNotFound if absent.
func (s *Store) GetScheduleRun(ctx context.Context, schedule string, number int) (*store.ScheduleRun, error) {
	return s.read().GetScheduleRun(ctx, schedule, number)
}

// ListScheduleRuns returns matching runs in ID order.
func (s *Store) ListScheduleRuns(ctx context.Context, f store.ScheduleRunFilter) ([]*store.ScheduleRun, error) {
	return s.read().ListScheduleRuns(ctx, f)
}

// UpdateScheduleRun writes r if its Version is current.
func (s *Store) UpdateScheduleRun(ctx context.Context, r *store.ScheduleRun) error {
	return writeCopy(ctx, s, r, (*queries).UpdateScheduleRun)
}

// SetScheduleRunOutput replaces a run's output.
func (s *Store) SetScheduleRunOutput(ctx context.Context, id int64, output []byte) error {
	return s.write(ctx, func(q *queries) error { return q.SetScheduleRunOutput(ctx, id, output) })
}

// ScheduleRunOutput returns a run's output.
func (s *Store) ScheduleRunOutput(ctx context.Context, id int64) ([]byte, error) {
	return s.read().ScheduleRunOutput(ctx, id)
}

// scheduleMutable are the schedule columns an update writes, in
// scheduleArgs order: all but name, created_at and version.
var scheduleMutable = []string{
	"owner", "cron", "timezone", "regions", "rotate", "next_region", "argv", "max_runtime", "last_tick", "deleting",
}

var (
	scheduleSelect = `SELECT name, created_at, version, ` + strings.Join(scheduleMutable, ", ") + ` FROM schedules`
	scheduleInsert = `INSERT INTO schedules (name, created_at, version, ` + strings.Join(scheduleMutable, ", ") +
		`) VALUES (?, ?, 1, ` + placeholders(len(scheduleMutable)) + `)`
	scheduleUpdate = `UPDATE schedules SET ` + strings.Join(scheduleMutable, " = ?, ") + ` = ?, version = version + 1
		WHERE name = ? AND version = ?`
)

// placeholders returns n comma-separated question marks.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func scheduleArgs(sc *store.Schedule) ([]any, error) {
	regions, err := stringsJSON("Regions", sc.Regions)
	if err != nil {
		return nil, err
	}
	argv, err := stringsJSON("Argv", sc.Argv)
	if err != nil {
		return nil, err
	}
	var ta timeArgs
	args := []any{
		sc.Owner, sc.Cron, sc.Timezone, regions, sc.Rotate, sc.NextRegion, argv, int64(sc.MaxRuntime),
		ta.arg("LastTick", sc.LastTick), sc.Deleting,
	}
	return args, ta.err
}

func scanSchedule(sc scanner) (*store.Schedule, error) {
	var (
		s                 store.Schedule
		created, lastTick sql.NullInt64
		regions, argv     string
		maxRuntime        int64
	)
	err := sc.Scan(&s.Name, &created, &s.Version,
		&s.Owner, &s.Cron, &s.Timezone, &regions, &s.Rotate, &s.NextRegion, &argv, &maxRuntime, &lastTick, &s.Deleting)
	if err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastTick = timeOf(created), timeOf(lastTick)
	s.MaxRuntime = time.Duration(maxRuntime)
	if s.Regions, err = stringsOf("regions", regions); err != nil {
		return nil, err
	}
	if s.Argv, err = stringsOf("argv", argv); err != nil {
		return nil, err
	}
	return &s, nil
}

func (q *queries) CreateSchedule(ctx context.Context, sc *store.Schedule) error {
	if sc.Name == "" {
		return errors.New("create schedule: empty name")
	}
	args, err := scheduleArgs(sc)
	if err != nil {
		return fmt.Errorf("create schedule %q: %w", sc.Name, err)
	}
	created := q.orStamp(sc.CreatedAt)
	var ta timeArgs
	args = append([]any{sc.Name, ta.arg("CreatedAt", created)}, args...)
	if ta.err != nil {
		return fmt.Errorf("create schedule %q: %w", sc.Name, ta.err)
	}
	_, err = q.db.ExecContext(ctx, scheduleInsert, args...)
	if isUniqueViolation(err) {
		return fmt.Errorf("schedule %q exists: %w", sc.Name, store.ErrConflict)
	}
	if err != nil {
		return fmt.Errorf("create schedule %q: %w", sc.Name, err)
	}
	sc.CreatedAt, sc.Version = created, 1
	return nil
}

func (q *queries) GetSchedule(ctx context.Context, name string) (*store.Schedule, error) {
	return queryOne(ctx, q, fmt.Sprintf("schedule %q", name), scanSchedule, scheduleSelect+` WHERE name = ?`, name)
}

func (q *queries) ListSchedules(ctx context.Context) ([]*store.Schedule, error) {
	rows, err := q.db.QueryContext(ctx, scheduleSelect+` ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	defer rows.Close()
	var out []*store.Schedule
	for rows.Next() {
		sc, err := scanSchedule(rows)
		if err != nil {
			return nil, fmt.Errorf("list schedules: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schedules: %w", err)
	}
	return out, nil
}

func (q *queries) UpdateSchedule(ctx context.Context, sc *store.Schedule) error {
	args, err := scheduleArgs(sc)
	if err != nil {
		return fmt.Errorf("update schedule %q: %w", sc.Name, err)
	}
	n, err := q.execCount(ctx, fmt.Sprintf("update schedule %q", sc.Name), scheduleUpdate, append(args, sc.Name, sc.Version)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return q.missingOrConflict(ctx, "schedule", `SELECT version FROM schedules WHERE name = ?`, sc.Name, sc.Version)
	}
	sc.Version++
	return nil
}

func (q *queries) DeleteSchedule(ctx context.Context, name string) error {
	n, err := q.execCount(ctx, fmt.Sprintf("delete schedule %q", name), `DELETE FROM schedules WHERE name = ?`, name)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("schedule %q: %w", name, store.ErrNotFound)
	}
	if _, err := q.db.ExecContext(ctx, `DELETE FROM schedule_runs WHERE schedule = ?`, name); err != nil {
		return fmt.Errorf("delete runs of schedule %q: %w", name, err)
	}
	return nil
}

// runMutable are the run columns an update writes, in runArgs order: all
// but id, schedule, number, output and version.
var runMutable = []string{
	"trigger_kind", "tick", "state", "reason", "region", "node", "instance_id", "started_at",
	"command_started_at", "ended_at", "exit_code", "cost_micros", "output_bytes", "output_truncated",
}

var (
	runSelect = `SELECT id, schedule, number, version, ` + strings.Join(runMutable, ", ") + ` FROM schedule_runs`
	runInsert = `INSERT INTO schedule_runs (schedule, number, version, ` + strings.Join(runMutable, ", ") +
		`) VALUES (?, ?, 1, ` + placeholders(len(runMutable)) + `)`
	runUpdate = `UPDATE schedule_runs SET ` + strings.Join(runMutable, " = ?, ") + ` = ?, version = version + 1
		WHERE id = ? AND version = ?`
)

func runArgs(r *store.ScheduleRun) ([]any, error) {
	var ta timeArgs
	args := []any{
		r.Trigger, ta.arg("Tick", r.Tick), string(r.State), r.Reason, r.Region, r.Node, r.InstanceID,
		ta.arg("StartedAt", r.StartedAt), ta.arg("CommandStartedAt", r.CommandStartedAt), ta.arg("EndedAt", r.EndedAt),
		r.ExitCode, r.CostMicros, r.OutputBytes, r.OutputTruncated,
	}
	return args, ta.err
}

func scanRun(sc scanner) (*store.ScheduleRun, error) {
	var (
		r                                    store.ScheduleRun
		tick, started, commandStarted, ended sql.NullInt64
	)
	err := sc.Scan(&r.ID, &r.Schedule, &r.Number, &r.Version,
		&r.Trigger, &tick, &r.State, &r.Reason, &r.Region, &r.Node, &r.InstanceID, &started,
		&commandStarted, &ended, &r.ExitCode, &r.CostMicros, &r.OutputBytes, &r.OutputTruncated)
	if err != nil {
		return nil, err
	}
	r.Tick, r.StartedAt, r.CommandStartedAt, r.EndedAt = timeOf(tick), timeOf(started), timeOf(commandStarted), timeOf(ended)
	return &r, nil
}

func (q *queries) CreateScheduleRun(ctx context.Context, r *store.ScheduleRun) error {
	if r.Schedule == "" {
		return errors.New("create schedule run: empty schedule name")
	}
	args, err := runArgs(r)
	if err != nil {
		return fmt.Errorf("create run of schedule %q: %w", r.Schedule, err)
	}
	var number int
	if err := q.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(number), 0) + 1 FROM schedule_runs WHERE schedule = ?`,
		r.Schedule).Scan(&number); err != nil {
		return fmt.Errorf("create run of schedule %q: %w", r.Schedule, err)
	}
	res, err := q.db.ExecContext(ctx, runInsert, append([]any{r.Schedule, number}, args...)...)
	if err != nil {
		return fmt.Errorf("create run of schedule %q: %w", r.Schedule, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create run of schedule %q: %w", r.Schedule, err)
	}
	r.ID, r.Number, r.Version = id, number, 1
	return nil
}

func (q *queries) GetScheduleRun(ctx context.Context, schedule string, number int) (*store.ScheduleRun, error) {
	return queryOne(ctx, q, fmt.Sprintf("run %d of schedule %q", number, schedule), scanRun, runSelect+` WHERE schedule = ? AND number = ?`, schedule, number)
}

func (q *queries) ListScheduleRuns(ctx context.Context, f store.ScheduleRunFilter) ([]*store.ScheduleRun, error) {
	var (
		where []string
		args  []any
	)
	if f.Schedule != "" {
		where = append(where, `schedule = ?`)
		args = append(args, f.Schedule)
	}
	if f.Unended {
		where = append(where, `ended_at IS NULL`)
	}
	query := runSelect
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id`
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list schedule runs: %w", err)
	}
	defer rows.Close()
	var out []*store.ScheduleRun
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, fmt.Errorf("list schedule runs: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list schedule runs: %w", err)
	}
	return out, nil
}

// UpdateScheduleRun writes every field but ID, Schedule and Number (fixed
// at creation); the output is written by SetScheduleRunOutput.
func (q *queries) UpdateScheduleRun(ctx context.Context, r *store.ScheduleRun) error {
	args, err := runArgs(r)
	if err != nil {
		return fmt.Errorf("update schedule run %d: %w", r.ID, err)
	}
	n, err := q.execCount(ctx, fmt.Sprintf("update schedule run %d", r.ID), runUpdate, append(args, r.ID, r.Version)...)
	if err != nil {
		return err
	}
	if n == 0 {
		return q.staleRow(ctx, fmt.Sprintf("schedule run %d", r.ID), `SELECT version FROM schedule_runs WHERE id = ?`, r.ID, r.Version)
	}
	r.Version++
	return nil
}

func (q *queries) SetScheduleRunOutput(ctx context.Context, id int64, output []byte) error {
	if output == nil {
		output = []byte{}
	}
	n, err := q.execCount(ctx, fmt.Sprintf("set output of schedule run %d", id), `UPDATE schedule_runs SET output = ? WHERE id = ?`, output, id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("schedule run %d: %w", id, store.ErrNotFound)
	}
	return nil
}

func (q *queries) ScheduleRunOutput(ctx context.Context, id int64) ([]byte, error) {
	var out []byte
	err := q.db.QueryRowContext(ctx, `SELECT output FROM schedule_runs WHERE id = ?`, id).Scan(&out)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("schedule run %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("output of schedule run %d: %w", id, err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stratus-cloud/stratus/internal/store"
)

// CreateJob inserts j, assigning j.ID; see store.JobQueries. A zero
// SubmittedAt is set to the current time.
func (s *Store) CreateJob(ctx context.Context, j *store.Job) error {
	return writeCopy(ctx, s, j, (*queries).CreateJob)
}

// GetJob returns the job with that id; store.ErrNotFound if absent.
func (s *Store) GetJob(ctx context.Context, id int64) (*store.Job, error) {
	return s.read().GetJob(ctx, id)
}

// ListJobs returns matching jobs in ID order.
func (s *Store) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	return s.read().ListJobs(ctx, f)
}

// UpdateJob writes j if its Version is current; see store.JobQueries.
func (s *Store) UpdateJob(ctx context.Context, j *store.Job) error {
	return writeCopy(ctx, s, j, (*queries).UpdateJob)
}

// jobMutable are the job columns an update writes, in jobArgs order: all
// but id, submitted_at and version.
var jobMutable = []string{
	"cluster", "owner", "name", "argv", "nodes", "time_limit", "state", "reason",
	"started_at", "ended_at", "attempt", "requeues", "assigned", "rank_exit",
	"exit_code", "cancel_requested", "output_bytes", "output_truncated",
}

var (
	jobSelect = `SELECT id, submitted_at, version, ` + strings.Join(jobMutable, ", ") + ` FROM jobs`
	jobInsert = `INSERT INTO jobs (submitted_at, version, ` + strings.Join(jobMutable, ", ") + `) VALUES (?, 1, ` +
		strings.TrimSuffix(strings.Repeat("?, ", len(jobMutable)), ", ") + `)`
	jobUpdate = `UPDATE jobs SET ` + strings.Join(jobMutable, " = ?, ") + ` = ?, version = version + 1
		WHERE id = ? AND version = ?`
)

// Lists are stored as JSON arrays. Argv and Assigned are stored as '[]' when
// nil or empty and read back as nil when empty: the two are equivalent.
// RankExit is stored exactly, nil as 'null' and empty as '[]', and reads back
// the same way.

// stringsJSON encodes a string list; JSON would silently replace invalid
// UTF-8, so it is refused instead.
func stringsJSON(field string, ss []string) (string, error) {
	for i, s := range ss {
		if !utf8.ValidString(s) {
			return "", fmt.Errorf("%s[%d] is not valid UTF-8", field, i)
		}
	}
	if ss == nil {
		ss = []string{}
	}
	b, err := json.Marshal(ss)
	if err != nil {
		return "", fmt.Errorf("%s: %w", field, err)
	}
	return string(b), nil
}

func stringsOf(field, text string) ([]string, error) {
	var ss []string
	if err := json.Unmarshal([]byte(text), &ss); err != nil {
		return nil, fmt.Errorf("stored %s: %w", field, err)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	return ss, nil
}

// jobArgs returns j's values in jobMutable order.
func jobArgs(j *store.Job) ([]any, error) {
	argv, err := stringsJSON("Argv", j.Argv)
	if err != nil {
		return nil, err
	}
	assigned, err := stringsJSON("Assigned", j.Assigned)
	if err != nil {
		return nil, err
	}
	rankExit, err := json.Marshal(j.RankExit) // nil: "null"
	if err != nil {
		return nil, fmt.Errorf("RankExit: %w", err)
	}
	var ta timeArgs
	args := []any{
		j.Cluster, j.Owner, j.Name, argv, j.Nodes, int64(j.TimeLimit), string(j.State), j.Reason,
		ta.arg("StartedAt", j.StartedAt), ta.arg("EndedAt", j.EndedAt), j.Attempt, j.Requeues,
		assigned, string(rankExit), j.ExitCode, j.CancelRequested, j.OutputBytes, j.OutputTruncated,
	}
	return args, ta.err
}

func scanJob(sc scanner) (*store.Job, error) {
	var (
		j                         store.Job
		submitted, started, ended sql.NullInt64
		timeLimit                 int64
		argv, assigned, rankExit  string
	)
	err := sc.Scan(&j.ID, &submitted, &j.Version,
		&j.Cluster, &j.Owner, &j.Name, &argv, &j.Nodes, &timeLimit, &j.State, &j.Reason,
		&started, &ended, &j.Attempt, &j.Requeues, &assigned, &rankExit,
		&j.ExitCode, &j.CancelRequested, &j.OutputBytes, &j.OutputTruncated)
	if err != nil {
		return nil, err
	}
	j.TimeLimit = time.Duration(timeLimit)
	j.SubmittedAt, j.StartedAt, j.EndedAt = timeOf(submitted), timeOf(started), timeOf(ended)
	if j.Argv, err = stringsOf("argv", argv); err != nil {
		return nil, err
	}
	if j.Assigned, err = stringsOf("assigned", assigned); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(rankExit), &j.RankExit); err != nil {
		return nil, fmt.Errorf("stored rank_exit: %w", err)
	}
	return &j, nil
}

func (q *queries) CreateJob(ctx context.Context, j *store.Job) error {
	args, err := jobArgs(j)
	if err != nil {
		return fmt.Errorf("create job %q: %w", j.Name, err)
	}
	submitted := q.orStamp(j.SubmittedAt)
	var ta timeArgs
	args = append([]any{ta.arg("SubmittedAt", submitted)}, args...)
	if ta.err != nil {
		return fmt.Errorf("create job %q: %w", j.Name, ta.err)
	}
	res, err := q.db.ExecContext(ctx, jobInsert, args...)
	if err != nil {
		return fmt.Errorf("create job %q: %w", j.Name, err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("create job %q: %w", j.Name, err)
	}
	j.ID, j.SubmittedAt, j.Version = id, submitted, 1
	return nil
}

func (q *queries) GetJob(ctx context.Context, id int64) (*store.Job, error) {
	return queryOne(ctx, q, fmt.Sprintf("job %d", id), scanJob, jobSelect+` WHERE id = ?`, id)
}

func (q *queries) ListJobs(ctx context.Context, f store.JobFilter) ([]*store.Job, error) {
	var (
		where []string
		args  []any
	)
	if f.Cluster != "" {
		where = append(where, `cluster = ?`)
		args = append(args, f.Cluster)
	}
	if f.Owner != "" {
		where = append(where, `owner = ?`)
		args = append(args, f.Owner)
	}
	if len(f.States) > 0 {
		where = append(where, `state IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(f.States)), ", ")+`)`)
		for _, st := range f.States {
			args = append(args, string(st))
		}
	}
	query := jobSelect
	if len(where) > 0 {
		query += ` WHERE ` + strings.Join(where, " AND ")
	}
	query += ` ORDER BY id`
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	defer rows.Close()
	var js []*store.Job
	for rows.Next() {
		j, err := scanJob(rows)
		if err != nil {
			return nil, fmt.Errorf("list jobs: %w", err)
		}
		js = append(js, j)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list jobs: %w", err)
	}
	return js, nil
}

// UpdateJob writes every field but ID and SubmittedAt (fixed at creation).
func (q *queries) UpdateJob(ctx context.Context, j *store.Job) error {
	args, err := jobArgs(j)
	if err != nil {
		return fmt.Errorf("update job %d: %w", j.ID, err)
	}
	args = append(args, j.ID, j.Version)
	rows, err := q.execCount(ctx, fmt.Sprintf("update job %d", j.ID), jobUpdate, args...)
	if err != nil {
		return err
	}
	if rows == 0 {
		return q.staleRow(ctx, fmt.Sprintf("job %d", j.ID), `SELECT version FROM jobs WHERE id = ?`, j.ID, j.Version)
	}
	j.Version++
	return nil
}

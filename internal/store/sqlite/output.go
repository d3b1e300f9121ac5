package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/stratus-cloud/stratus/internal/store"
)

// AppendJobOutput stores c, assigning c.Seq (and its Time, if zero).
func (s *Store) AppendJobOutput(ctx context.Context, c *store.OutputChunk) error {
	return writeCopy(ctx, s, c, (*queries).AppendJobOutput)
}

// ListJobOutput returns a job's chunks with Seq > after, in Seq order, at
// most limit of them (0: all).
func (s *Store) ListJobOutput(ctx context.Context, job int64, after int64, limit int) ([]*store.OutputChunk, error) {
	return s.read().ListJobOutput(ctx, job, after, limit)
}

// AppendJobOutput: Seq is one sequence across all jobs, so a job's Seqs
// increase but are not consecutive. The job need not exist (no reference is
// enforced). Nil Data is stored as empty.
func (q *queries) AppendJobOutput(ctx context.Context, c *store.OutputChunk) error {
	at := q.orStamp(c.Time)
	var ta timeArgs
	atArg := ta.arg("Time", at)
	if ta.err != nil {
		return fmt.Errorf("append output of job %d: %w", c.Job, ta.err)
	}
	data := c.Data
	if data == nil {
		data = []byte{} // NOT NULL
	}
	res, err := q.db.ExecContext(ctx,
		`INSERT INTO job_output (job, attempt, rank, stream, data, time) VALUES (?, ?, ?, ?, ?, ?)`,
		c.Job, c.Attempt, c.Rank, c.Stream, data, atArg)
	if err != nil {
		return fmt.Errorf("append output of job %d: %w", c.Job, err)
	}
	seq, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("append output of job %d: %w", c.Job, err)
	}
	c.Seq, c.Time = seq, at
	return nil
}

func (q *queries) ListJobOutput(ctx context.Context, job int64, after int64, limit int) ([]*store.OutputChunk, error) {
	if limit < 0 {
		return nil, fmt.Errorf("list output of job %d: negative limit %d", job, limit)
	}
	query := `SELECT seq, job, attempt, rank, stream, data, time FROM job_output
		WHERE job = ? AND seq > ? ORDER BY seq`
	args := []any{job, after}
	if limit > 0 {
		query += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := q.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list output of job %d: %w", job, err)
	}
	defer rows.Close()
	var cs []*store.OutputChunk
	for rows.Next() {
		var (
			c  store.OutputChunk
			at sql.NullInt64
		)
		// Scanning into *[]byte copies the data out of the driver's buffer.
		if err := rows.Scan(&c.Seq, &c.Job, &c.Attempt, &c.Rank, &c.Stream, &c.Data, &at); err != nil {
			return nil, fmt.Errorf("list output of job %d: %w", job, err)
		}
		c.Time = timeOf(at)
		cs = append(cs, &c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list output of job %d: %w", job, err)
	}
	return cs, nil
}

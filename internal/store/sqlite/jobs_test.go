package sqlite

import (
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stratus-cloud/stratus/internal/store"
)

// A database with only the first migration is brought up to date, keeping
// its data.
func TestOpen_UpgradesFromFirstMigration(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stratus.db")
	first, err := migrationFiles.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dsn(path, nil))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		string(first),
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_migrations VALUES (1, '0001_init.sql', 0)`,
		`INSERT INTO meta VALUES ('installation-id', 'i-1')`,
	} {
		if _, err := db.ExecContext(t.Context(), stmt); err != nil {
			t.Fatalf("set up a version 1 database: %v", err)
		}
	}
	db.Close()

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if v, err := s.GetMeta(t.Context(), "installation-id"); err != nil || v != "i-1" {
		t.Errorf("GetMeta after the upgrade = %q, %v; want %q", v, err, "i-1")
	}
	j := &store.Job{Cluster: "alpha", State: store.JobQueued}
	if err := s.CreateJob(t.Context(), j); err != nil {
		t.Fatalf("CreateJob after the upgrade: %v", err)
	}
	if err := s.AppendJobOutput(t.Context(), &store.OutputChunk{Job: j.ID, Data: []byte("x")}); err != nil {
		t.Fatalf("AppendJobOutput after the upgrade: %v", err)
	}
	if err := s.OpenUsage(t.Context(), &store.Usage{InstanceID: "i-1"}); err != nil {
		t.Fatalf("OpenUsage after the upgrade: %v", err)
	}
}

// Ids are never reused, even after the newest row is deleted (AUTOINCREMENT).
func TestJobs_IDsNotReused(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "stratus.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	ctx := t.Context()
	for _, table := range []string{"jobs", "job_output", "usage"} {
		create := func() int64 {
			t.Helper()
			var id int64
			switch table {
			case "jobs":
				j := &store.Job{}
				if err := s.CreateJob(ctx, j); err != nil {
					t.Fatal(err)
				}
				id = j.ID
			case "job_output":
				c := &store.OutputChunk{Job: 1}
				if err := s.AppendJobOutput(ctx, c); err != nil {
					t.Fatal(err)
				}
				id = c.Seq
			case "usage":
				u := &store.Usage{InstanceID: "i-1"}
				if err := s.OpenUsage(ctx, u); err != nil {
					t.Fatal(err)
				}
				id = u.ID
			}
			return id
		}
		first := create()
		key := map[string]string{"jobs": "id", "job_output": "seq", "usage": "id"}[table]
		if _, err := s.wdb.ExecContext(ctx, `DELETE FROM `+table+` WHERE `+key+` = ?`, first); err != nil {
			t.Fatal(err)
		}
		if second := create(); second <= first {
			t.Errorf("%s: id %d after deleting id %d: an id was reused", table, second, first)
		}
	}
}

// The tables are STRICT: a value of the wrong type is an error.
func TestJobs_TablesAreStrict(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "stratus.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	for _, stmt := range []string{
		`INSERT INTO job_output (job, attempt, rank, stream, data, time) VALUES ('x', 0, 0, '', x'00', 0)`,
		`INSERT INTO usage (instance_id, region, cluster, owner, node, type, spot, price_micros, volume_gb, state, start_at)
			VALUES ('i', '', '', '', '', '', 0, 'cheap', 0, '', 0)`,
		`UPDATE jobs SET time_limit = 'an hour'`,
	} {
		if _, err := s.wdb.ExecContext(t.Context(), `INSERT INTO jobs (cluster, owner, name, argv, nodes, time_limit, state, reason,
			submitted_at, attempt, requeues, assigned, rank_exit, exit_code, cancel_requested, output_bytes, output_truncated, version)
			VALUES ('', '', '', '[]', 0, 0, '', '', 0, 0, 0, '[]', 'null', 0, 0, 0, 0, 1)`); err != nil {
			t.Fatal(err)
		}
		_, err := s.wdb.ExecContext(t.Context(), stmt)
		if err == nil || errors.Is(err, sql.ErrNoRows) {
			t.Errorf("%s: succeeded, want a type error", stmt)
		}
	}
}

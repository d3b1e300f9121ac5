-- 0002: jobs, their output, and usage (billing) periods.
--
-- Conventions as in 0001: times are INTEGER Unix nanoseconds (UTC), NULL is
-- the zero time; booleans are INTEGER 0/1; tables are STRICT. Lists are
-- JSON text. Durations are INTEGER nanoseconds.

-- AUTOINCREMENT: job ids are never reused, even after deletions.
-- jobs.cluster is not a foreign key, as for nodes.
CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    cluster          TEXT NOT NULL,
    owner            TEXT NOT NULL,
    name             TEXT NOT NULL,
    argv             TEXT NOT NULL,   -- JSON array of strings
    nodes            INTEGER NOT NULL,
    time_limit       INTEGER NOT NULL, -- nanoseconds
    state            TEXT NOT NULL,
    reason           TEXT NOT NULL,
    submitted_at     INTEGER NOT NULL,
    started_at       INTEGER,
    ended_at         INTEGER,
    attempt          INTEGER NOT NULL,
    requeues         INTEGER NOT NULL,
    assigned         TEXT NOT NULL,   -- JSON array of node ids
    rank_exit        TEXT NOT NULL,   -- JSON array of ints, or 'null'
    exit_code        INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL,
    output_bytes     INTEGER NOT NULL,
    output_truncated INTEGER NOT NULL,
    version          INTEGER NOT NULL
) STRICT;

CREATE INDEX jobs_by_cluster ON jobs (cluster, id);
CREATE INDEX jobs_by_owner ON jobs (owner, id);
CREATE INDEX jobs_by_state ON jobs (state, id);

-- seq is global and only increases; a job's chunks are read by (job, seq).
-- job is not a foreign key: output may outlive its job record.
CREATE TABLE job_output (
    seq     INTEGER PRIMARY KEY AUTOINCREMENT,
    job     INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    rank    INTEGER NOT NULL,
    stream  TEXT NOT NULL,
    data    BLOB NOT NULL,
    time    INTEGER NOT NULL
) STRICT;

CREATE INDEX job_output_by_job ON job_output (job, seq);

-- One billing period of an instance; end_at is NULL while it is open.
-- ("start" and "end" are spelled start_at and end_at: END is an SQL keyword.)
CREATE TABLE usage (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id  TEXT NOT NULL,
    region       TEXT NOT NULL,
    cluster      TEXT NOT NULL,
    owner        TEXT NOT NULL,
    node         TEXT NOT NULL,
    type         TEXT NOT NULL,
    spot         INTEGER NOT NULL,
    price_micros INTEGER NOT NULL,
    volume_gb    INTEGER NOT NULL,
    state        TEXT NOT NULL,
    start_at     INTEGER NOT NULL,
    end_at       INTEGER
) STRICT;

CREATE INDEX usage_by_cluster ON usage (cluster, start_at, id);
CREATE INDEX usage_by_owner ON usage (owner, start_at, id);
CREATE INDEX usage_by_instance ON usage (instance_id, start_at, id);
CREATE INDEX usage_by_start ON usage (start_at, id);
CREATE INDEX usage_open ON usage (start_at, id) WHERE end_at IS NULL;

-- 0004: schedules and their runs.
--
-- Conventions as in 0001 and 0002: times are INTEGER Unix nanoseconds (UTC),
-- NULL is the zero time; booleans are INTEGER 0/1; tables are STRICT; lists
-- are JSON text; durations are INTEGER nanoseconds.

CREATE TABLE schedules (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    cron        TEXT NOT NULL,
    timezone    TEXT NOT NULL,
    regions     TEXT NOT NULL,    -- JSON array of region names
    rotate      INTEGER NOT NULL,
    next_region INTEGER NOT NULL,
    argv        TEXT NOT NULL,    -- JSON array of strings
    max_runtime INTEGER NOT NULL, -- nanoseconds
    last_tick   INTEGER,
    deleting    INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    version     INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: run ids are never reused. schedule is not a foreign key;
-- DeleteSchedule removes a schedule's runs itself. output is kept apart from
-- the listed columns so that listing runs never reads it.
CREATE TABLE schedule_runs (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule           TEXT NOT NULL,
    number             INTEGER NOT NULL,
    trigger_kind       TEXT NOT NULL,
    tick               INTEGER,
    state              TEXT NOT NULL,
    reason             TEXT NOT NULL,
    region             TEXT NOT NULL,
    node               TEXT NOT NULL,
    instance_id        TEXT NOT NULL,
    started_at         INTEGER,
    command_started_at INTEGER,
    ended_at           INTEGER,
    exit_code          INTEGER NOT NULL,
    cost_micros        INTEGER NOT NULL,
    output_bytes       INTEGER NOT NULL,
    output_truncated   INTEGER NOT NULL,
    output             BLOB,
    version            INTEGER NOT NULL,
    UNIQUE (schedule, number)
) STRICT;

CREATE INDEX schedule_runs_unended ON schedule_runs (id) WHERE ended_at IS NULL;

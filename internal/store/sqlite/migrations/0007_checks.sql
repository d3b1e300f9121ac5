-- 0007: health checks: each check's current state and its results.
--
-- Conventions as in 0001: times are INTEGER Unix nanoseconds (UTC), NULL is
-- the zero time; tables are STRICT. members is a JSON array of
-- store.CheckMember.

CREATE TABLE check_states (
    name       TEXT PRIMARY KEY,
    kind       TEXT NOT NULL,
    state      TEXT NOT NULL,
    since      INTEGER,
    last_probe INTEGER,
    detail     TEXT NOT NULL,
    members    TEXT NOT NULL
) STRICT;

CREATE TABLE check_results (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name TEXT NOT NULL,
    time       INTEGER,
    state      TEXT NOT NULL,
    detail     TEXT NOT NULL,
    members    TEXT NOT NULL
) STRICT;

CREATE INDEX check_results_name ON check_results (check_name, id);

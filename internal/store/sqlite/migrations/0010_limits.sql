-- 0010: the limits controller's records: per cluster, when its lifetime
-- started, when it was first seen running and which warnings and actions
-- were made in its current run; per user and month, the budget warnings.
--
-- Conventions as in 0001: times are INTEGER Unix nanoseconds (UTC), NULL is
-- the zero time; tables are STRICT.

CREATE TABLE cluster_limits (
    cluster          TEXT PRIMARY KEY,
    cluster_created  INTEGER,
    lifetime_from    INTEGER,
    running_since    INTEGER,
    stopped          INTEGER NOT NULL,
    lifetime_warned  INTEGER,
    lifetime_expired INTEGER,
    idle_stopped     INTEGER
) STRICT;

CREATE TABLE budget_marks (
    user  TEXT NOT NULL,
    month TEXT NOT NULL,
    kind  TEXT NOT NULL,
    time  INTEGER,
    PRIMARY KEY (user, month, kind)
) STRICT;

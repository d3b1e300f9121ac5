-- 0005: users and the audit log.
--
-- Conventions as in 0001: times are INTEGER Unix nanoseconds (UTC), NULL is
-- the zero time; booleans are INTEGER 0/1; tables are STRICT.

CREATE TABLE users (
    name       TEXT PRIMARY KEY,
    email      TEXT NOT NULL,
    role       TEXT NOT NULL,
    disabled   INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: audit ids only ever increase.
CREATE TABLE audit (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    time      INTEGER NOT NULL,
    user_name TEXT NOT NULL,
    method    TEXT NOT NULL,
    path      TEXT NOT NULL,
    object    TEXT NOT NULL,
    status    INTEGER NOT NULL
) STRICT;

CREATE INDEX audit_user ON audit (user_name, id);

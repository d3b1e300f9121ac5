-- 0001: the first schema.
--
-- Times are INTEGER Unix nanoseconds (UTC); NULL is the zero time.
-- Booleans are INTEGER 0/1. Tables are STRICT, so a wrong type is an error
-- rather than a silently converted value.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) STRICT;

CREATE TABLE clusters (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    state      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    spec       TEXT NOT NULL,   -- JSON; '' when there is none
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    version    INTEGER NOT NULL
) STRICT;

-- nodes.cluster is deliberately not a foreign key: the store does not decide
-- the order in which controllers remove records.
CREATE TABLE nodes (
    id               TEXT PRIMARY KEY,
    cluster          TEXT NOT NULL,
    role             TEXT NOT NULL,
    region           TEXT NOT NULL,
    type             TEXT NOT NULL,
    spot             INTEGER NOT NULL,
    max_price_micros INTEGER NOT NULL,
    root_volume_gb   INTEGER NOT NULL,
    generation       INTEGER NOT NULL,
    token_hash       TEXT NOT NULL,
    terminate        INTEGER NOT NULL,
    instance_id      TEXT NOT NULL,
    instance_state   TEXT NOT NULL,
    address          TEXT NOT NULL,
    price_micros     INTEGER NOT NULL,
    launched_at      INTEGER,
    registered_at    INTEGER,
    last_heartbeat   INTEGER,
    agent_version    TEXT NOT NULL,
    last_error       TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    version          INTEGER NOT NULL
) STRICT;

CREATE INDEX nodes_by_cluster ON nodes (cluster, created_at, id);
CREATE INDEX nodes_by_creation ON nodes (created_at, id);
-- An agent token identifies one node; nodes without a token yet have ''.
CREATE UNIQUE INDEX nodes_by_token_hash ON nodes (token_hash) WHERE token_hash <> '';

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    user_name  TEXT NOT NULL,
    role       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- AUTOINCREMENT: event ids only ever increase, even after deletions.
CREATE TABLE events (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    time    INTEGER NOT NULL,
    cluster TEXT NOT NULL,
    node    TEXT NOT NULL,
    kind    TEXT NOT NULL,
    message TEXT NOT NULL
) STRICT;

CREATE INDEX events_by_cluster ON events (cluster, id);

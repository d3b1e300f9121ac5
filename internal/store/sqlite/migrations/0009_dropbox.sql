-- 0009: the drop-box: each request object seen, by key and version, and
-- how far it has been carried out.
--
-- Conventions as in 0001: times are INTEGER Unix nanoseconds (UTC), NULL is
-- the zero time; tables are STRICT.

CREATE TABLE dropbox_requests (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL,
    etag       TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    cluster    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    stage      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    seen_at    INTEGER,
    updated_at INTEGER,
    version    INTEGER NOT NULL,
    UNIQUE (key, etag)
) STRICT;

CREATE INDEX dropbox_requests_stage ON dropbox_requests (stage, id);
CREATE INDEX dropbox_requests_cluster ON dropbox_requests (cluster, id);

-- 0008: the notifications outbox: events to tell people about, and their
-- deliveries (one per channel and recipient) with retry state.
--
-- Conventions as in 0001: times are INTEGER Unix nanoseconds (UTC), NULL is
-- the zero time; booleans are INTEGER 0/1; tables are STRICT. payload is
-- the event as JSON.

CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL,
    user_name  TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expanded   INTEGER NOT NULL
) STRICT;

CREATE INDEX notifications_unexpanded ON notifications (expanded, id);

CREATE TABLE notification_deliveries (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    notification INTEGER NOT NULL REFERENCES notifications (id),
    channel      TEXT NOT NULL,
    recipient    TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempts     INTEGER NOT NULL,
    next_attempt INTEGER,
    last_error   TEXT NOT NULL,
    sent_at      INTEGER,
    version      INTEGER NOT NULL,
    UNIQUE (notification, channel, recipient)
) STRICT;

CREATE INDEX notification_deliveries_due ON notification_deliveries (state, next_attempt);

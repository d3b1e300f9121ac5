-- 0011: per-user customisation of clusters, captured from the policy at
-- creation (an api.Customisation as JSON), and which node instances have
-- reported theirs. Both go with their cluster's record.
--
-- Conventions as in 0001: tables are STRICT.

CREATE TABLE cluster_customisations (
    cluster TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    data    TEXT NOT NULL
) STRICT;

CREATE TABLE customisation_reports (
    cluster    TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
    node       TEXT NOT NULL,
    generation INTEGER NOT NULL,
    PRIMARY KEY (node, generation)
) STRICT;

CREATE INDEX customisation_reports_cluster ON customisation_reports (cluster);

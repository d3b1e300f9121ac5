-- 0012: indexes for a cluster's job summary (ClusterJobSummary: the latest
-- submission, the latest end, whether a job is queued or running), asked
-- of every running cluster with an idle_stop on every limits pass.
-- jobs_by_cluster (cluster, id) finds a cluster's jobs but would read each
-- of them; with these, each part of the summary is one index seek.

CREATE INDEX jobs_by_cluster_submitted ON jobs (cluster, submitted_at);
CREATE INDEX jobs_by_cluster_ended ON jobs (cluster, ended_at);
CREATE INDEX jobs_by_cluster_state ON jobs (cluster, state);

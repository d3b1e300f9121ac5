package api

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// SubmitJob queues a job on a cluster.
func (c *Client) SubmitJob(ctx context.Context, cluster string, req SubmitJobRequest) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodPost, "/v1/clusters/"+url.PathEscape(cluster)+"/jobs", req, &out)
	return out, err
}

// ListJobs lists the jobs the caller may see, of one cluster ("" for all).
func (c *Client) ListJobs(ctx context.Context, cluster string) ([]Job, error) {
	var out []Job
	path := "/v1/jobs"
	if cluster != "" {
		path += "?cluster=" + url.QueryEscape(cluster)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	return out, err
}

// GetJob returns one job.
func (c *Client) GetJob(ctx context.Context, id int64) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+strconv.FormatInt(id, 10), nil, &out)
	return out, err
}

// CancelJob cancels a queued or running job.
func (c *Client) CancelJob(ctx context.Context, id int64) (Job, error) {
	var out Job
	err := c.do(ctx, http.MethodPost, "/v1/jobs/"+strconv.FormatInt(id, 10)+"/cancel", struct{}{}, &out)
	return out, err
}

// JobOutput returns a job's output after sequence number after, waiting up
// to wait for more if there is none yet and the job has not ended.
func (c *Client) JobOutput(ctx context.Context, id, after int64, wait time.Duration) (JobOutput, error) {
	var out JobOutput
	q := url.Values{"after": {strconv.FormatInt(after, 10)}}
	if wait > 0 {
		q.Set("wait", wait.String())
	}
	err := c.do(ctx, http.MethodGet, "/v1/jobs/"+strconv.FormatInt(id, 10)+"/output?"+q.Encode(), nil, &out)
	return out, err
}

// CostQuery selects a cost report.
type CostQuery struct {
	// Cluster restricts the report to one cluster.
	Cluster string
	// By groups rows: cluster (default), owner or type.
	By string
	// Since starts the report (zero: from the beginning).
	Since time.Time
}

// Cost returns a cost report.
func (c *Client) Cost(ctx context.Context, q CostQuery) (Cost, error) {
	v := url.Values{}
	if q.Cluster != "" {
		v.Set("cluster", q.Cluster)
	}
	if q.By != "" {
		v.Set("by", q.By)
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	var out Cost
	err := c.do(ctx, http.MethodGet, "/v1/cost?"+v.Encode(), nil, &out)
	return out, err
}

// Agent calls for jobs.

// PollWorkFor waits up to wait for work, telling the control plane which
// job ranks the agent runs.
func (c *Client) PollWorkFor(ctx context.Context, running []JobRef, wait time.Duration) (Work, error) {
	var out Work
	err := c.do(ctx, http.MethodPost, "/v1/agent/work?wait="+url.QueryEscape(wait.String()), PollRequest{Running: running}, &out)
	return out, err
}

// SendJobOutput sends output of one rank.
func (c *Client) SendJobOutput(ctx context.Context, b JobOutputBatch) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/jobs/"+strconv.FormatInt(b.Job, 10)+"/output", b, nil)
}

// SendJobExit reports how one rank ended.
func (c *Client) SendJobExit(ctx context.Context, e JobExit) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/jobs/"+strconv.FormatInt(e.Job, 10)+"/exit", e, nil)
}

// SendNotice reports a spot interruption notice.
func (c *Client) SendNotice(ctx context.Context, n Notice) error {
	return c.do(ctx, http.MethodPost, "/v1/agent/notice", n, nil)
}

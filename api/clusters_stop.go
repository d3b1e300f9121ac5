package api

import (
	"context"
	"net/http"
	"net/url"
)

// StopCluster asks for a running cluster's instances to be stopped (their
// disks are kept); the cluster is stopping, then stopped. Its running jobs
// go back to the queue.
func (c *Client) StopCluster(ctx context.Context, name string) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodPost, "/v1/clusters/"+url.PathEscape(name)+"/stop", nil, &out)
	return out, err
}

// StartCluster asks for a stopped cluster's instances to be started again;
// the cluster is starting, then running once every agent has registered.
func (c *Client) StartCluster(ctx context.Context, name string) (Cluster, error) {
	var out Cluster
	err := c.do(ctx, http.MethodPost, "/v1/clusters/"+url.PathEscape(name)+"/start", nil, &out)
	return out, err
}

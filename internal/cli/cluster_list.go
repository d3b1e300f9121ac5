package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// clusterListOptions are the flags of `stratus cluster list`.
type clusterListOptions struct {
	Output outputFormat
}

func (a *app) newClusterListCmd() *cobra.Command {
	var opts clusterListOptions
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the clusters you may see",
		Args:    exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return withClient(a, cmd, opts, runClusterList)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runClusterList(ctx context.Context, opts clusterListOptions, c *api.Client, e *env) error {
	clusters, err := c.ListClusters(ctx)
	if err != nil {
		return fmt.Errorf("list clusters: %w", err)
	}
	if clusters == nil {
		clusters = []api.Cluster{} // [] rather than null
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, clusters)
	}
	if len(clusters) == 0 {
		fmt.Fprintln(e.stdout, "No clusters. Create one with: stratus cluster create NAME -f FILE")
		return nil
	}
	return writeClusterTable(e.stdout, clusters, e.now())
}

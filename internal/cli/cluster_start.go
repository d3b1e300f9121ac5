package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

func (a *app) newClusterStartCmd() *cobra.Command {
	var opts clusterChangeOptions
	cmd := &cobra.Command{
		Use:   "start NAME",
		Short: "Start a stopped cluster again",
		Long: `Start a stopped cluster: its instances are started again and the cluster is
running once every node's agent has registered; jobs queued while it was
stopped then run. The policy is checked first: a cluster whose owner has
spent their monthly budget cannot be started. With --wait, wait until the
cluster is running (exit 0) or --timeout has passed (exit 8).`,
	}
	return a.clusterChangeCmd(cmd, &opts, "running", nil, func(ctx context.Context, c *api.Client, e *env) error {
		return runClusterPower(ctx, opts, c, e, "start", "running", c.StartCluster, func(cl api.Cluster) string {
			return fmt.Sprintf("Cluster %s is running again; log in at %s.", cl.Name, dash(cl.LoginAddress))
		})
	})
}

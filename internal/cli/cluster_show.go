package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// clusterShowOptions are the arguments and flags of `stratus cluster show`.
type clusterShowOptions struct {
	Name   string
	Output outputFormat
}

func (a *app) newClusterShowCmd() *cobra.Command {
	var opts clusterShowOptions
	cmd := &cobra.Command{
		Use:     "show NAME",
		Aliases: []string{"get"},
		Short:   "Show a cluster, its instances and recent events",
		Args:    exactArgs("NAME"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			return withClient(a, cmd, opts, runClusterShow)
		}),
	}
	addOutputFlag(cmd, &opts.Output)
	return cmd
}

func runClusterShow(ctx context.Context, opts clusterShowOptions, c *api.Client, e *env) error {
	cl, err := c.GetCluster(ctx, opts.Name)
	if err != nil {
		return fmt.Errorf("cluster %s: %w", opts.Name, err)
	}
	if opts.Output != formatTable {
		return writeStructured(e.stdout, opts.Output, cl)
	}
	now := e.now()
	if err := writeClusterSummary(e.stdout, cl, now); err != nil {
		return err
	}

	fmt.Fprintln(e.stdout, "\nInstances:")
	if len(cl.Instances) == 0 {
		fmt.Fprintln(e.stdout, "  none")
	} else {
		tw := newTabWriter(e.stdout)
		fmt.Fprintln(tw, "  ID\tROLE\tTYPE\tSTATE\tADDRESS\tSPOT\tHEALTH")
		for _, in := range cl.Instances {
			spot := "no"
			if in.Spot {
				spot = "yes"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\n",
				dash(in.ID), in.Role, in.Type, dash(in.State), dash(in.Address), spot, dash(in.Health))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		for _, in := range cl.Instances {
			if in.LastError != "" {
				fmt.Fprintf(e.stdout, "  %s (%s): %s\n", dash(in.ID), in.Node, in.LastError)
			}
		}
	}

	if len(cl.Events) > 0 {
		fmt.Fprintln(e.stdout, "\nEvents:")
		tw := newTabWriter(e.stdout)
		fmt.Fprintln(tw, "  AGE\tKIND\tNODE\tMESSAGE")
		for _, ev := range cl.Events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", age(now, ev.Time), ev.Kind, dash(ev.Node), ev.Message)
		}
		return tw.Flush()
	}
	return nil
}

// writeClusterSummary writes a cluster's fields one per line.
func writeClusterSummary(w io.Writer, cl api.Cluster, now time.Time) error {
	tw := newTabWriter(w)
	fmt.Fprintf(tw, "Name:\t%s\n", cl.Name)
	fmt.Fprintf(tw, "Owner:\t%s\n", dash(cl.Owner))
	fmt.Fprintf(tw, "State:\t%s\n", cl.State)
	if cl.Reason != "" {
		fmt.Fprintf(tw, "Reason:\t%s\n", cl.Reason)
	}
	fmt.Fprintf(tw, "Login:\t%s\n", dash(cl.LoginAddress))
	if cl.CreatedAt.IsZero() {
		fmt.Fprintf(tw, "Created:\t-\n")
	} else {
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", cl.CreatedAt.Format(time.RFC3339), age(now, cl.CreatedAt))
	}
	fmt.Fprintf(tw, "Hourly cost:\t%s\n", dollars(cl.HourlyCost))
	if cl.CostSoFar != "" {
		fmt.Fprintf(tw, "Cost so far:\t%s\n", dollars(cl.CostSoFar))
	}
	fmt.Fprintf(tw, "Nodes:\t%s\n", nodeProgress(cl.Nodes))
	if cl.Fleet != "" {
		fmt.Fprintf(tw, "Fleet:\t%s\n", cl.Fleet)
	}
	fmt.Fprintf(tw, "Spec:\t%s\n", specSummary(cl.Spec))
	return tw.Flush()
}

// specSummary shows a spec on one line: "head t3.small 50GB; compute
// c5.large|c5.xlarge ×2 (min 0, max 10) 100GB, spot ≤ $0.03, autoscaling
// enabled; region us-east-1".
func specSummary(s api.ClusterSpec) string {
	var b strings.Builder
	fmt.Fprintf(&b, "head %s", dash(s.Head.Type))
	if s.Head.VolumeGB > 0 {
		fmt.Fprintf(&b, " %dGB", s.Head.VolumeGB)
	}
	fmt.Fprintf(&b, "; compute %s ×%d (min %d, max %d)",
		dash(strings.Join(s.Compute.Types, "|")), s.Compute.InitialNodes, s.Compute.MinNodes, s.Compute.MaxNodes)
	if s.Compute.VolumeGB > 0 {
		fmt.Fprintf(&b, " %dGB", s.Compute.VolumeGB)
	}
	if s.Compute.SpotPrice != "" {
		fmt.Fprintf(&b, ", spot ≤ $%s", s.Compute.SpotPrice)
	}
	if s.Compute.Autoscaling != "" {
		fmt.Fprintf(&b, ", autoscaling %s", s.Compute.Autoscaling)
	}
	region := s.Region
	if region == "" {
		region = "default"
	}
	fmt.Fprintf(&b, "; region %s", region)
	return b.String()
}

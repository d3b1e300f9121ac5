package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
)

// clusterCreateOptions are the arguments and flags of `stratus cluster
// create`.
type clusterCreateOptions struct {
	clusterChangeOptions
	// File is the request file, or "-" for standard input.
	File string
}

func (a *app) newClusterCreateCmd() *cobra.Command {
	var opts clusterCreateOptions
	cmd := &cobra.Command{
		Use:   "create NAME -f FILE",
		Short: "Create a cluster from a request file",
		Long: `Create a cluster from a request file: the cf-create JSON format or the
native YAML spec, merged onto the server's template. The server checks the
request and names every field that is wrong.

With --wait, show the nodes' progress until the cluster is running (exit 0),
has failed (exit 1) or --timeout has passed (exit 8).`,
		Example: `  stratus cluster create demo -f demo.cf-create --wait
  cat demo.yaml | stratus cluster create demo -f - -o json`,
	}
	cmd.Flags().StringVarP(&opts.File, "file", "f", "", "request `FILE` (cf-create JSON or native YAML); - reads standard input")
	check := func() error {
		if opts.File == "" {
			return usagef("missing -f FILE: the cluster request file (cf-create JSON or native YAML; - reads standard input)")
		}
		return nil
	}
	return a.clusterChangeCmd(cmd, &opts.clusterChangeOptions, "running", check, func(ctx context.Context, c *api.Client, e *env) error {
		return runClusterCreate(ctx, opts, c, e)
	})
}

func runClusterCreate(ctx context.Context, opts clusterCreateOptions, c *api.Client, e *env) error {
	req := api.CreateClusterRequest{Name: opts.Name, Filename: opts.File}
	var (
		data []byte
		err  error
	)
	if opts.File == "-" {
		req.Filename = "stdin"
		data, err = io.ReadAll(e.stdin)
	} else {
		data, err = e.readFile(opts.File)
	}
	if err != nil {
		return fmt.Errorf("read the cluster request: %w", err)
	}
	req.Request = string(data)

	cl, err := c.CreateCluster(ctx, req)
	if err != nil {
		return fmt.Errorf("create cluster %s: %w", opts.Name, err)
	}
	if !opts.Wait {
		return writeCluster(e.stdout, opts.Output, cl, e.now())
	}

	cl, err = waitRunning(ctx, c, e, opts.Name, &cl, opts.Timeout)
	if err != nil {
		return err
	}
	return writeRunningCluster(e, opts.Output, cl)
}

// writeRunningCluster writes a cluster that has come up: as JSON or YAML,
// or as a line with its login address and its summary.
func writeRunningCluster(e *env, output outputFormat, cl api.Cluster) error {
	if output != formatTable {
		return writeStructured(e.stdout, output, cl)
	}
	fmt.Fprintf(e.stdout, "Cluster %s is running; log in at %s.\n", cl.Name, dash(cl.LoginAddress))
	return writeClusterSummary(e.stdout, cl, e.now())
}

// writeCluster writes one cluster as a one-row table, JSON or YAML.
func writeCluster(w io.Writer, format outputFormat, cl api.Cluster, now time.Time) error {
	if format == formatTable {
		return writeClusterTable(w, []api.Cluster{cl}, now)
	}
	return writeStructured(w, format, cl)
}

package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/internal/provider"
	"github.com/stratus-cloud/stratus/internal/provider/local"
)

// localOptions are the flags of the `stratus local` commands, which act on
// the local provider's cloud directly, as a cloud's own console would, not
// through the control plane.
type localOptions struct {
	data   string
	output outputFormat
	notice time.Duration
}

func (a *app) newLocalCmd() *cobra.Command {
	opts := &localOptions{output: formatTable}
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Look at and poke the local provider's cloud directly (its console)",
		Long: `The local commands act on the local provider's cloud in a data directory
directly, as a cloud's own console would, not through the control plane:
list every instance in it, or announce that a spot instance will be
reclaimed (its agent sees the notice, as on EC2).`,
	}
	cmd.PersistentFlags().StringVar(&opts.data, "data", "", "the server's data `DIR` (env STRATUS_DATA; default ./"+DefaultDataDir+")")

	list := &cobra.Command{
		Use:   "instances",
		Short: "List every instance of the local cloud, in every region",
		Args:  exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			return runLocalInstances(cmd.Context(), opts, a.env, a.localRoot(opts))
		}),
	}
	addOutputFlag(list, &opts.output)

	reclaim := &cobra.Command{
		Use:   "reclaim INSTANCE-ID",
		Short: "Announce that a spot instance will be reclaimed after a notice",
		Args:  exactArgs("INSTANCE-ID"),
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return runLocalReclaim(cmd.Context(), opts, a.env, a.localRoot(opts), args[0])
		}),
	}
	reclaim.Flags().DurationVar(&opts.notice, "notice", 2*time.Minute, "time between the notice and the reclaim (EC2 gives two minutes)")
	cmd.AddCommand(list, reclaim)
	return cmd
}

func (a *app) localRoot(o *localOptions) string {
	data := o.data
	if data == "" {
		data = a.env.getenv("STRATUS_DATA")
	}
	if data == "" {
		data = DefaultDataDir
	}
	return filepath.Join(data, "cloud")
}

func openLocal(root string) (*local.Provider, []string, error) {
	p, err := local.New(local.Options{Root: root})
	if err != nil {
		return nil, nil, err
	}
	regions, err := p.Regions(context.Background())
	return p, regions, err
}

func runLocalInstances(ctx context.Context, o *localOptions, e *env, root string) error {
	p, regions, err := openLocal(root)
	if err != nil {
		return err
	}
	type row struct {
		ID      string            `json:"id" yaml:"id"`
		Region  string            `json:"region" yaml:"region"`
		Type    string            `json:"type" yaml:"type"`
		State   string            `json:"state" yaml:"state"`
		Address string            `json:"address" yaml:"address"`
		Spot    bool              `json:"spot" yaml:"spot"`
		Tags    map[string]string `json:"tags" yaml:"tags"`
	}
	rows := []row{}
	for _, r := range regions {
		insts, err := p.Describe(ctx, r, provider.Filter{})
		if err != nil {
			return err
		}
		for _, in := range insts {
			rows = append(rows, row{in.ID, in.Region, in.Type, string(in.State), in.Address, in.Spot, in.Tags})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].ID < rows[j].ID })
	if o.output != formatTable {
		return writeStructured(e.stdout, o.output, rows)
	}
	tw := newTabWriter(e.stdout)
	fmt.Fprintln(tw, "ID\tREGION\tTYPE\tSTATE\tADDRESS\tSPOT\tCLUSTER\tROLE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%v\t%s\t%s\n", r.ID, r.Region, r.Type, r.State, dash(r.Address), r.Spot,
			dash(r.Tags[provider.TagCluster]), dash(r.Tags[provider.TagRole]))
	}
	return tw.Flush()
}

func runLocalReclaim(ctx context.Context, o *localOptions, e *env, root, id string) error {
	p, regions, err := openLocal(root)
	if err != nil {
		return err
	}
	for _, r := range regions {
		insts, err := p.Describe(ctx, r, provider.Filter{IDs: []string{id}})
		if err != nil {
			return err
		}
		if len(insts) == 0 {
			continue
		}
		if err := p.Reclaim(ctx, r, id, o.notice); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "instance %s will be reclaimed in %s\n", id, o.notice)
		return nil
	}
	return fmt.Errorf("no instance %s in the local cloud at %s: %w", id, root, provider.ErrNotFound)
}

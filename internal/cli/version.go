package cli

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/server"
)

// cliVersion is the version of this binary: server.Version when a release
// build set it (-ldflags "-X .../internal/server.Version=v1.2.3"), else the
// main module's version from the build information, else "dev".
func cliVersion() string {
	if server.Version != "" && server.Version != "dev" {
		return server.Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// versionOptions are the flags of `stratus version` (none yet).
type versionOptions struct{}

func (a *app) newVersionCmd() *cobra.Command {
	var opts versionOptions
	return &cobra.Command{
		Use:   "version",
		Short: "Show the versions of the CLI and of the server",
		Args:  exactArgs(),
		RunE: a.runE(func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(a.env.stdout, "stratus %s\n", cliVersion())
			return withClient(a, cmd, opts, runVersion)
		}),
	}
}

// runVersion prints the server's version if it answers within a few
// seconds; a server that does not answer is not an error.
func runVersion(ctx context.Context, _ versionOptions, c *api.Client, e *env) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	v, err := c.Version(ctx)
	if err != nil {
		fmt.Fprintf(e.stdout, "server %s: not answering (%v)\n", c.BaseURL, err)
		return nil
	}
	fmt.Fprintf(e.stdout, "server %s: stratus %s, installation %s, provider %s\n",
		c.BaseURL, v.Version, dash(v.Installation), dash(v.Provider))
	return nil
}

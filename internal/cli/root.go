// Package cli implements the stratus command: the control plane (serve),
// the node agent (agent), and the client commands (cluster create, list,
// show, delete and wait; exec; job submit, list, show, logs and cancel;
// cost; version) that talk to the server only through the api package's
// Go client.
//
// Each command lives in its own file with an options struct, its flags, a
// validate step and a run(ctx, opts, client, env) function. Main runs a
// command line and returns the process's exit code; the codes are listed
// in exitcode.go, and how the server URL and token are found in config.go.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/spf13/cobra"

	"github.com/stratus-cloud/stratus/api"
	"github.com/stratus-cloud/stratus/internal/server"
)

// env is what commands need from the process: streams, environment, files
// and time. Main fills it from the real process; tests fill it with fakes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	// stderrTTY reports whether stderr is a terminal, where progress is
	// shown by rewriting one line.
	stderrTTY bool
	getenv    func(string) string
	readFile  func(string) ([]byte, error)
	now       func() time.Time
	// pollInterval is how often --wait asks the server for progress.
	pollInterval time.Duration
}

// Main runs the stratus command line args (without the program name),
// writing to stdout and stderr, and returns the exit code. Errors are
// printed once to stderr as "stratus: <message>".
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	e := &env{
		stdin:        os.Stdin,
		stdout:       stdout,
		stderr:       stderr,
		stderrTTY:    isTerminal(stderr),
		getenv:       os.Getenv,
		readFile:     os.ReadFile,
		now:          time.Now,
		pollInterval: 500 * time.Millisecond,
	}
	return execute(ctx, args, e)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// app holds the state shared by the commands of one invocation.
type app struct {
	env    *env
	root   *cobra.Command
	global globalFlags
	// settings are resolved on the first call of client.
	settings *settings
	// ran is set once a command's own code starts: errors before that
	// come from cobra's parsing and are usage errors.
	ran bool
}

func execute(ctx context.Context, args []string, e *env) int {
	a := &app{env: e}
	root := a.newRootCmd()
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if !a.ran {
		var ue *usageError
		if !errors.As(err, &ue) {
			err = &usageError{msg: err.Error()}
		}
	}
	code := exitCode(ctx, err)
	if _, silent := errors.AsType[*exitStatus](err); !silent {
		a.printError(ctx, cmd, err)
	}
	return code
}

// printError prints err once, with a hint of what to do where one helps.
func (a *app) printError(ctx context.Context, cmd *cobra.Command, err error) {
	w := a.env.stderr
	if ctx.Err() != nil {
		fmt.Fprintln(w, "stratus: interrupted")
		return
	}
	fmt.Fprintf(w, "stratus: %v\n", err)
	switch exitCode(ctx, err) {
	case ExitUsage:
		if cmd == nil {
			cmd = a.root
		}
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", cmd.CommandPath())
	case ExitUnreachable:
		from := ""
		if a.settings != nil {
			from = " (this URL is from " + a.settings.ServerSource + ")"
		}
		fmt.Fprintf(w, "Is `stratus serve` running? Point the CLI at it with --server or %s%s.\n", envServer, from)
	case ExitUnauthorized:
		fmt.Fprintln(w, a.tokenHint(err))
	}
}

func (a *app) tokenHint(err error) string {
	s := a.settings
	if s == nil {
		return ""
	}
	if se, ok := errors.AsType[*api.StatusError](err); ok && se.Status == http.StatusForbidden {
		return fmt.Sprintf("The token from %s is not allowed to do this.", s.TokenSource)
	}
	if s.TokenSource != "" {
		return fmt.Sprintf("The token from %s was not accepted. Pass another with --token or %s.", s.TokenSource, envToken)
	}
	return fmt.Sprintf("No token given: pass --token, set %s, put token: in the config file, or run where %s exists (the admin token `stratus serve` writes).", envToken, s.TokenFile)
}

// runE wraps a command's code so that errors it returns are not taken for
// usage errors.
func (a *app) runE(fn func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		a.ran = true
		return fn(cmd, args)
	}
}

// needsSubcommand is the RunE of a parent command, which does nothing of
// its own: no argument or an unknown one is a usage error. usage names the
// subcommands ("stratus job submit|list").
func (a *app) needsSubcommand(usage string) func(*cobra.Command, []string) error {
	return a.runE(func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("missing command: %s", usage)
		}
		return usagef("unknown command %q for %q", args[0], cmd.CommandPath())
	})
}

// client returns an API client for the resolved server and token.
func (a *app) client() (*api.Client, error) {
	if a.settings == nil {
		flags := a.global
		pf := a.root.PersistentFlags()
		flags.serverSet = pf.Changed("server")
		flags.tokenSet = pf.Changed("token")
		flags.configSet = pf.Changed("config")
		s, err := resolveSettings(flags, a.env.getenv, a.env.readFile)
		if err != nil {
			return nil, err
		}
		a.settings = &s
	}
	return api.NewClient(a.settings.Server, a.settings.Token), nil
}

// withClient runs a command's run function with its options and an API
// client for the resolved server and token.
func withClient[O any](a *app, cmd *cobra.Command, opts O, run func(context.Context, O, *api.Client, *env) error) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	return run(cmd.Context(), opts, c, a.env)
}

func (a *app) newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "stratus",
		Short: "stratus runs research computing clusters on your cloud",
		Long: `stratus is a self-hosted cloud control plane for research computing:
clusters from short requests, elastic compute, schedules and cost accounting.

Start the control plane with 'stratus serve'; in the same directory the other
commands find it and its admin token with no setup.`,
		Version:       cliVersion(),
		SilenceErrors: true,
		SilenceUsage:  true,
		// Without a command, show help; an unknown command is a usage
		// error from cobra.
		RunE: a.runE(func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		}),
	}
	a.root = root
	root.SetOut(a.env.stdout)
	root.SetErr(a.env.stderr)
	root.SetIn(a.env.stdin)
	root.CompletionOptions.HiddenDefaultCmd = true
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		msg := err.Error()
		if strings.HasPrefix(msg, "unknown shorthand flag") {
			// Perhaps an argument that starts with -, like a name.
			msg += " (to give a name or other argument that starts with -, put it after --)"
		}
		return &usageError{msg: msg}
	})
	pf := root.PersistentFlags()
	pf.StringVar(&a.global.server, "server", "", "server `URL` (env "+envServer+"; default: the URL in ./"+DefaultDataDir+"/"+server.URLFile+", else "+DefaultServer+")")
	pf.StringVar(&a.global.token, "token", "", "API `TOKEN` (env "+envToken+"; default: the admin token in ./"+DefaultDataDir+"/"+server.AdminTokenFile+")")
	pf.StringVar(&a.global.config, "config", "", "config `FILE` with server: and token: (env "+envConfig+"; default ~/.config/stratus/config.yaml)")

	root.AddCommand(
		a.newServeCmd(),
		a.newAgentCmd(),
		a.newClusterCmd(),
		a.newExecCmd(),
		a.newJobCmd(),
		a.newScheduleCmd(),
		a.newCostCmd(),
		a.newUserCmd(),
		a.newAuditCmd(),
		a.newCheckCmd(),
		a.newRegionCmd(),
		a.newLocalCmd(),
		a.newAWSCmd(),
		a.newVersionCmd(),
	)
	return root
}

// newClusterCmd is the parent of the cluster commands.
func (a *app) newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Create, list, show, delete, stop and start clusters",
		Args:  cobra.ArbitraryArgs,
		RunE:  a.needsSubcommand("stratus cluster create|list|show|delete|stop|start|wait"),
	}
	cmd.AddCommand(
		a.newClusterCreateCmd(),
		a.newClusterListCmd(),
		a.newClusterShowCmd(),
		a.newClusterDeleteCmd(),
		a.newClusterStopCmd(),
		a.newClusterStartCmd(),
		a.newClusterWaitCmd(),
	)
	return cmd
}

// exactArgs accepts exactly the named positional arguments.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) < len(names):
			return usagef("missing %s: %s", names[len(args)], cmd.UseLine())
		case len(args) > len(names):
			return usagef("unexpected argument %q: %s", args[len(names)], cmd.UseLine())
		}
		return nil
	}
}

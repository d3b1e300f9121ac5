package cli

import "github.com/spf13/cobra"

// nameThenCommand checks the arguments of a command written
// `VERB NAME [flags] -- COMMAND [ARG...]`: exactly one NAME before "--" and
// a command after it. verb is the command line up to NAME ("stratus exec"),
// name its placeholder ("NAME"), missing what to call a missing NAME
// ("cluster NAME"), flags the flags shown between NAME and "--" in the
// messages (" --cron EXPR --region R", or "").
func nameThenCommand(verb, name, missing, flags string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		dash := cmd.ArgsLenAtDash()
		between := ""
		if flags != "" {
			between = " ..."
		}
		switch {
		case dash < 0 && len(args) <= 1:
			return usagef("missing command: put it after --, as in: %s %s%s -- hostname", verb, name, flags)
		case dash < 0:
			return usagef("put the command after --: %s %s%s -- %s", verb, args[0], between, args[1])
		case dash == 0:
			return usagef("missing %s before --", missing)
		case dash > 1:
			return usagef("unexpected argument %q before --: %s %s%s -- COMMAND [ARG...]", args[1], verb, name, between)
		case len(args) == dash:
			return usagef("missing command after --")
		}
		return nil
	}
}

package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/gavelhq/gavel/opentok"
	"github.com/spf13/cobra"
)

// done is the --json answer of commands that return nothing but success.
type done struct {
	OK      bool   `json:"ok"`
	Action  string `json:"action"`
	Session string `json:"session_id"`
	Target  string `json:"target,omitempty"`
}

func signalCmd(env *Env) *cobra.Command {
	var (
		to  string
		sig opentok.Signal
	)
	cmd := &cobra.Command{
		Use:   "signal SESSION --type T --data D",
		Short: "Send a signal to every client in a session, or to one connection",
		Long: "Send a signal. Clients receive it in their signal handlers (signal:<type>) with an empty\n" +
			"sender. type: at most 128 bytes of letters, digits, - _ ~. data: at most 8 kB; '-' reads stdin.",
		Example: "  gavel signal 1_MX4… --type chat --data 'The session ends in 5 minutes'\n" +
			"  gavel signal 1_MX4… --to 527775e1-… --type gavel-unpublish --data 8b732909-…",
		Args: exactArgs("SESSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("type") {
				return usagef("--type is required (clients filter signals by type)")
			}
			if sig.Data == "-" {
				b, err := io.ReadAll(io.LimitReader(env.Stdin, opentok.MaxSignalDataBytes+1))
				if err != nil {
					return fmt.Errorf("signal: read data from stdin: %w", err)
				}
				sig.Data = strings.TrimSuffix(string(b), "\n")
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.Signals.Send(ctx(cmd), args[0], to, sig); err != nil {
				return err
			}
			target := "every client"
			if to != "" {
				target = "connection " + to
			}
			return env.emit(done{OK: true, Action: "signal", Session: args[0], Target: to}, func(w io.Writer) {
				fmt.Fprintf(w, "signal %q sent to %s\n", sig.Type, target)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&to, "to", "", "connection ID to signal (default: every client in the session)")
	f.StringVar(&sig.Type, "type", "", "signal type (required)")
	f.StringVar(&sig.Data, "data", "", "signal data; '-' reads it from stdin")
	return cmd
}

func disconnectCmd(env *Env) *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "disconnect SESSION CONNECTION",
		Short: "Force a connection out of a session",
		Long: "Force-disconnect a connection: the client leaves and its streams end (reason\n" +
			"forceDisconnected). Asks for confirmation unless --yes.",
		Args: exactArgs("SESSION", "CONNECTION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := env.confirm(ctx(cmd), yes, fmt.Sprintf("disconnect connection %s from session %s", args[1], args[0])); err != nil {
				return err
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := c.Moderation.ForceDisconnect(ctx(cmd), args[0], args[1]); err != nil {
				return err
			}
			return env.emit(done{OK: true, Action: "disconnect", Session: args[0], Target: args[1]}, func(w io.Writer) {
				fmt.Fprintf(w, "disconnected %s\n", args[1])
			})
		},
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func muteCmd(env *Env) *cobra.Command {
	var (
		all, off, yes bool
		except        []string
	)
	cmd := &cobra.Command{
		Use:   "mute SESSION [STREAM]",
		Short: "Force-mute a stream's audio, or every stream in a session",
		Long: "Force-mute one stream's audio, or with --all every stream in the session, now and published\n" +
			"later, except those named with --except. --all --off stops muting new streams; it does NOT\n" +
			"unmute streams already muted: the Video API has no unmute, participants unmute themselves.\n" +
			"Needs a routed session.",
		Example: "  gavel mute 1_MX4… 8b732909-…\n  gavel mute 1_MX4… --all --except 8b732909-…\n  gavel mute 1_MX4… --all --off",
		Args: func(cmd *cobra.Command, args []string) error {
			if all {
				return exactArgs("SESSION")(cmd, args)
			}
			// Before the count of arguments: "mute S --off" lacks --all, not a STREAM.
			if off || len(except) > 0 {
				return usagef("--off and --except only go with --all")
			}
			return exactArgs("SESSION", "STREAM")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if off && len(except) > 0 {
				return usagef("--except has no meaning with --off")
			}
			sid := args[0]
			var action, target, human string
			var call func(*opentok.Client) error
			switch {
			case !all:
				action, target, human = "mute", args[1], "muted stream "+args[1]
				call = func(c *opentok.Client) error { return c.Moderation.MuteStream(ctx(cmd), sid, args[1]) }
			case off:
				action, human = "mute_all_off", "mute-all is off: new streams are no longer muted (streams already muted stay muted)"
				call = func(c *opentok.Client) error { return c.Moderation.DisableMuteAll(ctx(cmd), sid) }
			default:
				action = "mute_all"
				prompt := "mute every stream in session " + sid
				if len(except) > 0 {
					prompt += fmt.Sprintf(" except %d", len(except))
				}
				if err := env.confirm(ctx(cmd), yes, prompt); err != nil {
					return err
				}
				human = fmt.Sprintf("muted every stream, now and later, except %d", len(except))
				call = func(c *opentok.Client) error { return c.Moderation.MuteAll(ctx(cmd), sid, except) }
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			if err := call(c); err != nil {
				return err
			}
			return env.emit(done{OK: true, Action: action, Session: sid, Target: target}, func(w io.Writer) {
				fmt.Fprintln(w, human)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&all, "all", false, "mute every stream in the session, including streams published later")
	f.BoolVar(&off, "off", false, "with --all: stop muting newly published streams")
	f.StringSliceVar(&except, "except", nil, "with --all: stream IDs to leave unmuted (comma-separated)")
	f.BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

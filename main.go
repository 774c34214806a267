// Command gavel is a terminal console for people who supervise live Vonage
// Video API (OpenTok) sessions, and a set of scriptable commands over the
// Video API. main wires the packages together: it owns the command tree
// and the process exit status, and nothing else; events/config reads the
// config file.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"charm.land/fang/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/term"
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relay/relaycmd"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/gavelhq/gavel/opentok/opentoktest/emulatorcmd"
	"github.com/gavelhq/gavel/tui"
	"github.com/gavelhq/gavel/tui/demo"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// run executes one command line and returns the exit status: 0 ok, 1 the API
// or network failed, 2 a usage or configuration mistake.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	root := newRoot(stdin, stdout, stderr, getenv)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := fang.Execute(ctx, root,
		fang.WithVersion(version),
		fang.WithNotifySignal(os.Interrupt),
		fang.WithErrorHandler(printError),
	)
	return exitCode(err)
}

// printError writes the error verbatim on one line: fang's default handler
// capitalises and re-wraps it, which mangles sentences like "signal: type: …"
// that people and scripts read. Command-line mistakes get a pointer to --help.
func printError(w io.Writer, _ fang.Styles, err error) {
	label := lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Red).Render("error:")
	fmt.Fprintf(w, "%s %s\n", label, err)
	if isCommandLineMistake(err) {
		fmt.Fprintln(w, "Try --help for usage.")
	}
}

// isCommandLineMistake: our usage errors and cobra's own (which carry no type).
func isCommandLineMistake(err error) bool {
	var ue *exitcode.UsageError
	if errors.As(err, &ue) {
		return true
	}
	msg := err.Error()
	for _, prefix := range []string{"unknown command", "unknown flag", "unknown shorthand flag", "flag needs an argument", "invalid argument", "required flag", "accepts ", "requires "} {
		if strings.HasPrefix(msg, prefix) {
			return true
		}
	}
	return false
}

// exitCode adds cobra's own flag and argument errors (which carry no type)
// to the usage errors exitcode.Code already knows.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if exitcode.Code(err) == 2 || isCommandLineMistake(err) {
		return 2
	}
	return 1
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) *cobra.Command {
	var configPath string
	jsonOut := false
	root := &cobra.Command{
		Use:   "gavel",
		Short: "A terminal console for live Vonage Video API sessions",
		Long: "gavel shows every live Vonage Video API (OpenTok) session, its connections, streams and\n" +
			"viewers as they change, and lets a moderator signal, mute, disconnect and record.\n\n" +
			"Try it with no account: gavel demo. Watch a real project: plain gavel runs a relay\n" +
			"in-process (register the callback URL its header shows with Vonage); a team runs\n" +
			"gavel relay and each console gavel --relay ws://HOST/v1/stream --token T. In the console,\n" +
			"? lists every key; the commands below do the same from a script.\n\n" +
			"Credentials come from the config file (--config, $GAVEL_CONFIG, or\n" +
			"$XDG_CONFIG_HOME/gavel/config.toml) or from GAVEL_API_KEY and GAVEL_API_SECRET\n" +
			"(or GAVEL_APPLICATION_ID and GAVEL_PRIVATE_KEY_FILE); GAVEL_API_URL points at another host.",
		SilenceUsage: true,
		// No Args validator: cobra's default then answers a mistyped
		// subcommand with "unknown command" and a suggestion.
	}
	root.PersistentFlags().StringVar(&configPath, "config", "", "config file (default $GAVEL_CONFIG, else $XDG_CONFIG_HOME/gavel/config.toml)")
	root.PersistentFlags().BoolVar(&jsonOut, "json", false, "print results as JSON")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &exitcode.UsageError{Err: err} })

	stdinIsTerminal := false
	if f, ok := stdin.(*os.File); ok {
		stdinIsTerminal = term.IsTerminal(f.Fd())
	}
	load := func() (config.Config, error) { return config.Load(configPath, getenv) }
	newClient := func() (*opentok.Client, error) {
		cfg, err := load()
		if err != nil {
			return nil, err
		}
		return cfg.API.NewClient("gavel/" + version)
	}
	env := &cli.Env{
		Client:          newClient,
		Stdin:           stdin,
		Stdout:          stdout,
		Stderr:          stderr,
		StdinIsTerminal: stdinIsTerminal,
		JSON:            &jsonOut,
	}
	root.AddCommand(cli.Commands(env)...)
	root.AddCommand(emulatorcmd.Command())
	root.AddCommand(relaycmd.Commands(relaycmd.Env{
		Load:   load,
		Client: newClient,
		Stdout: stdout,
		Stderr: stderr,
		JSON:   &jsonOut,
		// The SSH consoles a relay serves look as [console] says.
		Console: configuredConsole,
	})...)
	root.AddCommand(demoCmd(load))
	addConsole(root, load, newClient, stderr)
	return root
}

// addConsole makes `gavel` itself the live console: it connects to the
// relay named by --relay/--token, else by the [console] section (or
// GAVEL_RELAY_URL and GAVEL_RELAY_TOKEN). With no relay named at all it
// runs one in-process (the [relay] section; --listen) and the console on
// it: the design's single-moderator default. Mistyped subcommands still get
// cobra's "unknown command": the root takes no arguments.
func addConsole(root *cobra.Command, load func() (config.Config, error), newClient func() (*opentok.Client, error), stderr io.Writer) {
	var relayURL, token, listen string
	var flags consoleFlags
	root.Flags().StringVar(&relayURL, "relay", "", "the relay's console stream, ws(s)://HOST/v1/stream (default console.relay; none: run a relay in-process)")
	root.Flags().StringVar(&token, "token", "", "console token from `gavel relay token` (default console.token)")
	root.Flags().StringVar(&listen, "listen", "", "with no --relay: where the in-process relay listens for callbacks (default relay.listen, 127.0.0.1:8080)")
	addConsoleFlags(root, &flags)
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return err
		}
		cc := cfg.Console
		opts, err := consoleOptions(cmd, cc, flags)
		if err != nil {
			return err
		}
		if cmd.Flags().Changed("relay") {
			cc.Relay = relayURL
		}
		if cmd.Flags().Changed("token") {
			cc.Token = token
		}
		switch {
		case cc.Relay == "" && cc.Token == "":
			if cmd.Flags().Changed("listen") {
				cfg.Relay.Listen = listen
			}
			return runEmbedded(cmd.Context(), cfg.Relay, opts, newClient, stderr)
		case cmd.Flags().Changed("listen"):
			return &exitcode.UsageError{Err: errors.New("--listen is for the in-process relay: it cannot be combined with --relay/--token (or console.relay/console.token)")}
		case cc.Relay == "":
			return &exitcode.UsageError{Err: fmt.Errorf("no relay: pass --relay ws://HOST/v1/stream (or set console.relay or %s)", config.EnvRelayURL)}
		case cc.Token == "":
			return &exitcode.UsageError{Err: fmt.Errorf("no token: pass --token (from `gavel relay token`), or set console.token or %s", config.EnvRelayToken)}
		}
		opts.RelayURL, opts.Token = cc.Relay, cc.Token
		return tui.Run(cmd.Context(), opts)
	}
}

// consoleFlags are the flags of every command that opens the console.
type consoleFlags struct {
	theme    string
	readOnly bool
}

func addConsoleFlags(cmd *cobra.Command, f *consoleFlags) {
	cmd.Flags().StringVar(&f.theme, "theme", "", "console colours: auto (the terminal's background), dark or light (default console.theme, else auto)")
	cmd.Flags().BoolVar(&f.readOnly, "read-only", false, "watch only: no moderation keys, whatever the token allows (default console.read_only)")
}

// consoleOptions is what every console takes from [console] and --theme:
// the connection cap, the key overrides, the theme and the session aliases.
// They are checked here, so a mistake exits 2 with its message before a
// relay starts or the terminal is taken over (where it could not be read).
func consoleOptions(cmd *cobra.Command, cc config.Console, flags consoleFlags) (tui.Options, error) {
	if cmd.Flags().Changed("theme") {
		if _, err := tui.ParseThemeMode(flags.theme); err != nil {
			return tui.Options{}, &exitcode.UsageError{Err: fmt.Errorf("--theme: %w", err)}
		}
		cc.Theme = flags.theme
	}
	cc.ReadOnly = cc.ReadOnly || flags.readOnly
	return configuredConsole(cc)
}

// configuredConsole is what a console takes from [console] alone: the
// SSH consoles a relay serves start from it too.
func configuredConsole(cc config.Console) (tui.Options, error) {
	mode, err := tui.ParseThemeMode(cc.Theme)
	if err != nil {
		return tui.Options{}, &exitcode.ConfigError{Err: fmt.Errorf("config: console.theme: %w", err)}
	}
	if err := tui.CheckRecordDefaults(cc.Record); err != nil {
		return tui.Options{}, &exitcode.ConfigError{Err: fmt.Errorf("config: console.record.%w", err)}
	}
	opts := tui.Options{MaxConnections: cc.MaxConnections, Keys: cc.KeyBindings(), Theme: mode, Aliases: cc.Aliases,
		ReadOnly: cc.ReadOnly, Record: cc.Record}
	if err := opts.Validate(); err != nil {
		return tui.Options{}, &exitcode.ConfigError{Err: fmt.Errorf("config: %w", err)}
	}
	return opts, nil
}

// demoMaxConnections is the demo's connection cap: the simulated town hall
// (2,000 viewers) goes over it, so a newcomer sees the flag.
const demoMaxConnections = 1500

// runEmbedded is plain `gavel`: a relay in-process and the console on it.
// Nothing is printed before the console starts (it would draw over it
// unseen): the callback URL to register with Vonage is in the console's
// header, and printed to stderr once the console has quit.
func runEmbedded(ctx context.Context, rc config.Relay, opts tui.Options, newClient func() (*opentok.Client, error), stderr io.Writer) error {
	// As in `gavel demo`: a closed terminal or SIGTERM ends the console
	// like q does, so the relay still shuts down cleanly.
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGHUP, syscall.SIGTERM)
	defer stop()
	client, cerr := newClient()
	if cerr != nil {
		client = nil // watch only; the header says so
	}
	e, err := relaycmd.StartEmbedded(ctx, rc, client)
	if err != nil {
		return err
	}
	// The URL first: on a narrow terminal the header clips the end.
	title := "callbacks → " + e.CallbackURL
	if e.WatchOnly {
		title += " · watch only: no [api] credentials"
	}
	opts.RelayURL, opts.Token, opts.Title = e.StreamURL, e.Token, title
	runErr := tui.Run(ctx, opts)
	stopErr := e.Stop()
	fmt.Fprintf(stderr, "gavel: the in-process relay took callbacks at %s (%s)\n", e.CallbackURL, relaycmd.OtherCallbackPaths())
	if e.WatchOnly {
		fmt.Fprintf(stderr, "gavel: watch only: %v\n", cerr)
	}
	return errors.Join(runErr, stopErr)
}

// demoCmd is `gavel demo`: the console on an emulator and a relay started
// in-process, full of simulated sessions. It needs no config or account;
// a config file, if there is one, still sets its keys, theme and aliases.
func demoCmd(load func() (config.Config, error)) *cobra.Command {
	var flags consoleFlags
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Live console on simulated sessions (an in-process emulator and relay; no account needed)",
		Long: "Start a Video API emulator full of simulated sessions (a 2000-viewer town hall, a classroom,\n" +
			"one-to-one calls, a session on a flaky network) and a relay, both in-process on loopback ports,\n" +
			"and open the live console on them. Nothing leaves the machine; q quits and cleans up.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := load()
			if err != nil {
				return err
			}
			opts, err := consoleOptions(cmd, cfg.Console, flags)
			if err != nil {
				return err
			}
			// A closed terminal (SSH drop: SIGHUP) or SIGTERM ends the
			// console like q does, so Close still removes the relay's
			// temporary directory.
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGHUP, syscall.SIGTERM)
			defer stop()
			d, err := demo.Start(ctx, demo.Options{})
			if err != nil {
				return err
			}
			// The scenarios fill the emulator in the background: the
			// console's first frame does not wait for them.
			opts.RelayURL, opts.Token, opts.Demo = d.RelayURL(), d.Token(), true
			// Below the town hall's audience, so the demo shows the flag.
			opts.MaxConnections = demoMaxConnections
			runErr := tui.Run(ctx, opts)
			return errors.Join(runErr, d.Close())
		},
	}
	addConsoleFlags(cmd, &flags)
	return cmd
}

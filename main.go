// Command gavel is a terminal console for people who supervise live Vonage
// Video API (OpenTok) sessions, and a set of scriptable commands over the
// Video API. main wires the packages together: it owns the command tree,
// the config file and the process exit status, and nothing else.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"charm.land/fang/v2"
	"charm.land/lipgloss/v2"
	"github.com/BurntSushi/toml"
	"github.com/charmbracelet/x/term"
	"github.com/gavelhq/gavel/events/relay/relaycmd"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli"
	"github.com/gavelhq/gavel/opentok/opentoktest/emulatorcmd"
	"github.com/gavelhq/gavel/tui"
	"github.com/gavelhq/gavel/tui/demo"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// EnvConfig names the config file when --config is not given.
const EnvConfig = "GAVEL_CONFIG"

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
	var ue *cli.UsageError
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
// to the usage errors cli.ExitCode already knows.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if cli.ExitCode(err) == 2 || isCommandLineMistake(err) {
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
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &cli.UsageError{Err: err} })

	stdinIsTerminal := false
	if f, ok := stdin.(*os.File); ok {
		stdinIsTerminal = term.IsTerminal(f.Fd())
	}
	newClient := func() (*opentok.Client, error) {
		cfg, err := loadConfig(configPath, getenv)
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
		Load: func() (relaycmd.RelayConfig, relaycmd.ConsoleConfig, error) {
			cfg, err := loadConfig(configPath, getenv)
			return cfg.Relay, cfg.Console, err
		},
		Client: newClient,
		Stdout: stdout,
		Stderr: stderr,
		JSON:   &jsonOut,
	})...)
	load := func() (Config, error) { return loadConfig(configPath, getenv) }
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
func addConsole(root *cobra.Command, load func() (Config, error), newClient func() (*opentok.Client, error), stderr io.Writer) {
	var relayURL, token, listen string
	var flags consoleFlags
	root.Flags().StringVar(&relayURL, "relay", "", "the relay's console stream, ws(s)://HOST/v1/stream (default console.relay; none: run a relay in-process)")
	root.Flags().StringVar(&token, "token", "", "console token from `gavel relay token` (default console.token)")
	root.Flags().StringVar(&listen, "listen", "", "with no --relay: where the in-process relay listens for callbacks (default relay.listen, 127.0.0.1:8080)")
	addConsoleFlags(root, &flags)
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return &cli.ConfigError{Err: err}
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
			return &cli.UsageError{Err: errors.New("--listen is for the in-process relay: it cannot be combined with --relay/--token (or console.relay/console.token)")}
		case cc.Relay == "":
			return &cli.UsageError{Err: fmt.Errorf("no relay: pass --relay ws://HOST/v1/stream (or set console.relay or %s)", relaycmd.EnvRelayURL)}
		case cc.Token == "":
			return &cli.UsageError{Err: fmt.Errorf("no token: pass --token (from `gavel relay token`), or set console.token or %s", relaycmd.EnvRelayToken)}
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
func consoleOptions(cmd *cobra.Command, cc relaycmd.ConsoleConfig, flags consoleFlags) (tui.Options, error) {
	mode, err := tui.ParseThemeMode(cc.Theme)
	if err != nil {
		return tui.Options{}, &cli.ConfigError{Err: fmt.Errorf("config: console.theme: %w", err)}
	}
	if cmd.Flags().Changed("theme") {
		if mode, err = tui.ParseThemeMode(flags.theme); err != nil {
			return tui.Options{}, &cli.UsageError{Err: fmt.Errorf("--theme: %w", err)}
		}
	}
	rec := tui.RecordDefaults(cc.Record)
	if err := rec.Validate(); err != nil {
		return tui.Options{}, &cli.ConfigError{Err: fmt.Errorf("config: console.record.%w", err)}
	}
	opts := tui.Options{MaxConnections: cc.MaxConnections, Keys: cc.KeyBindings(), Theme: mode, Aliases: cc.Aliases,
		ReadOnly: cc.ReadOnly || flags.readOnly, Record: rec}
	if err := opts.Validate(); err != nil {
		return tui.Options{}, &cli.ConfigError{Err: fmt.Errorf("config: %w", err)}
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
func runEmbedded(ctx context.Context, rc relaycmd.RelayConfig, opts tui.Options, newClient func() (*opentok.Client, error), stderr io.Writer) error {
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
func demoCmd(load func() (Config, error)) *cobra.Command {
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
				return &cli.ConfigError{Err: err}
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

// Config is the whole config file. Each section belongs to the package that
// uses it; config.example.toml documents every key.
type Config struct {
	API     cli.APIConfig          `toml:"api"`
	Relay   relaycmd.RelayConfig   `toml:"relay"`
	Console relaycmd.ConsoleConfig `toml:"console"`
}

func defaultConfig(getenv func(string) string) Config {
	return Config{API: cli.DefaultAPIConfig(), Relay: relaycmd.DefaultRelayConfig(stateDir(getenv))}
}

// stateDir is where gavel keeps data between runs: $XDG_STATE_HOME/gavel,
// else ~/.local/state/gavel.
func stateDir(getenv func(string) string) string {
	if d := getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "gavel")
	}
	return filepath.Join(getenv("HOME"), ".local", "state", "gavel")
}

// configFile finds the config file: --config, then $GAVEL_CONFIG, then
// $XDG_CONFIG_HOME/gavel/config.toml. Only the default location may be
// absent; a file named explicitly must exist. "" means no file.
func configFile(flag string, getenv func(string) string) (string, bool, error) {
	if flag != "" {
		return flag, true, nil
	}
	if p := getenv(EnvConfig); p != "" {
		return p, true, nil
	}
	dir := getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := getenv("HOME")
		if home == "" {
			return "", false, nil
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "gavel", "config.toml"), false, nil
}

// loadConfig reads the config file if there is one, rejects unknown keys
// and wrong types by name, and applies the GAVEL_* environment overrides.
func loadConfig(flag string, getenv func(string) string) (Config, error) {
	cfg := defaultConfig(getenv)
	path, explicit, err := configFile(flag, getenv)
	if err != nil {
		return cfg, err
	}
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			if err := decodeConfig(path, data, &cfg); err != nil {
				return cfg, err
			}
		case errors.Is(err, os.ErrNotExist) && !explicit:
			// No file at the default location: the environment alone may suffice.
		default:
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	cfg.API.ApplyEnv(getenv)
	if cfg.Relay.DataDir == "" { // data_dir = "" in the file means the default
		cfg.Relay.DataDir = relaycmd.DefaultRelayConfig(stateDir(getenv)).DataDir
	}
	cfg.Relay.ApplyEnv(getenv)
	cfg.Console.ApplyEnv(getenv)
	return cfg, nil
}

// tomlTypeError matches BurntSushi/toml's type mismatch message so it can
// be said in words: `api.timeout: expected a string, got an integer`.
var tomlTypeError = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]+)"\): incompatible types: TOML value has type (\w+); destination has type (\w+)`)

func decodeConfig(path string, data []byte, cfg *Config) error {
	md, err := toml.Decode(string(data), cfg)
	if err != nil {
		if m := tomlTypeError.FindStringSubmatch(err.Error()); m != nil {
			return fmt.Errorf("config %s: line %s: %s: expected %s, got %s", path, m[1], m[2], tomlKind(m[4]), tomlKind(m[3]))
		}
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return describeParseError(path, pe)
		}
		return fmt.Errorf("config %s: %s", path, strings.TrimPrefix(err.Error(), "toml: "))
	}
	if undecoded := md.Undecoded(); len(undecoded) > 0 {
		keys := make([]string, len(undecoded))
		for i, k := range undecoded {
			keys[i] = k.String()
		}
		return fmt.Errorf("config %s: unknown key %s (see config.example.toml for every key)", path, strings.Join(keys, ", "))
	}
	return nil
}

// describeParseError says where the file is wrong without quoting it: the
// parser's own message repeats the offending text, which may be a secret
// written without quotes (api_secret = s3cr3t). Our own value errors
// (durations, console key lists) quote nothing secret and are kept.
func describeParseError(path string, pe toml.ParseError) error {
	where := fmt.Sprintf("config %s: line %d, column %d", path, pe.Position.Line, pe.Position.Col)
	if strings.HasPrefix(pe.Message, "expected a duration") || strings.HasPrefix(pe.Message, relaycmd.KeyListError) {
		return fmt.Errorf("%s: %s: %s", where, pe.LastKey, pe.Message)
	}
	if pe.LastKey != "" {
		where += " (after key " + pe.LastKey + ")"
	}
	return fmt.Errorf("%s: not valid TOML: text values need double quotes (key = \"value\") and sections look like [api]", where)
}

// tomlKind turns the decoder's Go/TOML type names into words.
func tomlKind(t string) string {
	switch t {
	case "string":
		return "a string"
	case "int64", "integer":
		return "an integer"
	case "float64", "float":
		return "a number"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "a table"
	case "slice", "array":
		return "an array"
	}
	return t
}

// Package relaycmd holds the relay's commands: `gavel relay` (the service),
// `gavel relay token` (console tokens) and `gavel events` (a headless
// console printing the stream as NDJSON). main hands it the loaded config.
package relaycmd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli"
	"github.com/spf13/cobra"
)

// RelayConfig is the [relay] section of the config file.
type RelayConfig struct {
	Listen            string            `toml:"listen"`
	DataDir           string            `toml:"data_dir"`
	NatsURL           string            `toml:"nats_url"`
	Secret            string            `toml:"secret"`
	SignatureSecret   string            `toml:"signature_secret"`
	SignatureSecrets  map[string]string `toml:"signature_secrets"` // [relay.signature_secrets]: a callback group's own secret, by group name
	MaxCallbackBytes  int64             `toml:"max_callback_bytes"`
	ReconcileInterval cli.Duration      `toml:"reconcile_interval"`
	Name              string            `toml:"name"`
}

// ConsoleConfig is the [console] section: which relay a console (and
// `gavel events`) connects to, and with what token.
type ConsoleConfig struct {
	Relay string `toml:"relay"`
	Token string `toml:"token"`
	// MaxConnections flags, in the console, a session with more
	// connections than this; 0 is off.
	MaxConnections int `toml:"max_connections"`
	// ReadOnly takes the moderation keys away (as --read-only does).
	ReadOnly bool `toml:"read_only"`
	// Record holds the recording form's defaults ([console.record]).
	Record RecordDefaults `toml:"record"`
	// Theme is the console's palette: auto (the terminal's background,
	// the default), dark or light. The console checks the value.
	Theme string `toml:"theme"`
	// Keys rebinds console actions by name ([console.keys]); the console
	// checks names, keys and conflicts.
	Keys map[string]KeyList `toml:"keys"`
	// Aliases label sessions by id in the console ([console.aliases]).
	Aliases map[string]string `toml:"aliases"`
}

// KeyBindings is [console.keys] as the console takes it.
func (c ConsoleConfig) KeyBindings() map[string][]string {
	if len(c.Keys) == 0 {
		return nil
	}
	out := make(map[string][]string, len(c.Keys))
	for name, keys := range c.Keys {
		out[name] = keys
	}
	return out
}

// KeyList is one action's keys in [console.keys]: a string (quit = "Q")
// or an array of strings (filter = ["/", "ctrl+f"]).
type KeyList []string

// KeyListError starts the message of a value that is neither; main keeps
// it when it rewords the decoder's errors (it quotes no value).
const KeyListError = "expected a key or an array of keys"

// UnmarshalTOML takes either form; the decoder prefixes the key and line.
func (l *KeyList) UnmarshalTOML(v any) error {
	switch v := v.(type) {
	case string:
		*l = KeyList{v}
		return nil
	case []any:
		keys := make(KeyList, 0, len(v))
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				return fmt.Errorf("%s (\"q\" or [\"/\", \"ctrl+f\"]), got an array holding %s", KeyListError, tomlKind(e))
			}
			keys = append(keys, s)
		}
		*l = keys
		return nil
	}
	return fmt.Errorf("%s (\"q\" or [\"/\", \"ctrl+f\"]), got %s", KeyListError, tomlKind(v))
}

// tomlKind names a decoded TOML value's type, never the value: a mistyped
// line may be a secret.
func tomlKind(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "true or false"
	case map[string]any:
		return "a table"
	case []any, []map[string]any:
		return "an array"
	}
	return "a date or time"
}

// RecordDefaults prefill the console's recording form; the console checks
// the values (names the key and what it expected).
type RecordDefaults struct {
	Name       string `toml:"name"`
	OutputMode string `toml:"output_mode"`
	Resolution string `toml:"resolution"`
	Layout     string `toml:"layout"`
}

// Environment variables that override the file. A group's own signature
// secret is EnvSignatureSecret + "_" + the group in upper case
// (GAVEL_SIGNATURE_SECRET_ARCHIVE): see SignatureSecretEnv.
const (
	EnvRelaySecret     = "GAVEL_RELAY_SECRET"
	EnvSignatureSecret = "GAVEL_SIGNATURE_SECRET"
	EnvRelayURL        = "GAVEL_RELAY_URL"
	EnvRelayToken      = "GAVEL_RELAY_TOKEN"
)

// DefaultRelayConfig is the [relay] section when the file says nothing;
// stateDir is $XDG_STATE_HOME/gavel (or ~/.local/state/gavel).
func DefaultRelayConfig(stateDir string) RelayConfig {
	return RelayConfig{Listen: "127.0.0.1:8080", DataDir: stateDir + "/relay", MaxCallbackBytes: 256 << 10, ReconcileInterval: cli.Duration{Duration: time.Minute}}
}

// ApplyEnv lets GAVEL_* variables override the file's secrets and URLs.
func (c *RelayConfig) ApplyEnv(getenv func(string) string) {
	if v := getenv(EnvRelaySecret); v != "" {
		c.Secret = v
	}
	if v := getenv(EnvSignatureSecret); v != "" {
		c.SignatureSecret = v
	}
	// Only the known groups are looked up: the environment cannot be
	// listed through getenv, so a misspelt variable goes unnoticed (a
	// misspelt file key does not: serverConfig refuses it).
	for _, g := range events.Groups() {
		if v := getenv(SignatureSecretEnv(g)); v != "" {
			if c.SignatureSecrets == nil {
				c.SignatureSecrets = map[string]string{}
			}
			c.SignatureSecrets[string(g)] = v
		}
	}
}

// SignatureSecretEnv is the variable that sets group's own signature
// secret: GAVEL_SIGNATURE_SECRET_ARCHIVE for the archive group.
func SignatureSecretEnv(group events.Group) string {
	return EnvSignatureSecret + "_" + strings.ToUpper(string(group))
}

// serverConfig is the relay's configuration from the [relay] section, with
// secret to sign console tokens. A mistake in it is a *cli.ConfigError
// (exit 2) naming the key.
func (c RelayConfig) serverConfig(secret []byte, logger *slog.Logger) (relay.Config, error) {
	var perGroup map[events.Group]string
	if len(c.SignatureSecrets) > 0 {
		perGroup = make(map[events.Group]string, len(c.SignatureSecrets))
		for k, v := range c.SignatureSecrets {
			perGroup[events.Group(k)] = v
		}
	}
	if err := relay.CheckSignatureSecrets(perGroup); err != nil {
		return relay.Config{}, &cli.ConfigError{Err: fmt.Errorf("config: relay.%w", err)}
	}
	return relay.Config{
		Listen:           c.Listen,
		DataDir:          c.DataDir,
		NatsURL:          c.NatsURL,
		Secret:           secret,
		SignatureSecret:  c.SignatureSecret,
		SignatureSecrets: perGroup,
		MaxCallbackBytes: c.MaxCallbackBytes,
		Reconcile:        c.ReconcileInterval.Duration,
		Name:             c.Name,
		Logger:           logger,
	}, nil
}

// ApplyEnv lets GAVEL_RELAY_URL and GAVEL_RELAY_TOKEN override the file.
func (c *ConsoleConfig) ApplyEnv(getenv func(string) string) {
	if v := getenv(EnvRelayURL); v != "" {
		c.Relay = v
	}
	if v := getenv(EnvRelayToken); v != "" {
		c.Token = v
	}
}

// Env is what the commands need from main.
type Env struct {
	// Load reads the config file and the environment.
	Load func() (RelayConfig, ConsoleConfig, error)
	// Client builds a Video API client; an error means the relay runs
	// watch-only (it says so).
	Client func() (*opentok.Client, error)
	Stdout io.Writer
	Stderr io.Writer
	// JSON is the global --json flag (nil: off).
	JSON *bool
}

// Commands returns `relay` (with `relay token`) and `events`.
func Commands(env Env) []*cobra.Command {
	return []*cobra.Command{relayCmd(env), eventsCmd(env)}
}

func relayCmd(env Env) *cobra.Command {
	var listen, dataDir, natsURL string
	var verbose bool
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Run the relay: receive callbacks, keep them durably, serve consoles",
		Long: "Run the relay service. Register http(s)://HOST/v1/callbacks/session (and …/archive,\n" +
			"…/broadcast) as the Video API's callback URLs. Consoles connect to ws(s)://HOST/v1/stream\n" +
			"with a token from `gavel relay token`. Callbacks are appended to a JetStream log under\n" +
			"the data directory before they are acknowledged; a restarted relay resumes where it was.\n" +
			"Needs relay.secret (or GAVEL_RELAY_SECRET) to sign console tokens; with Video API\n" +
			"credentials it also executes moderation commands and reconciles every minute.\n" +
			"relay.signature_secret (GAVEL_SIGNATURE_SECRET) makes it refuse unsigned callbacks;\n" +
			"[relay.signature_secrets] (GAVEL_SIGNATURE_SECRET_ARCHIVE, …) gives a group its own secret.",
		Example: "  GAVEL_RELAY_SECRET=$(openssl rand -hex 32) gavel relay --listen :8080 --data /var/lib/gavel",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rc, _, err := env.Load()
			if err != nil {
				return &cli.ConfigError{Err: err}
			}
			flags := cmd.Flags()
			if flags.Changed("listen") {
				rc.Listen = listen
			}
			if flags.Changed("data") {
				rc.DataDir = dataDir
			}
			if flags.Changed("nats-url") {
				rc.NatsURL = natsURL
			}
			level := slog.LevelInfo
			if verbose {
				level = slog.LevelDebug
			}
			logger := slog.New(slog.NewJSONHandler(env.Stderr, &slog.HandlerOptions{Level: level}))
			client, cerr := env.Client()
			if cerr != nil {
				logger.Warn("no Video API credentials: the relay watches but cannot act or reconcile", "why", cerr.Error())
				client = nil
			}
			// The relay logs, once listening, whose callbacks it verifies.
			cfg, err := rc.serverConfig([]byte(rc.Secret), logger)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if cfg.Listen == "" {
				cfg.Listen = DefaultRelayConfig("").Listen
			}
			// Listen first, as StartEmbedded does: a taken address fails
			// before the log is opened.
			ln, err := net.Listen("tcp", cfg.Listen)
			if err != nil {
				return listenError("relay", cfg.Listen, err)
			}
			srv, err := relay.NewServer(ctx, cfg, client)
			if err != nil {
				_ = ln.Close()
				return startError(err)
			}
			printListening(env.Stdout, ln.Addr().(*net.TCPAddr))
			return srv.Serve(ctx, ln)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "", "address to listen on (default relay.listen, 127.0.0.1:8080)")
	f.StringVar(&dataDir, "data", "", "data directory for the log and snapshots (default relay.data_dir)")
	f.StringVar(&natsURL, "nats-url", "", "external NATS server with JetStream, for several relays (default: embedded)")
	f.BoolVarP(&verbose, "verbose", "v", false, "debug logging")
	cmd.AddCommand(tokenCmd(env))
	return cmd
}

func tokenCmd(env Env) *cobra.Command {
	var name, role string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "token --name NAME --role viewer|moderator|admin [--ttl 12h]",
		Short: "Mint a console token signed with the relay's secret",
		Long: "Mint a token a console presents to the relay. viewer: watch only; moderator: signal, mute,\n" +
			"unpublish, disconnect, record; admin: also mint client tokens and reconcile. It prints the bare\n" +
			"token (TOKEN=$(gavel relay token …)); with --json an object with its name, role and expiry.",
		Example: "  gavel relay token --name alice --role moderator --ttl 12h",
		Args:    cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			if name == "" {
				return &cli.UsageError{Err: errors.New("--name is required: it is who the audit trail names")}
			}
			if strings.TrimSpace(name) == "" {
				return &cli.UsageError{Err: errors.New("--name: blank; expected who the console belongs to (the audit trail names them)")}
			}
			r := events.Role(role)
			switch r {
			case events.RoleViewer, events.RoleModerator, events.RoleAdmin:
			default:
				return &cli.UsageError{Err: fmt.Errorf("--role: expected viewer, moderator or admin, got %q", role)}
			}
			if ttl <= 0 || ttl > 90*24*time.Hour {
				return &cli.UsageError{Err: fmt.Errorf("--ttl: expected a duration between 1s and 2160h (90 days), got %s", ttl)}
			}
			rc, _, err := env.Load()
			if err != nil {
				return &cli.ConfigError{Err: err}
			}
			if len(rc.Secret) < relay.MinSecretBytes {
				return &cli.ConfigError{Err: fmt.Errorf("relay.secret (or %s): expected at least %d bytes, got %d", EnvRelaySecret, relay.MinSecretBytes, len(rc.Secret))}
			}
			tok, err := relay.IssueToken([]byte(rc.Secret), name, r, ttl, time.Now())
			if err != nil {
				return err
			}
			if env.JSON == nil || !*env.JSON {
				fmt.Fprintln(env.Stdout, tok)
				return nil
			}
			// The claims as the relay will read them (IssueToken
			// truncates the times to seconds).
			claims, err := relay.VerifyToken([]byte(rc.Secret), tok, time.Now())
			if err != nil {
				return fmt.Errorf("relay token: read back: %w", err)
			}
			enc := json.NewEncoder(env.Stdout)
			enc.SetIndent("", "  ")
			if err := enc.Encode(tokenJSON{Token: tok, Name: claims.Name, Role: claims.Role, ExpiresAt: claims.Expires.UTC().Format(time.RFC3339)}); err != nil {
				return fmt.Errorf("relay token: write JSON: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "who the console belongs to (shown in the audit trail)")
	f.StringVar(&role, "role", string(events.RoleViewer), "viewer, moderator or admin")
	f.DurationVar(&ttl, "ttl", 12*time.Hour, "how long the token is valid")
	return cmd
}

// tokenJSON is `gavel relay token --json`, shaped like `gavel token --json`.
type tokenJSON struct {
	Token     string      `json:"token"`
	Name      string      `json:"name"`
	Role      events.Role `json:"role"`
	ExpiresAt string      `json:"expires_at"` // RFC 3339, UTC
}

func eventsCmd(env Env) *cobra.Command {
	var url, token string
	var since uint64
	cmd := &cobra.Command{
		Use:   "events [--relay URL] [--token T] [--since N]",
		Short: "Print the relay's stream as NDJSON, one frame per line (for jq and scripts)",
		Long: "Connect to a relay like a console and print every frame (hello, snapshot, event, audit) as\n" +
			"one JSON line. It resumes by sequence after any drop, so a pipe sees no gap and no\n" +
			"duplicate. --since N starts after sequence N instead of a snapshot (--since 0: the whole\n" +
			"log from seq 1, as far as the relay still holds it). Changes of the link (unreachable,\n" +
			"connected, resuming) are reported on stderr; stdout holds only the frames.",
		Example: "  gavel events --relay ws://127.0.0.1:8080/v1/stream --token $TOKEN | jq 'select(.type==\"event\")'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, cc, err := env.Load()
			if err != nil {
				return &cli.ConfigError{Err: err}
			}
			if cmd.Flags().Changed("relay") {
				cc.Relay = url
			}
			if cmd.Flags().Changed("token") {
				cc.Token = token
			}
			if cc.Relay == "" {
				return &cli.UsageError{Err: fmt.Errorf("no relay: pass --relay ws://HOST/v1/stream (or set console.relay or %s)", EnvRelayURL)}
			}
			if cc.Token == "" {
				return &cli.UsageError{Err: fmt.Errorf("no token: pass --token (from gavel relay token), or set console.token or %s", EnvRelayToken)}
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			enc := json.NewEncoder(env.Stdout)
			// --since 0 is a position too: the whole log, not a snapshot.
			resume := cmd.Flags().Changed("since")
			link := newLinkReport(env.Stderr, "gavel events", cc.Relay, since, resume)
			cfg := relayclient.Config{URL: cc.Relay, Token: cc.Token, Since: since, Resume: resume, OnStatus: link.status}
			err = relayclient.Run(ctx, cfg, func(f relayclient.Frame) error {
				link.frame(f)
				return enc.Encode(f.Raw)
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&url, "relay", "", "relay stream URL, ws(s)://HOST/v1/stream; a bare ws(s):// or http(s):// address means its stream (default console.relay)")
	f.StringVar(&token, "token", "", "console token (default console.token)")
	f.Uint64Var(&since, "since", 0, "start after this sequence number instead of with a snapshot (0: the whole log)")
	return cmd
}

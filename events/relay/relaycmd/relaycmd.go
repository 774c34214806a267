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
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/gavelhq/gavel/tui"
	"github.com/spf13/cobra"
)

// Env is what the commands need from main.
type Env struct {
	// Load reads the config file and the environment; its errors are
	// *exitcode.ConfigError.
	Load func() (config.Config, error)
	// Client builds a Video API client; an error means the relay runs
	// watch-only (it says so).
	Client func() (*opentok.Client, error)
	Stdout io.Writer
	Stderr io.Writer
	// JSON is the global --json flag (nil: off).
	JSON *bool
	// Console is what the SSH consoles start from ([console]: theme,
	// keys, aliases); its errors are *exitcode.ConfigError.
	Console func(config.Console) (tui.Options, error)
}

// Commands returns `relay` (with `relay token`), `events`, `ban` and
// `rules`.
func Commands(env Env) []*cobra.Command {
	return []*cobra.Command{relayCmd(env), eventsCmd(env), timelineCmd(env), banCmd(env), rulesCmd(env)}
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
			cfg, err := env.Load()
			if err != nil {
				return err
			}
			rc := cfg.Relay
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
			sc, err := rc.ServerConfig([]byte(rc.Secret), logger)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Listen first: a taken address fails before the log is opened.
			ln, err := net.Listen("tcp", sc.Listen)
			if err != nil {
				return listenError("relay", sc.Listen, err)
			}
			ssh, err := sshOf(env, cfg, sc.DataDir)
			if err != nil {
				_ = ln.Close()
				return err
			}
			r, err := relay.Start(ctx, ln, sc, client)
			if err != nil {
				ssh.close()
				return err
			}
			printListening(env.Stdout, ln.Addr().(*net.TCPAddr))
			sshDone, err := ssh.start(ctx, r.Server(), env.Stdout, logger)
			if err != nil {
				_ = r.Stop()
				return err
			}
			// SIGHUP reloads who may log in over SSH.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go func() {
				for {
					select {
					case <-ctx.Done():
						return
					case <-hup:
						ssh.reload(env.Load, logger)
					}
				}
			}()
			err = r.Wait()
			stop()
			return errors.Join(err, <-sshDone)
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
				return &exitcode.UsageError{Err: errors.New("--name is required: it is who the audit trail names")}
			}
			if strings.TrimSpace(name) == "" {
				return &exitcode.UsageError{Err: errors.New("--name: blank; expected who the console belongs to (the audit trail names them)")}
			}
			r := events.Role(role)
			switch r {
			case events.RoleViewer, events.RoleModerator, events.RoleAdmin:
			default:
				return &exitcode.UsageError{Err: fmt.Errorf("--role: expected viewer, moderator or admin, got %q", role)}
			}
			if ttl <= 0 || ttl > 90*24*time.Hour {
				return &exitcode.UsageError{Err: fmt.Errorf("--ttl: expected a duration between 1s and 2160h (90 days), got %s", ttl)}
			}
			cfg, err := env.Load()
			if err != nil {
				return err
			}
			secret, err := cfg.Relay.TokenSecret()
			if err != nil {
				return err
			}
			tok, err := relay.IssueToken(secret, name, r, ttl, time.Now())
			if err != nil {
				return err
			}
			if env.JSON == nil || !*env.JSON {
				fmt.Fprintln(env.Stdout, tok)
				return nil
			}
			// The claims as the relay will read them (IssueToken
			// truncates the times to seconds).
			claims, err := relay.VerifyToken(secret, tok, time.Now())
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
	var rf relayFlags
	var since uint64
	var duplicates bool
	cmd := &cobra.Command{
		Use:   "events [--relay URL] [--token T] [--since N] [--duplicates]",
		Short: "Print the relay's stream as NDJSON, one frame per line (for jq and scripts)",
		Long: "Connect to a relay like a console and print every frame (hello, snapshot, event, audit) as\n" +
			"one JSON line. It resumes by sequence after any drop, so a pipe sees no gap and no\n" +
			"duplicate. --since N starts after sequence N instead of a snapshot (--since 0: the whole\n" +
			"log from seq 1, as far as the relay still holds it). A callback the Video API sent again\n" +
			"after the log's duplicate window (it retries for up to a day) has a seq of its own but is\n" +
			"left out, as the console leaves it out; --duplicates prints it, marked \"duplicate\": true.\n" +
			"Changes of the link (unreachable, connected, resuming) are reported on stderr; stdout holds\n" +
			"only the frames.",
		Example: "  gavel events --relay ws://127.0.0.1:8080/v1/stream --token $TOKEN | jq 'select(.type==\"event\")'",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cc, err := rf.target(cmd, env)
			if err != nil {
				return err
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
				if f.Event != nil && f.Event.Duplicate && !duplicates {
					return nil
				}
				return enc.Encode(f.Raw)
			})
			if errors.Is(err, context.Canceled) {
				return nil
			}
			return err
		},
	}
	rf.register(cmd)
	f := cmd.Flags()
	f.Uint64Var(&since, "since", 0, "start after this sequence number instead of with a snapshot (0: the whole log)")
	f.BoolVar(&duplicates, "duplicates", false, "also print late retries of callbacks already printed (marked \"duplicate\": true)")
	return cmd
}

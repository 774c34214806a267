package cli

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/spf13/cobra"
)

func sessionCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "session",
		Short: "Create sessions and decode session IDs",
	}
	cmd.AddCommand(sessionCreateCmd(env), sessionInfoCmd(env))
	return cmd
}

func sessionCreateCmd(env *Env) *cobra.Command {
	var (
		routed      bool
		archiveMode string
		opts        opentok.SessionOptions
	)
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a session and print its ID",
		Long: "Create a session. Sessions are relayed (peer to peer) unless --routed; archiving, broadcasting,\n" +
			"captions, SIP and force-mute need a routed session. Sessions never expire; only tokens do.",
		Example: "  gavel session create --routed\n  gavel session create --routed --archive-mode always --archive-name standup",
		Args:    exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if routed {
				opts.MediaMode = opentok.Routed
			}
			switch archiveMode {
			case "manual", "always":
				opts.ArchiveMode = opentok.ArchiveMode(archiveMode)
			default:
				return usagef("--archive-mode: expected manual or always, got %q", archiveMode)
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			s, err := c.Sessions.Create(ctx(cmd), opts)
			if err != nil {
				return err
			}
			return env.emit(s, func(w io.Writer) {
				mode := "relayed"
				if routed {
					mode = "routed"
				}
				fmt.Fprintf(w, "%s\n", s.ID)
				fmt.Fprintf(w, "created a %s session (archive mode %s); mint a token with: gavel token %s\n", mode, archiveMode, s.ID)
			})
		},
	}
	f := cmd.Flags()
	f.BoolVar(&routed, "routed", false, "route media through the Video API (needed for archiving, broadcasts, captions, SIP)")
	f.StringVar(&archiveMode, "archive-mode", "manual", "manual, or always to record whenever someone publishes (needs --routed)")
	f.StringVar(&opts.ArchiveName, "archive-name", "", "name of automatic archives (with --archive-mode always)")
	f.StringVar(&opts.ArchiveResolution, "archive-resolution", "", "resolution of automatic archives, e.g. 1280x720 (with --archive-mode always)")
	f.StringVar(&opts.Location, "location", "", "IPv4 address used as a location hint for the media server")
	f.BoolVar(&opts.E2EE, "e2ee", false, "end-to-end encrypt media (needs --routed; not with --archive-mode always)")
	return cmd
}

func sessionInfoCmd(env *Env) *cobra.Command {
	return &cobra.Command{
		Use:   "info SESSION",
		Short: "Decode what a session ID tells: project, location hint, creation time",
		Long: "Decode a session ID offline. The format is undocumented, so this is a best-effort\n" +
			"reading for display; it makes no API call and needs no credentials.",
		Args: exactArgs("SESSION"),
		RunE: func(_ *cobra.Command, args []string) error {
			info, err := opentok.DecodeSessionID(args[0])
			if err != nil {
				return &exitcode.UsageError{Err: fmt.Errorf("session info: %w", err)}
			}
			return env.emit(info, func(w io.Writer) {
				created := "unknown"
				if !info.CreatedAt.IsZero() {
					created = info.CreatedAt.UTC().Format(time.RFC3339)
				}
				location := info.Location
				if location == "" {
					location = "none"
				}
				table(w, []string{"project", "location", "created"}, [][]string{{info.ProjectID, location, created}})
			})
		},
	}
}

func tokenCmd(env *Env) *cobra.Command {
	var (
		role, layout string
		t1           bool
		opts         opentok.TokenOptions
	)
	cmd := &cobra.Command{
		Use:   "token SESSION",
		Short: "Mint a client token for a session",
		Long: "Mint a client token that a client passes to session.connect. Tokens are JWTs unless --t1\n" +
			"asks for the legacy T1 format (project credentials only). Roles: subscriber, publisher,\n" +
			"publisheronly, moderator. Minting is local: no API call is made.",
		Example: "  gavel token 1_MX4… --role moderator --data '{\"name\":\"Ana\"}' --ttl 2h",
		Args:    exactArgs("SESSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := opentok.ParseRole(role)
			if err != nil {
				return usagef("--role: %v", err)
			}
			opts.Role = r
			opts.Legacy = t1
			if layout != "" {
				opts.InitialLayoutClassList = strings.Split(layout, ",")
			}
			c, err := env.client()
			if err != nil {
				return err
			}
			tok, err := c.Token(args[0], opts)
			if err != nil {
				return err
			}
			return env.emit(map[string]any{
				"token": tok.Value, "session_id": tok.SessionID, "role": tok.Role, "expires_at": tok.ExpiresAt.UTC().Format(time.RFC3339),
			}, func(w io.Writer) {
				fmt.Fprintln(w, tok.Value)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", string(opentok.RolePublisher), "subscriber, publisher, publisheronly or moderator")
	f.StringVar(&opts.Data, "data", "", "connection data (at most 1000 characters), returned in callbacks as connection.data")
	f.DurationVar(&opts.TTL, "ttl", 24*time.Hour, "how long the token is valid (at most 720h, 30 days)")
	f.StringVar(&layout, "layout", "", "initial layout classes, comma-separated")
	f.BoolVar(&t1, "t1", false, "legacy T1 token instead of a JWT (project credentials only)")
	return cmd
}

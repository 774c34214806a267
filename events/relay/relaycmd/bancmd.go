package relaycmd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/spf13/cobra"
)

// relayFlags are how a command that talks to a relay like a console finds
// it: --relay and --token over console.relay and console.token.
type relayFlags struct {
	url, token string
}

func (f *relayFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.url, "relay", "", "relay stream URL, ws(s)://HOST/v1/stream; a bare ws(s):// or http(s):// address means its stream (default console.relay)")
	cmd.Flags().StringVar(&f.token, "token", "", "console token (default console.token)")
}

// target resolves the relay and token, or says which is missing.
func (f *relayFlags) target(cmd *cobra.Command, env Env) (config.Console, error) {
	loaded, err := env.Load()
	if err != nil {
		return config.Console{}, err
	}
	cc := loaded.Console
	if cmd.Flags().Changed("relay") {
		cc.Relay = f.url
	}
	if cmd.Flags().Changed("token") {
		cc.Token = f.token
	}
	if cc.Relay == "" {
		return cc, &exitcode.UsageError{Err: fmt.Errorf("no relay: pass --relay ws://HOST/v1/stream (or set console.relay or %s)", config.EnvRelayURL)}
	}
	if cc.Token == "" {
		return cc, &exitcode.UsageError{Err: fmt.Errorf("no token: pass --token (from gavel relay token), or set console.token or %s", config.EnvRelayToken)}
	}
	return cc, nil
}

// relayTimeout bounds one ban command's conversation with the relay.
const relayTimeout = 30 * time.Second

// atRelay connects to the relay as a console, reads its snapshot and
// calls fn with the connection and the snapshot's last part (which
// carries the bans and the rules in force).
func atRelay(cmd *cobra.Command, cc config.Console, fn func(ctx context.Context, conn *relayclient.Conn, last *events.SnapshotFrame) error) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, relayTimeout)
	defer cancel()
	conn, err := relayclient.Dial(ctx, relayclient.Config{URL: cc.Relay, Token: cc.Token})
	if err != nil {
		return fmt.Errorf("relay %s: %w", cc.Relay, err)
	}
	defer conn.Close()
	closeOnCancel := context.AfterFunc(ctx, func() { conn.Close() })
	defer closeOnCancel()
	for {
		f, err := conn.Next()
		if err != nil {
			return fmt.Errorf("relay %s: reading its snapshot: %w", cc.Relay, errors.Join(ctx.Err(), err))
		}
		if f.Snapshot != nil && f.Snapshot.Part >= f.Snapshot.Parts {
			return fn(ctx, conn, f.Snapshot)
		}
	}
}

// send sends cmd and waits for its result; a refusal is an error in the
// relay's words.
func send(ctx context.Context, conn *relayclient.Conn, cmd events.Command) (events.Result, error) {
	var id [6]byte
	_, _ = rand.Read(id[:])
	cmd.ID = "cli-" + hex.EncodeToString(id[:])
	if err := conn.Send(cmd); err != nil {
		return events.Result{}, err
	}
	for {
		f, err := conn.Next()
		if err != nil {
			return events.Result{}, fmt.Errorf("waiting for the relay's answer: %w", errors.Join(ctx.Err(), err))
		}
		if f.Result == nil || f.Result.ID != cmd.ID {
			continue
		}
		if !f.Result.OK {
			return *f.Result, fmt.Errorf("%s refused (%d): %s", cmd.Action, f.Result.Error.Status, f.Result.Error.Message)
		}
		return *f.Result, nil
	}
}

func banCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ban",
		Short: "Ban someone from a session or every session, list bans, lift one (over the relay)",
		Long: "Bans are kept by the relay, in its log: a banned identity (connection data userId, else name,\n" +
			"as relay.rules.ban_identity says) that connects is signalled gavel-banned and disconnected at\n" +
			"once, until the ban expires (at most 720h) or is lifted. Each command talks to the relay as a\n" +
			"console does (--relay and --token, or console.relay and console.token); banning and lifting\n" +
			"need a moderator's or admin's token, listing any.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(banAddCmd(env), banListCmd(env), banLiftCmd(env))
	return cmd
}

// overRelay makes cmd talk to the relay as a console: --relay and --token,
// then run with the connection and the snapshot's last part. Flags are
// checked (cmd.PreRunE) before anything connects.
func overRelay(env Env, cmd *cobra.Command, run func(ctx context.Context, conn *relayclient.Conn, last *events.SnapshotFrame, args []string) error) *cobra.Command {
	var rf relayFlags
	cmd.RunE = func(c *cobra.Command, args []string) error {
		cc, err := rf.target(c, env)
		if err != nil {
			return err
		}
		return atRelay(c, cc, func(ctx context.Context, conn *relayclient.Conn, last *events.SnapshotFrame) error {
			return run(ctx, conn, last, args)
		})
	}
	rf.register(cmd)
	return cmd
}

func banAddCmd(env Env) *cobra.Command {
	var session, match, reason string
	var all bool
	var dur time.Duration
	cmd := overRelay(env, &cobra.Command{
		Use:     "add (--session S | --all) --match VALUE --for DURATION [--reason R]",
		Short:   "Ban an identity: disconnected now and whenever they come back",
		Example: "  gavel ban add --session 1_MX4… --match Troll --for 24h --reason 'spam in chat'",
		Args:    cobra.NoArgs,
		PreRunE: func(*cobra.Command, []string) error {
			switch {
			case (session == "") == !all:
				return &exitcode.UsageError{Err: errors.New("--session S or --all: say where the ban applies (one of them)")}
			case strings.TrimSpace(match) == "":
				return &exitcode.UsageError{Err: errors.New("--match: the identity to ban (connection data userId or name)")}
			case dur <= 0 || dur > events.MaxBanFor:
				return &exitcode.UsageError{Err: fmt.Errorf("--for %s: expected a duration from 1s to 720h", dur)}
			}
			return nil
		},
	}, func(ctx context.Context, conn *relayclient.Conn, _ *events.SnapshotFrame, _ []string) error {
		params, _ := json.Marshal(events.CommandParams{Match: match, All: all, For: dur.String(), Reason: reason})
		res, err := send(ctx, conn, events.Command{Action: events.ActionBan, Session: session, Params: params})
		if err != nil {
			return err
		}
		var answer struct{ Ban events.Ban }
		if err := json.Unmarshal(res.Data, &answer); err != nil {
			return fmt.Errorf("the relay's answer: %w", err)
		}
		if env.JSON != nil && *env.JSON {
			return json.NewEncoder(env.Stdout).Encode(answer.Ban)
		}
		b := answer.Ban
		_, err = fmt.Fprintf(env.Stdout, "Banned %s from %s until %s (%s).\nLift it: gavel ban lift %s\n",
			printable(b.Identity), scope(b), b.Expires.UTC().Format("2006-01-02 15:04 MST"), b.ID, b.ID)
		return err
	})
	f := cmd.Flags()
	f.StringVar(&session, "session", "", "the session the ban applies to")
	f.BoolVar(&all, "all", false, "apply the ban to every session")
	f.StringVar(&match, "match", "", "the identity to ban: the connection data's userId, or its name")
	f.DurationVar(&dur, "for", 24*time.Hour, "how long the ban lasts (at most 720h)")
	f.StringVar(&reason, "reason", "", "why, for the audit trail and the banned person's app (at most 200 bytes)")
	return cmd
}

func banListCmd(env Env) *cobra.Command {
	return overRelay(env, &cobra.Command{
		Use:   "list",
		Short: "List the bans in force, soonest to expire first",
		Args:  cobra.NoArgs,
	}, func(_ context.Context, _ *relayclient.Conn, last *events.SnapshotFrame, _ []string) error {
		bans := last.Bans
		if env.JSON != nil && *env.JSON {
			if bans == nil {
				bans = []events.Ban{}
			}
			return json.NewEncoder(env.Stdout).Encode(bans)
		}
		if len(bans) == 0 {
			_, err := fmt.Fprintln(env.Stdout, "No bans in force.")
			return err
		}
		tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tIDENTITY\tSCOPE\tEXPIRES IN\tBY\tREASON")
		now := time.Now()
		for _, b := range bans {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", b.ID, printable(b.Identity), scope(b),
				b.Expires.Sub(now).Round(time.Minute), printable(b.By), printable(b.Reason))
		}
		return tw.Flush()
	})
}

func banLiftCmd(env Env) *cobra.Command {
	return overRelay(env, &cobra.Command{
		Use:   "lift ID",
		Short: "Lift a ban (its ID from gavel ban list)",
		Args:  cobra.ExactArgs(1),
	}, func(ctx context.Context, conn *relayclient.Conn, _ *events.SnapshotFrame, args []string) error {
		params, _ := json.Marshal(events.CommandParams{Ban: args[0]})
		if _, err := send(ctx, conn, events.Command{Action: events.ActionUnban, Params: params}); err != nil {
			return err
		}
		_, err := fmt.Fprintf(env.Stdout, "Lifted %s.\n", args[0])
		return err
	})
}

func scope(b events.Ban) string {
	if b.Session == "" {
		return "every session"
	}
	return "session " + printable(b.Session)
}

// printable keeps untrusted text (identities come from connection data)
// from driving the terminal: control characters become '?'.
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return '?'
		}
		return r
	}, s)
}

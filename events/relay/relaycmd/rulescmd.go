package relaycmd

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/spf13/cobra"
)

func rulesCmd(env Env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Show or change the rules the relay enforces (the connection cap), over the relay",
		Long: "The rules live in the relay's log: every relay and console on it agrees on them and a restart\n" +
			"keeps them. [relay.rules] in the relay's config puts them in force at start when the config\n" +
			"changed since it last did; `gavel rules set` changes them live (a moderator's or admin's token),\n" +
			"and the change stands until the config changes. Every change is in the audit trail.",
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(rulesShowCmd(env), rulesSetCmd(env))
	return cmd
}

func rulesShowCmd(env Env) *cobra.Command {
	return overRelay(env, &cobra.Command{
		Use:   "show",
		Short: "Show the rules in force, who put them there and when",
		Args:  cobra.NoArgs,
	}, func(_ context.Context, _ *relayclient.Conn, last *events.SnapshotFrame, _ []string) error {
		in := last.Rules
		if env.JSON != nil && *env.JSON {
			return json.NewEncoder(env.Stdout).Encode(in)
		}
		if in == nil {
			_, err := fmt.Fprintln(env.Stdout, "No rules in force: no cap.")
			return err
		}
		r := in.Rules
		var b strings.Builder
		fmt.Fprintf(&b, "%s\n", r.Summary())
		if len(r.CapExempt) > 0 {
			fmt.Fprintf(&b, "exempt roles: %s\n", printable(strings.Join(r.CapExempt, ", ")))
		}
		for _, id := range slices.Sorted(maps.Keys(r.SessionCaps)) {
			fmt.Fprintf(&b, "session %s: cap %d\n", printable(id), r.SessionCaps[id])
		}
		fmt.Fprintf(&b, "put in force by %s at %s\n", printable(in.By), in.At.UTC().Format(time.RFC3339))
		_, err := fmt.Fprint(env.Stdout, b.String())
		return err
	})
}

func rulesSetCmd(env Env) *cobra.Command {
	var maxConns int
	var enforce, dryRun bool
	var grace time.Duration
	var exempt, caps, uncap []string
	cmd := &cobra.Command{
		Use:   "set [--max-connections N] [--enforce[=false]] [--grace D] [--exempt ROLE,…] [--session-cap ID=N] [--no-session-cap ID] [--dry-run[=false]]",
		Short: "Change the rules in force; what a flag does not name stays as it is",
		Example: "  gavel rules set --max-connections 1500 --enforce --grace 2s\n" +
			"  gavel rules set --session-cap 1_MX4…=3000",
		Args: cobra.NoArgs,
	}
	parseCaps := func() (map[string]int, error) {
		out := map[string]int{}
		for _, c := range caps {
			id, n, ok := strings.Cut(c, "=")
			v, err := strconv.Atoi(n)
			if !ok || id == "" || err != nil || v < 1 {
				return nil, &exitcode.UsageError{Err: fmt.Errorf("--session-cap %q: expected SESSION_ID=N with N at least 1", c)}
			}
			out[id] = v
		}
		return out, nil
	}
	cmd.PreRunE = func(c *cobra.Command, _ []string) error {
		if c.Flags().NFlag() == 0 || !slices.ContainsFunc([]string{"max-connections", "enforce", "grace", "exempt", "session-cap", "no-session-cap", "dry-run"}, c.Flags().Changed) {
			return &exitcode.UsageError{Err: fmt.Errorf("nothing to change: name at least one rule (see gavel rules set --help)")}
		}
		if maxConns < 0 {
			return &exitcode.UsageError{Err: fmt.Errorf("--max-connections %d: expected 0 (no cap) or more", maxConns)}
		}
		if grace < 0 || grace > time.Minute {
			return &exitcode.UsageError{Err: fmt.Errorf("--grace %s: expected 0s to 1m", grace)}
		}
		_, err := parseCaps()
		return err
	}
	overRelay(env, cmd, func(ctx context.Context, conn *relayclient.Conn, last *events.SnapshotFrame, _ []string) error {
		var r events.Rules
		if last.Rules != nil {
			r = last.Rules.Rules
		}
		f := cmd.Flags()
		if f.Changed("max-connections") {
			r.MaxConnections = maxConns
		}
		if f.Changed("enforce") {
			r.EnforceCap = enforce
		}
		if f.Changed("grace") {
			r.CapGraceMS = grace.Milliseconds()
		}
		if f.Changed("exempt") {
			r.CapExempt = exempt
		}
		if f.Changed("dry-run") {
			r.DryRun = dryRun
		}
		add, _ := parseCaps() // checked in PreRunE
		if len(add) > 0 || len(uncap) > 0 {
			next := maps.Clone(r.SessionCaps)
			if next == nil {
				next = map[string]int{}
			}
			maps.Copy(next, add)
			for _, id := range uncap {
				delete(next, id)
			}
			r.SessionCaps = next
		}
		params, _ := json.Marshal(events.CommandParams{Rules: &r})
		if _, err := send(ctx, conn, events.Command{Action: events.ActionRules, Params: params}); err != nil {
			return err
		}
		_, err := fmt.Fprintf(env.Stdout, "Rules in force: %s.\n", r.Summary())
		return err
	})
	fl := cmd.Flags()
	fl.IntVar(&maxConns, "max-connections", 0, "every session's cap on connections (0: no cap)")
	fl.BoolVar(&enforce, "enforce", false, "remove the newest non-exempt connections over the cap (false: flag only)")
	fl.DurationVar(&grace, "grace", 0, "between the gavel-room-full signal and the disconnect (0s to 1m)")
	fl.StringSliceVar(&exempt, "exempt", nil, "connection-data roles the cap never removes (replaces the list)")
	fl.StringArrayVar(&caps, "session-cap", nil, "a session's own cap, SESSION_ID=N (repeatable)")
	fl.StringArrayVar(&uncap, "no-session-cap", nil, "drop a session's own cap (repeatable)")
	fl.BoolVar(&dryRun, "dry-run", false, "audit what the cap would do, and do nothing")
	return cmd
}

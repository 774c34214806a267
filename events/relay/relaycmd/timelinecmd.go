package relaycmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok/cli/exitcode"
	"github.com/gavelhq/gavel/tui"
	"github.com/spf13/cobra"
)

func timelineCmd(env Env) *cobra.Command {
	var rf relayFlags
	var from, to, format string
	var utc bool
	cmd := &cobra.Command{
		Use:   "timeline SESSION [--from T] [--to T] [--format table|ndjson|csv|md] [--utc]",
		Short: "Print what happened in one session, from the relay's log: the incident report",
		Long: "Read the relay's log from its first record to its last (as a console would, with the same\n" +
			"URL and token as gavel events) and print one line per thing that happened in SESSION:\n" +
			"joins, leaves and why (left, kicked, lost network, banned, room full), publishing,\n" +
			"recordings, moderators' actions with who and the outcome, and alerts, each with the number\n" +
			"of connections after it. --format md is a summary ready to paste into an incident report:\n" +
			"peak size, moderation actions, drops, and a chart of connections over time.\n\n" +
			"Times are in the local zone with its offset (--utc: UTC). --from and --to take a time of\n" +
			"day (15:04 or 15:04:05, today), a date and time (2006-01-02 15:04, or RFC 3339), or a\n" +
			"time before now (-10m, -2h).",
		Example: "  gavel timeline 1_MX4… --from -1h --format md > incident.md\n" +
			"  gavel timeline 1_MX4… --format csv --utc > townhall.csv",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := tui.CheckTimelineFormat(format); err != nil {
				return &exitcode.UsageError{Err: fmt.Errorf("--format: %w", err)}
			}
			loc := time.Local
			if utc {
				loc = time.UTC
			}
			now := time.Now()
			fromT, err := tui.ParseMoment(from, now, loc)
			if err != nil {
				return &exitcode.UsageError{Err: fmt.Errorf("--from: %w", err)}
			}
			toT, err := tui.ParseMoment(to, now, loc)
			if err != nil {
				return &exitcode.UsageError{Err: fmt.Errorf("--to: %w", err)}
			}
			if !fromT.IsZero() && !toT.IsZero() && toT.Before(fromT) {
				return &exitcode.UsageError{Err: fmt.Errorf("--to %s is before --from %s", to, from)}
			}
			cc, err := rf.target(cmd, env)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			b := tui.NewTimelineBuilder(args[0], fromT, toT)
			if err := readWholeLog(ctx, env, cc.Relay, cc.Token, b.Add); err != nil {
				return err
			}
			return b.Timeline().Write(env.Stdout, format, loc)
		},
	}
	rf.register(cmd)
	f := cmd.Flags()
	f.StringVar(&from, "from", "", "leave out what happened before this time")
	f.StringVar(&to, "to", "", "leave out what happened after this time")
	f.StringVar(&format, "format", "table", "table, ndjson, csv or md")
	f.BoolVar(&utc, "utc", false, "print times in UTC, not the local zone")
	return cmd
}

// errWholeLog ends a read of the log at the head it had when it began.
var errWholeLog = errors.New("read to the head")

// readWholeLog hands every record of the relay's log to add, oldest
// first, up to the last one the relay had when the read began, and
// returns. A link down for longer than relayclient's stale limit ends
// the read with why: a report must not stop silently half-way.
func readWholeLog(ctx context.Context, env Env, url, token string, add func(relayclient.Frame)) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	link := newLinkReport(env.Stderr, "gavel timeline", url, 0, true)
	var head uint64
	var started bool
	cfg := relayclient.Config{URL: url, Token: token, Since: 0, Resume: true, OnStatus: func(s relayclient.Status) {
		link.status(s)
		if s.State == relayclient.Stale {
			cancel(fmt.Errorf("relay %s: %w", url, s.Err))
		}
	}}
	err := relayclient.Run(ctx, cfg, func(f relayclient.Frame) error {
		link.frame(f)
		if f.Hello != nil && !started {
			started, head = true, f.Hello.LastSeq
		}
		add(f)
		if started && (head == 0 || f.Seq() >= head) {
			return errWholeLog
		}
		return nil
	})
	switch {
	case errors.Is(err, errWholeLog):
		return nil
	case context.Cause(ctx) != nil && !errors.Is(context.Cause(ctx), context.Canceled):
		return context.Cause(ctx)
	}
	return err
}

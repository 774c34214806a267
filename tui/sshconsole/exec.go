package sshconsole

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"

	"charm.land/ssh"
	"charm.land/wish/v2"

	"github.com/gavelhq/gavel/events/relayclient"
)

// execUsage is what an exec request may ask.
const execUsage = "events [--since N] [--duplicates]  the relay's frames as JSON lines, as `gavel events` prints them\n" +
	"(no command)                      the console (ssh -t)\n"

// exec answers an exec request (`ssh -p 2222 relay events`) before the
// console middleware would: scripts get the stream with nothing but a key.
func (s *Server) exec(next ssh.Handler) ssh.Handler {
	return func(sess ssh.Session) {
		cmd := sess.Command()
		if len(cmd) == 0 {
			next(sess)
			return
		}
		switch cmd[0] {
		case "events":
			s.events(sess, cmd[1:])
		case "help", "--help", "-h":
			_, _ = io.WriteString(sess, execUsage)
		default:
			wish.Fatalf(sess, "gavel: unknown command %q; what ssh may ask:\n%s", cmd[0], execUsage)
		}
	}
}

// events streams the relay's frames to the session, one JSON line each,
// resuming by seq as `gavel events` does, until the client hangs up.
func (s *Server) events(sess ssh.Session, args []string) {
	fs := flag.NewFlagSet("events", flag.ContinueOnError)
	fs.SetOutput(sess.Stderr())
	since := fs.Uint64("since", 0, "start after this sequence number instead of with a snapshot (0: the whole log)")
	duplicates := fs.Bool("duplicates", false, "also print late retries of callbacks already printed")
	if err := fs.Parse(args); err != nil {
		_ = sess.Exit(2)
		return
	}
	resume := false
	fs.Visit(func(f *flag.Flag) { resume = resume || f.Name == "since" })
	u := userOfSession(sess)
	m := s.relay.Metrics()
	m.SSHSession("events", 1)
	defer m.SSHSession("events", -1)
	s.logger.Info("ssh events stream opened", "user", u.Name, "since", *since, "resume", resume)
	enc := json.NewEncoder(sess)
	cfg := relayclient.Config{Connect: connector(s.relay.Hub(), claims(u)), Since: *since, Resume: resume}
	err := relayclient.Run(sess.Context(), cfg, func(f relayclient.Frame) error {
		if f.Event != nil && f.Event.Duplicate && !*duplicates {
			return nil
		}
		return enc.Encode(f.Raw)
	})
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(sess.Stderr(), "gavel: %v\n", err)
		_ = sess.Exit(1)
		return
	}
	_ = sess.Exit(0)
}

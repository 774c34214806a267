package relaycmd

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gorilla/websocket"
)

// linkReport tells a headless reader (gavel events) on stderr how its link
// to the relay is doing, so a pipe that has gone quiet says why while
// stdout stays pure frames. It writes a line when the link comes up
// (where it resumes), goes down, turns stale, and when an outage has a
// new reason — never one per retry.
//
// Both of its methods are called on relayclient.Run's goroutine: status
// as OnStatus, frame from the frame handler, so they share state unlocked.
type linkReport struct {
	w      io.Writer
	prefix string // "gavel events"
	url    string

	hello   *events.Hello // the current connection's, once it has come
	epoch   string        // the log the position below is in ("" before any hello)
	last    uint64        // the last seq handed on: the position a reconnect resumes after
	resume  bool          // last is a position to resume after (--since given, or a frame handed on)
	resumed bool          // the last connection said it resumes, and no frame has come on it yet
	state   relayclient.LinkState
	reasons map[string]bool // reasons already told in this outage
}

func newLinkReport(w io.Writer, prefix, url string, since uint64, resume bool) *linkReport {
	return &linkReport{w: w, prefix: prefix, url: url, last: since, resume: resume, state: relayclient.Connecting, reasons: map[string]bool{}}
}

// frame follows the position the stream has been handed on to: the
// client resumes after the last event or audit seq, or a whole snapshot.
func (r *linkReport) frame(f relayclient.Frame) {
	switch {
	case f.Hello != nil:
		r.hello = f.Hello
		return
	case f.Snapshot != nil && r.resumed:
		// The relay no longer holds the records after the position (they
		// aged out of the log, or it is past the log's end): the
		// "resuming" line said otherwise.
		r.printf("seq %d is not in the relay's log any more: starting again from a snapshot at seq %d", r.last+1, f.Snapshot.Seq)
	}
	r.resumed = false
	if f.Snapshot != nil && f.Snapshot.Part >= f.Snapshot.Parts || f.Event != nil || f.Audit != nil {
		r.last, r.resume = f.Seq(), true
	}
}

// status is relayclient.Config.OnStatus.
func (r *linkReport) status(s relayclient.Status) {
	prev := r.state
	r.state = s.State
	switch s.State {
	case relayclient.Live:
		r.connected()
		clear(r.reasons)
		return
	case relayclient.Connecting:
		if s.Err == nil {
			return // the first attempt is under way
		}
	}
	why := linkReason(s.Err)
	switch {
	case s.State == relayclient.Reconnecting && prev == relayclient.Live:
		r.printf("lost the relay (%s); reconnecting", why)
	case s.State == relayclient.Stale && prev != relayclient.Stale:
		r.printf("relay still unreachable after %s (%s); retrying", time.Since(s.Since).Round(time.Second), why)
	case !r.reasons[why]:
		r.printf("relay unreachable (%s); retrying", why)
	}
	r.reasons[why] = true
}

// connected says where the new connection starts: after the position the
// client resumes from, or at the relay's head with a snapshot.
func (r *linkReport) connected() {
	where, epoch := r.url, ""
	if r.hello != nil {
		epoch = r.hello.Epoch
		if r.hello.Relay != "" {
			where += " (relay " + r.hello.Relay + ")"
		}
	}
	switch {
	case r.epoch != "" && epoch != r.epoch:
		// Another log: the client drops its position and takes a snapshot.
		r.last, r.resume = 0, false
		r.printf("connected to %s, a different log (epoch %s): starting again from a snapshot", where, epoch)
	case r.resume:
		r.resumed = true
		r.printf("connected to %s; resuming after seq %d", where, r.last)
	case r.hello != nil:
		r.printf("connected to %s at seq %d", where, r.hello.LastSeq)
	default:
		r.printf("connected to %s", where)
	}
	r.epoch = epoch
}

func (r *linkReport) printf(format string, args ...any) {
	fmt.Fprintf(r.w, "%s: %s\n", r.prefix, fmt.Sprintf(format, args...))
}

// linkReason is why the link is down in a few words: what the relay's
// close means, else the innermost error ("connection refused", "i/o
// timeout") or relayclient's own (a refusal with its status, a gap)
// without its prefix.
func linkReason(err error) string {
	if err == nil {
		return "no reason given"
	}
	var ce *relayclient.CloseError
	if errors.As(err, &ce) {
		switch ce.Code {
		case websocket.CloseGoingAway:
			return "the relay shut down"
		case events.CloseLagging:
			return "fell too far behind the relay"
		}
	}
	for next := errors.Unwrap(err); next != nil; next = errors.Unwrap(err) {
		err = next
	}
	return strings.TrimPrefix(err.Error(), "relayclient: ")
}

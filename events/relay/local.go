package relay

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/gavelhq/gavel/events"
)

// LocalConsole is a console attached to the hub in the same process, as
// the SSH console is: it gets the frames a WebSocket console would (hello,
// catch-up, live records, answers) as the same bytes, and its commands go
// through the same rate, in-flight bound and gateway, with no token and
// no socket. A console that falls behind is closed with the same code
// (4000, resume) and comes back by attaching again with since.
type LocalConsole struct {
	h      *Hub
	sub    *Subscription
	hello  events.Hello
	frames chan LocalFrame
	cr     *commandRunner

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	commands  sync.WaitGroup

	mu                 sync.Mutex
	closeCode          int // why frames ended; 0 while open
	closeReason        string
	pumpDone, detached chan struct{}
}

// ErrLocalClosed is what Next and Send answer once the console has closed
// its side.
var ErrLocalClosed = errors.New("relay: local console closed")

// AttachLocal attaches an in-process console as claims (the SSH user's
// name and role), resuming after since in epoch like a WebSocket console
// (hasSince false: a snapshot). Read its frames with Next until it
// returns an error, send commands with Send, and Close it when done.
func (h *Hub) AttachLocal(ctx context.Context, claims Claims, since uint64, hasSince bool, epoch string) (*LocalConsole, error) {
	sub, hello, err := h.Attach(ctx, claims, events.ViaSSH, since, hasSince, epoch)
	if err != nil {
		return nil, err
	}
	hello.Name, hello.Role = claims.Name, claims.Role
	c := &LocalConsole{h: h, sub: sub, hello: hello, frames: make(chan LocalFrame),
		done: make(chan struct{}), pumpDone: make(chan struct{}), detached: make(chan struct{})}
	c.cr = h.newCommandRunner(sub, claims, &c.commands)
	h.logger.Info("console connected", "console", claims.Name, "role", claims.Role, "via", "local", "tail", sub.tail, "since", since, "at", sub.at)
	go c.pump()
	go func() {
		<-c.pumpDone
		sub.Detach()
		c.cr.release()
		// Commands under way finish (and are audited) after the
		// console has gone, as a WebSocket console's do.
		c.commands.Wait()
		close(c.detached)
	}()
	return c, nil
}

// Hello is the hello frame the console starts from.
func (c *LocalConsole) Hello() events.Hello { return c.hello }

// pump hands the console its catch-up, then its live frames and answers,
// until the hub stops it or the console closes; frames then ends with the
// close code and reason a WebSocket console would get.
func (c *LocalConsole) pump() {
	defer close(c.pumpDone)
	sub := c.sub
	var lastSent uint64
	if sub.tail {
		lastSent = sub.since
	}
	end := func(code int, reason string) {
		if reason == "" {
			reason = events.ResumeReasonPrefix + strconv.FormatUint(lastSent, 10)
		}
		c.mu.Lock()
		c.closeCode, c.closeReason = code, reason
		c.mu.Unlock()
		close(c.frames)
	}
	give := func(f LocalFrame) bool {
		select {
		case c.frames <- f:
			return true
		case <-c.done:
			return false
		case <-sub.stopped:
			return false
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sub.stopped:
		case <-c.done:
		case <-ctx.Done():
		}
		cancel()
	}()
	err := sub.catchUp(ctx, func(f outFrame) error {
		if !give(LocalFrame{Data: f.data, Parsed: f.parsed}) {
			return context.Canceled
		}
		if f.seq != 0 {
			lastSent = f.seq
		}
		return nil
	})
	for {
		select {
		case <-sub.stopped:
			end(sub.code, sub.reason)
			return
		case <-c.done:
			end(closeNormal, "console closed")
			return
		default:
		}
		if err != nil {
			c.h.logger.Warn("console catch-up failed", "console", sub.name, "err", err)
			end(closeInternal, "")
			return
		}
		select {
		case <-sub.stopped:
		case <-c.done:
		case f := <-sub.queue:
			if give(LocalFrame{Data: f.data, Parsed: f.parsed}) {
				lastSent = f.seq
				c.h.cfg.Metrics.ConsoleLag(c.h.Applied() - f.seq)
			}
		case res := <-sub.results:
			give(LocalFrame{Data: res})
		case p := <-sub.presenceC:
			give(LocalFrame{Data: p})
		}
	}
}

// LocalFrame is one frame for a local console: the bytes a WebSocket
// would carry, and for a live record the same as structs (Parsed, nil
// otherwise), which a console in this process can use without decoding.
type LocalFrame struct {
	Data   []byte
	Parsed *ParsedFrame
}

// Next is the next frame; once the hub has closed the console, a
// *LocalCloseError says why (4000 with "resume since=N" for a console
// that fell behind, 1001 for a relay shutting down), and after Close,
// ErrLocalClosed.
func (c *LocalConsole) Next(ctx context.Context) (LocalFrame, error) {
	select {
	case f, ok := <-c.frames:
		if ok {
			return f, nil
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		select {
		case <-c.done:
			return LocalFrame{}, ErrLocalClosed
		default:
		}
		return LocalFrame{}, &LocalCloseError{Code: c.closeCode, Reason: c.closeReason}
	case <-ctx.Done():
		return LocalFrame{}, ctx.Err()
	}
}

// LocalCloseError is the hub closing a local console: the code and reason
// a WebSocket console would get in its close frame.
type LocalCloseError struct {
	Code   int
	Reason string
}

func (e *LocalCloseError) Error() string {
	return "relay closed the console: " + strconv.Itoa(e.Code) + " " + e.Reason
}

// Send runs a command as the console's own; its result comes back as a
// result frame from Next.
func (c *LocalConsole) Send(cmd events.Command) error {
	select {
	case <-c.done:
		return ErrLocalClosed
	case <-c.pumpDone:
		return ErrLocalClosed
	default:
	}
	cmd.Type = events.FrameCommand
	if cmd.ID == "" {
		return errors.New("relay: a command needs an id to match its result")
	}
	var res *events.Result
	if cmd.Action == "" {
		r := failure(cmd.ID, http.StatusBadRequest, "action is required")
		res = &r
	}
	c.cr.run(cmd, res, true, 0) // a value, not bytes: always readable
	return nil
}

// Close detaches the console; a Next under way returns ErrLocalClosed. It
// waits for the pump to stop, not for commands under way.
func (c *LocalConsole) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	<-c.pumpDone
	return nil
}

// Detached is closed once the console is out of the fan-out and its
// commands have finished.
func (c *LocalConsole) Detached() <-chan struct{} { return c.detached }

// Package relayclient is the console's side of wire protocol v1
// (docs/protocol.md): it connects to a relay's /v1/stream, and keeps
// connected — resuming by sequence after any drop, so the frames it hands
// on have no gap and no duplicate — and sends moderation commands.
//
// Dial gives one connection; Run (or Client.Run) gives the resumable
// stream a console wants; Mirror turns the frames into an events.State.
package relayclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gorilla/websocket"
)

// Defaults of Config.
const (
	DefaultMinBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff    = 15 * time.Second
	DefaultStaleAfter    = 10 * time.Second
	DefaultReadTimeout   = 90 * time.Second // the relay pings every 30 s
	DefaultMaxFrameBytes = 32 << 20         // a snapshot part can be large
	writeWait            = 10 * time.Second
)

// Config says where the relay is and how to behave when the link drops.
type Config struct {
	// URL is the relay's stream, ws(s)://host/v1/stream.
	URL string
	// Token is the console token (gavel relay token); it is sent as
	// Authorization: Bearer, never in the URL.
	Token string
	// Since and Epoch resume from a known position: the relay sends the
	// records after Since if it still has them in that epoch, else a
	// snapshot. Since 0 with no Epoch asks for a snapshot, unless Resume
	// is set.
	Since uint64
	Epoch string
	// Resume sends Since even when it is 0 with no Epoch, so the first
	// connection asks for the records after it (Since 0: the whole log,
	// from seq 1) rather than a snapshot: a reader given a position by
	// its user (gavel events --since 0). Reconnects always resume.
	Resume bool
	// Dialer dials the WebSocket (nil = a default with a 10 s handshake).
	Dialer *websocket.Dialer
	// OnStatus hears every change of the link's state (optional). It is
	// called on Run's goroutine: it must not block.
	OnStatus func(Status)
	// MinBackoff and MaxBackoff bound the wait between reconnects, which
	// doubles from MinBackoff, with jitter (defaults 250 ms and 15 s).
	MinBackoff, MaxBackoff time.Duration
	// StaleAfter is how long the link may be down before Status says
	// Stale: the console's picture may then be out of date (default 10 s).
	StaleAfter time.Duration
	// ReadTimeout is how long the link may be silent (no frame, no ping)
	// before it is taken for dead (default 90 s).
	ReadTimeout time.Duration
	// MaxFrameBytes bounds one frame from the relay (default 32 MiB).
	MaxFrameBytes int64
	// Connect, when set, opens each link instead of dialling URL: a
	// console attached to a relay in the same process (the SSH console)
	// gets the same frames, resumes and closes without a socket. It is
	// given the config with the position to resume from (Since, Epoch,
	// Resume) filled in.
	Connect func(ctx context.Context, cfg Config) (Link, error)
}

// Link is one connection to a relay, past its hello: a WebSocket (*Conn)
// or an in-process attachment (Config.Connect).
type Link interface {
	// Hello is the relay's hello frame.
	Hello() events.Hello
	// Next is the next frame; the relay closing the link is a
	// *CloseError. Called from one goroutine.
	Next() (Frame, error)
	// Send sends a command; it may be called alongside Next.
	Send(cmd events.Command) error
	// Close ends the link; a Next under way returns.
	Close() error
}

func (c Config) withDefaults() Config {
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = DefaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.StaleAfter <= 0 {
		c.StaleAfter = DefaultStaleAfter
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.MaxFrameBytes <= 0 {
		c.MaxFrameBytes = DefaultMaxFrameBytes
	}
	return c
}

// LinkState is the link's condition as a console shows it.
type LinkState int

const (
	// Connecting: the first connection is being made.
	Connecting LinkState = iota
	// Live: connected; frames arrive as the relay applies them.
	Live
	// Reconnecting: the link dropped a moment ago and is being re-made;
	// the picture is probably still right.
	Reconnecting
	// Stale: the link has been down longer than StaleAfter; the picture
	// is as of Status.Since and may be out of date.
	Stale
)

func (s LinkState) String() string {
	switch s {
	case Connecting:
		return "CONNECTING"
	case Live:
		return "LIVE"
	case Reconnecting:
		return "RECONNECTING"
	case Stale:
		return "STALE"
	}
	return "LinkState(" + strconv.Itoa(int(s)) + ")"
}

// Status is one change of the link's state.
type Status struct {
	State LinkState
	// Attempt counts reconnect attempts since the link was last live
	// (0 when Live).
	Attempt int
	// Since is when the link went live (Live), or went down (Reconnecting
	// and Stale: the picture is as of then).
	Since time.Time
	// Err is why the link is down, or why the last attempt failed.
	Err error
}

// ErrNotConnected is Client.Send's error while the link is down.
var ErrNotConnected = errors.New("relayclient: not connected to the relay")

// GapError says a frame's seq skipped some: the link is re-made from the
// last contiguous seq.
type GapError struct{ Last, Got uint64 }

func (e *GapError) Error() string {
	return fmt.Sprintf("relayclient: gap in the stream: after seq %d came %d", e.Last, e.Got)
}

// handlerError is onFrame's error, which ends Run.
type handlerError struct{ err error }

func (e *handlerError) Error() string { return e.err.Error() }
func (e *handlerError) Unwrap() error { return e.err }

// Client is a resumable stream from one relay: Run keeps it connected,
// Send sends commands over whichever connection is current.
type Client struct {
	cfg Config

	mu   sync.Mutex
	conn Link
}

// New returns a client; call Run.
func New(cfg Config) *Client { return &Client{cfg: cfg.withDefaults()} }

// Run is New(cfg).Run(ctx, onFrame).
func Run(ctx context.Context, cfg Config, onFrame func(Frame) error) error {
	return New(cfg).Run(ctx, onFrame)
}

// Send sends cmd on the current connection; ErrNotConnected while the
// link is down (a command is not queued: a moderator's action should not
// happen minutes later).
func (c *Client) Send(cmd events.Command) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return ErrNotConnected
	}
	return conn.Send(cmd)
}

// Run connects and hands every frame to onFrame, in order, reconnecting
// for ever with backoff after any drop — a lagging close (4000), the
// relay's shutdown (1001), a network error, a gap — and resuming from the
// last seq it handed on, so onFrame sees each event and audit seq once
// and in order: hello, then a snapshot (in parts) or the tail, then live
// frames; after a reconnect, hello again and the same. It returns
// ctx.Err() when ctx ends, onFrame's error if it fails, or a permanent
// *DialError (a refused token) at once.
func (c *Client) Run(ctx context.Context, onFrame func(Frame) error) error {
	cfg := c.cfg
	pos := position{last: cfg.Since, epoch: cfg.Epoch}
	attempt := 0
	state := Connecting
	var downAt time.Time // zero until the link has been live
	report := func(s LinkState, attempt int, since time.Time, err error) {
		state = s
		if cfg.OnStatus != nil {
			cfg.OnStatus(Status{State: s, Attempt: attempt, Since: since, Err: err})
		}
	}
	report(Connecting, 0, time.Now(), nil)
	for {
		dcfg := cfg
		dcfg.Since, dcfg.Epoch = pos.last, pos.epoch
		conn, err := c.connect(ctx, dcfg)
		if err == nil {
			c.setConn(conn)
			err = c.session(ctx, conn, &pos, onFrame, func() {
				attempt = 0
				report(Live, 0, time.Now(), nil)
			})
			c.setConn(nil)
			_ = conn.Close()
			if state == Live {
				downAt = time.Now()
			}
		}
		var he *handlerError
		if errors.As(err, &he) {
			return he.err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var de *DialError
		if errors.As(err, &de) && de.Permanent() {
			return err
		}
		attempt++
		since := downAt
		if since.IsZero() {
			since = time.Now()
		}
		s := Reconnecting
		if state == Connecting {
			s = Connecting
		} else if time.Since(since) >= cfg.StaleAfter {
			s = Stale
		}
		report(s, attempt, since, err)
		if err := c.wait(ctx, backoff(cfg, attempt), s == Reconnecting, cfg.StaleAfter-time.Since(since), func() {
			report(Stale, attempt, since, err)
		}); err != nil {
			return err
		}
	}
}

// wait sleeps d, or until ctx ends; if staleIn elapses first (and watch
// is set), it calls stale, so a console turns STALE on time even during a
// long backoff.
func (c *Client) wait(ctx context.Context, d time.Duration, watch bool, staleIn time.Duration, stale func()) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	var staleC <-chan time.Time
	if watch {
		st := time.NewTimer(max(staleIn, 0))
		defer st.Stop()
		staleC = st.C
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-staleC:
			stale()
			staleC = nil
		case <-timer.C:
			return nil
		}
	}
}

// connect opens a link: Config.Connect's, else a WebSocket.
func (c *Client) connect(ctx context.Context, cfg Config) (Link, error) {
	if cfg.Connect != nil {
		return cfg.Connect(ctx, cfg)
	}
	conn, err := Dial(ctx, cfg)
	if err != nil {
		return nil, err // not a typed nil in the interface
	}
	return conn, nil
}

func (c *Client) setConn(conn Link) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
}

// position is how far the stream has been handed on: the last contiguous
// seq in epoch. A snapshot's seq counts only once all its parts are in.
type position struct {
	last  uint64
	epoch string
}

// session reads one connection until it ends.
func (c *Client) session(ctx context.Context, conn Link, pos *position, onFrame func(Frame) error, live func()) error {
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	hello := conn.Hello()
	raw, _ := json.Marshal(hello)
	if err := onFrame(Frame{Type: events.FrameHello, Raw: raw, Hello: &hello}); err != nil {
		return &handlerError{err}
	}
	switch {
	case pos.epoch == "":
		// A since given without an epoch: the relay judged it against
		// its log; from now on it is in that log's epoch.
		pos.epoch = hello.Epoch
	case pos.epoch != hello.Epoch:
		// Another log: the relay sends a snapshot, and our seq means
		// nothing there; forget it so its first frames are not taken
		// for duplicates.
		*pos = position{epoch: hello.Epoch}
	}
	live()
	for {
		f, err := conn.Next()
		if err != nil {
			return err
		}
		switch {
		case f.Snapshot != nil:
			if err := onFrame(f); err != nil {
				return &handlerError{err}
			}
			if f.Snapshot.Part >= f.Snapshot.Parts {
				pos.last = f.Snapshot.Seq
			}
			continue
		case f.Event != nil || f.Audit != nil:
			seq := f.Seq()
			if seq <= pos.last {
				continue // a duplicate: already handed on
			}
			if seq != pos.last+1 {
				// Close and come back from the last contiguous seq.
				return &GapError{Last: pos.last, Got: seq}
			}
			if err := onFrame(f); err != nil {
				return &handlerError{err}
			}
			pos.last = seq
			continue
		}
		if err := onFrame(f); err != nil {
			return &handlerError{err}
		}
	}
}

// backoff is the wait before reconnect attempt n (1, 2, …): the first is
// short, since a relay restarting or a console closed for lagging is
// usually back at once; then it doubles up to the maximum, with ±20 %
// jitter so a relay's consoles do not all come back in one instant.
func backoff(cfg Config, attempt int) time.Duration {
	d := cfg.MinBackoff
	for i := 1; i < attempt && d < cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, cfg.MaxBackoff)
	jitter := 0.8 + 0.4*rand.Float64()
	return time.Duration(float64(d) * jitter)
}

// Package relayclient is the console's side of wire protocol v1
// (docs/protocol.md): it connects to a relay's /v1/stream, and keeps
// connected — resuming by sequence after any drop, so the frames it hands
// on have no gap and no duplicate — and sends moderation commands.
//
// Dial gives one connection; Run (or Client.Run) gives the resumable
// stream a console wants; Mirror turns the frames into an events.State.
package relayclient

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
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

// Frame is one frame from the relay, decoded by its type: exactly one of
// the pointers is set, except for a type this version does not know,
// which comes with Type and Raw only (the protocol may add frames).
type Frame struct {
	Type     string
	Raw      json.RawMessage // the frame as received
	Hello    *events.Hello
	Snapshot *events.SnapshotFrame
	Event    *events.EventFrame
	Audit    *events.AuditFrame
	Result   *events.Result
}

// Seq is the frame's sequence number: an event's or audit entry's, or the
// one a snapshot is as of; 0 for the others.
func (f Frame) Seq() uint64 {
	switch {
	case f.Event != nil:
		return f.Event.Seq
	case f.Audit != nil:
		return f.Audit.Seq
	case f.Snapshot != nil:
		return f.Snapshot.Seq
	}
	return 0
}

// ParseFrame decodes one frame.
func ParseFrame(data []byte) (Frame, error) {
	var head struct {
		Type string `json:"type"`
	}
	// The relay writes "type" first (its frames are structs), so the type
	// is read off the prefix and the frame is decoded once; anything else
	// takes the general path.
	if t, ok := typePrefix(data); ok {
		head.Type = t
	} else if err := json.Unmarshal(data, &head); err != nil {
		return Frame{}, fmt.Errorf("relayclient: frame is not JSON: %w", err)
	}
	f := Frame{Type: head.Type, Raw: json.RawMessage(data)}
	var err error
	switch head.Type {
	case events.FrameHello:
		f.Hello = new(events.Hello)
		err = json.Unmarshal(data, f.Hello)
	case events.FrameSnapshot:
		f.Snapshot = new(events.SnapshotFrame)
		err = json.Unmarshal(data, f.Snapshot)
	case events.FrameEvent:
		f.Event = new(events.EventFrame)
		err = json.Unmarshal(data, f.Event)
	case events.FrameAudit:
		f.Audit = new(events.AuditFrame)
		err = json.Unmarshal(data, f.Audit)
	case events.FrameResult:
		f.Result = new(events.Result)
		err = json.Unmarshal(data, f.Result)
	case "":
		return Frame{}, errors.New("relayclient: frame without a type")
	}
	if err != nil {
		return Frame{}, fmt.Errorf("relayclient: %s frame: %w", head.Type, err)
	}
	return f, nil
}

// typePrefix reads the frame type from a frame that starts {"type":"…",
// with a plain (unescaped) type name.
func typePrefix(data []byte) (string, bool) {
	const prefix = `{"type":"`
	if !bytes.HasPrefix(data, []byte(prefix)) {
		return "", false
	}
	rest := data[len(prefix):]
	end := bytes.IndexByte(rest, '"')
	if end <= 0 || bytes.IndexByte(rest[:end], '\\') >= 0 {
		return "", false
	}
	return string(rest[:end]), true
}

// DialError is a relay's refusal of the upgrade, with its HTTP status and
// the reason it gave.
type DialError struct {
	Status  int
	Message string
}

func (e *DialError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("relayclient: relay refused the connection: %d %s", e.Status, msg)
}

// Permanent reports whether retrying cannot help: the token is refused
// (401, 403) or the request is wrong (400, 404, 405). Run gives up on
// these at once rather than retry a bad token for ever.
func (e *DialError) Permanent() bool {
	switch e.Status {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed:
		return true
	}
	return false
}

// ErrUnauthorized is wrapped by the DialError of a 401 or 403.
var ErrUnauthorized = errors.New("relayclient: the relay refused the token")

func (e *DialError) Unwrap() error {
	if e.Status == http.StatusUnauthorized || e.Status == http.StatusForbidden {
		return ErrUnauthorized
	}
	return nil
}

// CloseError is the relay closing the connection, with its code and
// reason; Resume is the seq from a "resume since=<seq>" reason.
type CloseError struct {
	Code      int
	Reason    string
	Resume    uint64
	HasResume bool
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("relayclient: relay closed the connection: %d %s", e.Code, e.Reason)
}

// Conn is one connection to a relay, past its hello.
type Conn struct {
	ws          *websocket.Conn
	hello       events.Hello
	readTimeout time.Duration
	wmu         sync.Mutex // one writer at a time (gorilla's rule)
}

// Dial connects to the relay, sends the token and position, and reads
// the hello frame. A refusal is a *DialError.
func Dial(ctx context.Context, cfg Config) (*Conn, error) {
	cfg = cfg.withDefaults()
	u, err := streamURL(cfg)
	if err != nil {
		return nil, err
	}
	d := cfg.Dialer
	if d == nil {
		d = &websocket.Dialer{Proxy: http.ProxyFromEnvironment, HandshakeTimeout: 10 * time.Second}
	}
	h := http.Header{}
	if cfg.Token != "" {
		h.Set("Authorization", "Bearer "+cfg.Token)
	}
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			defer resp.Body.Close()
			return nil, &DialError{Status: resp.StatusCode, Message: errorMessage(resp.Body)}
		}
		return nil, fmt.Errorf("relayclient: dial %s: %w", redact(u), err)
	}
	ws.SetReadLimit(cfg.MaxFrameBytes)
	c := &Conn{ws: ws, readTimeout: cfg.ReadTimeout}
	// Pings from the relay prove the link alive: each one extends the
	// read deadline, and is answered (WriteControl may run alongside Send).
	ws.SetPingHandler(func(data string) error {
		_ = ws.SetReadDeadline(time.Now().Add(c.readTimeout))
		err := ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(writeWait))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	f, err := c.Next()
	if !stop() {
		ws.Close()
		return nil, fmt.Errorf("relayclient: waiting for hello: %w", ctx.Err())
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	if f.Hello == nil {
		ws.Close()
		return nil, fmt.Errorf("relayclient: expected a hello frame first, got %q", f.Type)
	}
	c.hello = *f.Hello
	return c, nil
}

// streamURL adds since and epoch to the configured URL. since is sent
// when there is a position: Since > 0, an Epoch (which only comes from a
// relay's hello, so since=0 then means "I hold the empty state"), or
// Resume (the caller's own position, even 0).
func streamURL(cfg Config) (string, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return "", &DialError{Status: http.StatusBadRequest, Message: "relay URL: " + err.Error()}
	}
	// What people paste: the relay's address as printed for callbacks
	// (http://…) or without the path. Both can only mean the stream.
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return "", &DialError{Status: http.StatusBadRequest, Message: fmt.Sprintf("relay URL %q: expected ws://HOST/v1/stream or wss://HOST/v1/stream", cfg.URL)}
	}
	if u.Host == "" {
		return "", &DialError{Status: http.StatusBadRequest, Message: fmt.Sprintf("relay URL %q: no host: expected ws://HOST/v1/stream", cfg.URL)}
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = events.StreamPath
	}
	q := u.Query()
	q.Del("since")
	q.Del("epoch")
	if cfg.Since > 0 || cfg.Epoch != "" || cfg.Resume {
		q.Set("since", strconv.FormatUint(cfg.Since, 10))
	}
	if cfg.Epoch != "" {
		q.Set("epoch", cfg.Epoch)
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// errorMessage reads the relay's {"error": "..."} answer, or its first
// line of text.
func errorMessage(body io.Reader) string {
	data, _ := io.ReadAll(io.LimitReader(body, 4<<10))
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return e.Error
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(data)), "\n")
	return line
}

// redact drops the query from a URL for error messages.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}

// Hello is the relay's hello frame.
func (c *Conn) Hello() events.Hello { return c.hello }

// Next reads the next frame. The relay closing the connection is a
// *CloseError. Call it from one goroutine.
func (c *Conn) Next() (Frame, error) {
	for {
		_ = c.ws.SetReadDeadline(time.Now().Add(c.readTimeout))
		typ, data, err := c.ws.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				return Frame{}, closeError(ce)
			}
			return Frame{}, fmt.Errorf("relayclient: read: %w", err)
		}
		if typ != websocket.TextMessage {
			continue
		}
		return ParseFrame(data)
	}
}

func closeError(ce *websocket.CloseError) *CloseError {
	e := &CloseError{Code: ce.Code, Reason: ce.Text}
	if rest, ok := strings.CutPrefix(ce.Text, events.ResumeReasonPrefix); ok {
		if n, err := strconv.ParseUint(strings.TrimSpace(rest), 10, 64); err == nil {
			e.Resume, e.HasResume = n, true
		}
	}
	return e
}

// Send sends a command; its result comes back as a result frame with the
// same id. It may be called alongside Next.
func (c *Conn) Send(cmd events.Command) error {
	cmd.Type = events.FrameCommand
	if cmd.ID == "" {
		return errors.New("relayclient: a command needs an id to match its result")
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := c.ws.WriteJSON(cmd); err != nil {
		return fmt.Errorf("relayclient: send %s: %w", cmd.Action, err)
	}
	return nil
}

// Close says goodbye (1000) and closes the connection.
func (c *Conn) Close() error {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	return c.ws.Close()
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
	conn *Conn
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
		conn, err := Dial(ctx, dcfg)
		if err == nil {
			c.setConn(conn)
			err = c.session(ctx, conn, &pos, onFrame, func() {
				attempt = 0
				report(Live, 0, time.Now(), nil)
			})
			c.setConn(nil)
			conn.ws.Close()
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

func (c *Client) setConn(conn *Conn) {
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
func (c *Client) session(ctx context.Context, conn *Conn, pos *position, onFrame func(Frame) error, live func()) error {
	stop := context.AfterFunc(ctx, func() { conn.ws.Close() })
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

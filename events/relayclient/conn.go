package relayclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gorilla/websocket"
)

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

func closeError(ce *websocket.CloseError) *CloseError { return NewCloseError(ce.Code, ce.Text) }

// NewCloseError is the relay closing a link with code and reason (the
// resume hint read from it), for links other than a WebSocket.
func NewCloseError(code int, reason string) *CloseError {
	e := &CloseError{Code: code, Reason: reason}
	if rest, ok := strings.CutPrefix(reason, events.ResumeReasonPrefix); ok {
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

package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"
)

// WebSocket timing and limits, after gorilla/websocket's chat example
// (https://github.com/gorilla/websocket/tree/main/examples/chat): the writer owns every
// write, pings included; a console that answers no ping for pongWait is
// gone. Pings every 30 s keep corporate proxies from cutting idle streams.
const (
	writeWait   = 10 * time.Second
	pingPeriod  = 30 * time.Second
	pongWait    = 75 * time.Second
	closeGrace  = 2 * time.Second // how long to wait for the console to answer a close frame
	maxReadSize = 64 << 10        // consoles send only small commands
	// maxInFlight bounds one console's commands running at once: each may
	// wait on the Video API, and the reader must keep reading (pongs).
	maxInFlight    = 8
	commandTimeout = 30 * time.Second
	maxEpochLen    = 128
)

// Close codes besides events.CloseLagging.
const (
	closeNormal    = websocket.CloseNormalClosure     // 1000: the console left
	closeGoingAway = websocket.CloseGoingAway         // 1001: the relay is shutting down
	closePolicy    = websocket.ClosePolicyViolation   // 1008: the token expired
	closeInternal  = websocket.CloseInternalServerErr // 1011: the log failed during catch-up
)

// newUpgrader is the WebSocket handshake. Compression is off (experimental in
// gorilla and costly in memory; frames are small JSON). CheckOrigin lets
// through every non-browser client — the console, scripts, `gavel events`
// — which send no Origin header, and a browser only from the relay's own
// origin (gorilla's default, written out so the choice is visible). It is
// not authentication: the bearer token, checked before the upgrade, is.
// Subprotocols stays nil: ServeWS selects the protocol itself
// (selectProtocol), from every Sec-WebSocket-Protocol line.
func newUpgrader() *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout:  10 * time.Second,
		ReadBufferSize:    4 << 10,
		WriteBufferSize:   16 << 10,
		EnableCompression: false,
		CheckOrigin: func(r *http.Request) bool {
			origin := r.Header.Get("Origin")
			if origin == "" {
				return true
			}
			u, err := url.Parse(origin)
			return err == nil && strings.EqualFold(u.Host, r.Host)
		},
	}
}

// selectProtocol is the Sec-WebSocket-Protocol the relay answers a
// handshake with ("" for none), and whether the handshake offers the token
// protocol without StreamProtocol, which no answer can make work.
//
// RFC 6455 §4.1 (the client's checks of the server's handshake) fails a
// connection only when the server names a protocol the client did not
// offer; §4.2.2 lets a server select none. Browsers are stricter: the
// WHATWG WebSockets standard also fails the connection when the client
// offered protocols and the server selected none (Chrome: "Sent non-empty
// 'Sec-WebSocket-Protocol' header but no response was received"). So a
// browser that sends its token as a protocol must also offer one the
// relay can select: events.StreamProtocol, the only one ever echoed. The
// token-bearing protocol is never echoed, whatever is offered: it would
// hand the credential back into response headers and their logs.
func selectProtocol(offered []string) (selected string, tokenOnly bool) {
	token := false
	for _, p := range offered {
		if p == events.StreamProtocol {
			return events.StreamProtocol, false
		}
		token = token || strings.HasPrefix(p, events.TokenProtocolPrefix)
	}
	return "", token
}

// ServeWS serves GET /v1/stream?since=&epoch= (wire protocol v1). auth
// checks the console's token before the upgrade: a console without a
// valid one gets a plain 401 and never a WebSocket.
func (h *Hub) ServeWS(auth func(*http.Request) (Claims, error)) http.Handler {
	upgrader := newUpgrader()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claims, err := auth(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gavel-relay"`)
			writeJSONError(w, http.StatusUnauthorized, err.Error())
			return
		}
		q := r.URL.Query()
		var since uint64
		hasSince := q.Has("since") && q.Get("since") != ""
		if hasSince {
			if since, err = strconv.ParseUint(q.Get("since"), 10, 64); err != nil {
				writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("since: expected a sequence number (0 or more), got %q", q.Get("since")))
				return
			}
		}
		epoch := q.Get("epoch")
		if len(epoch) > maxEpochLen {
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("epoch: expected at most %d characters", maxEpochLen))
			return
		}
		if !websocket.IsWebSocketUpgrade(r) {
			writeJSONError(w, http.StatusBadRequest, "expected a WebSocket upgrade (wire protocol v1, see docs/protocol.md)")
			return
		}
		protocol, tokenOnly := selectProtocol(offeredProtocols(r))
		if tokenOnly {
			// Refused here rather than upgraded with no protocol: a
			// browser would drop that connection at once (see
			// selectProtocol), after the relay had counted a console.
			writeJSONError(w, http.StatusBadRequest, fmt.Sprintf("subprotocols: offer %q next to the token protocol, so the relay has one to select (docs/protocol.md)", events.StreamProtocol))
			return
		}
		var respHeader http.Header
		if protocol != "" {
			respHeader = http.Header{}
			respHeader.Set("Sec-WebSocket-Protocol", protocol)
		}
		sub, hello, err := h.Attach(r.Context(), claims, events.ViaWebSocket, since, hasSince, epoch)
		if err != nil {
			if errors.Is(err, ErrHubClosing) {
				w.Header().Set("Retry-After", "1")
				writeJSONError(w, http.StatusServiceUnavailable, "the relay is shutting down: reconnect")
				return
			}
			h.logger.Warn("console attach failed", "console", claims.Name, "err", err)
			writeJSONError(w, http.StatusServiceUnavailable, "the event log is unavailable: reconnect later")
			return
		}
		conn, err := upgrader.Upgrade(w, r, respHeader)
		if err != nil {
			// The upgrader has answered with an HTTP error already.
			sub.Detach()
			return
		}
		hello.Name, hello.Role = claims.Name, claims.Role
		h.logger.Info("console connected", "console", claims.Name, "role", claims.Role, "tail", sub.tail, "since", since, "at", sub.at)
		h.serveConn(conn, sub, hello, claims)
	})
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// serveConn runs one console's connection: a reader goroutine for its
// commands and, on this goroutine, the writer, which alone writes to the
// connection (gorilla allows one concurrent writer).
func (h *Hub) serveConn(conn *websocket.Conn, sub *Subscription, hello events.Hello, claims Claims) {
	defer sub.Detach()
	defer conn.Close()
	conn.SetReadLimit(maxReadSize)

	readerDone := make(chan struct{})
	var commands sync.WaitGroup
	go func() {
		defer close(readerDone)
		h.readLoop(conn, sub, claims, &commands)
	}()
	h.writeLoop(conn, sub, hello, claims, readerDone)
	conn.Close()
	<-readerDone
	code := 0 // the console left (or its link broke)
	select {
	case <-sub.stopped:
		code = sub.code
	default:
	}
	h.logger.Info("console disconnected", "console", claims.Name, "close_code", code)
	// Commands already running finish (and are audited) even though their
	// console has gone; Shutdown waits for them through conns.
	commands.Wait()
}

// writeLoop sends hello, the catch-up and then the live frames, answers,
// and pings, and closes the connection when the hub or the token says so.
func (h *Hub) writeLoop(conn *websocket.Conn, sub *Subscription, hello events.Hello, claims Claims, readerDone <-chan struct{}) {
	var lastSent uint64
	if sub.tail {
		lastSent = sub.since
	}
	write := func(data []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
		return conn.WriteMessage(websocket.TextMessage, data)
	}
	closeWith := func(code int, reason string) {
		if reason == "" {
			reason = events.ResumeReasonPrefix + strconv.FormatUint(lastSent, 10)
		}
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(writeWait))
		// Give the console a moment to answer the close frame, so it reads
		// the code and reason rather than a reset connection.
		select {
		case <-readerDone:
		case <-time.After(closeGrace):
		}
	}
	helloData, _ := json.Marshal(hello)
	if err := write(helloData); err != nil {
		return
	}

	// The token's expiry ends the connection like any other stop.
	if !claims.Expires.IsZero() {
		expire := time.AfterFunc(time.Until(claims.Expires), func() { sub.stop(closePolicy, "token expired") })
		defer expire.Stop()
	}

	// Catch-up may be long (a tail read from the log): it stops as soon as
	// the console must go or has gone.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-sub.stopped:
		case <-readerDone:
		case <-ctx.Done():
		}
		cancel()
	}()
	err := sub.catchUp(ctx, func(f outFrame) error {
		if err := write(f.data); err != nil {
			return err
		}
		if f.seq != 0 {
			lastSent = f.seq
		}
		return nil
	})
	select {
	case <-sub.stopped:
		closeWith(sub.code, sub.reason)
		return
	case <-readerDone:
		return
	default:
	}
	if err != nil {
		h.logger.Warn("console catch-up failed", "console", sub.name, "err", err)
		closeWith(closeInternal, "")
		return
	}

	ping := time.NewTicker(pingPeriod)
	defer ping.Stop()
	for {
		// A console told to go goes now, whatever is still queued for it.
		select {
		case <-sub.stopped:
			closeWith(sub.code, sub.reason)
			return
		default:
		}
		select {
		case <-sub.stopped:
			closeWith(sub.code, sub.reason)
			return
		case <-readerDone:
			return
		case f := <-sub.queue:
			if err := write(f.data); err != nil {
				return
			}
			lastSent = f.seq
			h.cfg.Metrics.ConsoleLag(h.Applied() - f.seq)
		case res := <-sub.results:
			if err := write(res); err != nil {
				return
			}
		case p := <-sub.presenceC:
			if err := write(p); err != nil {
				return
			}
		case <-ping.C:
			_ = conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

// readLoop reads the console's frames until the connection ends: pongs
// (which keep it alive) and commands, each run on its own goroutine so a
// slow Video API call never stops the reading.
func (h *Hub) readLoop(conn *websocket.Conn, sub *Subscription, claims Claims, commands *sync.WaitGroup) {
	_ = conn.SetReadDeadline(time.Now().Add(pongWait))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(pongWait)) })
	// The rate is the token's, whatever connection it comes on; the
	// in-flight bound is this connection's (it keeps the reader reading).
	cr := h.newCommandRunner(sub, claims, commands)
	defer cr.release()
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(pongWait))
		cmd, res, ok := parseCommand(typ, data)
		cr.run(cmd, res, ok, len(data))
	}
}

// commandRunner runs one console's commands, however they come (a
// WebSocket frame, an in-process console): the token's rate, the
// connection's in-flight bound, the gateway, the answer.
type commandRunner struct {
	h        *Hub
	sub      *Subscription
	claims   Claims
	limiter  *rate.Limiter
	release  func()
	inFlight chan struct{}
	commands *sync.WaitGroup
}

func (h *Hub) newCommandRunner(sub *Subscription, claims Claims, commands *sync.WaitGroup) *commandRunner {
	// The rate is the token's, whatever connection it comes on; the
	// in-flight bound is this connection's (it keeps the reader reading).
	limiter, release := h.limiters.acquire(claims.ID)
	claims.Console = sub.id
	return &commandRunner{h: h, sub: sub, claims: claims, limiter: limiter, release: release,
		inFlight: make(chan struct{}, maxInFlight), commands: commands}
}

// run answers a parsed frame: res set is a refusal to send back, ok false
// a frame with nothing to answer to; else the command runs on its own
// goroutine and its result is queued for the console.
func (cr *commandRunner) run(cmd events.Command, res *events.Result, ok bool, size int) {
	h, sub := cr.h, cr.sub
	// Every frame counts against the token's rate, readable or not:
	// answering refusals costs the relay what commands do.
	allowed := cr.limiter.Allow()
	if !ok {
		// Nothing to answer: no id to answer to.
		h.cfg.Metrics.CommandDone("", outcomeMalformed)
		h.logger.Debug("console frame ignored", "console", sub.name, "bytes", size)
		return
	}
	if res != nil && allowed {
		h.cfg.Metrics.CommandDone(cmd.Action, outcomeMalformed)
		h.answer(sub, *res)
		return
	}
	if !allowed {
		h.cfg.Metrics.CommandDone(cmd.Action, outcomeRateLimited)
		h.answer(sub, failure(cmd.ID, http.StatusTooManyRequests,
			fmt.Sprintf("too many commands: at most %g a second (bursts of %d) per console token, over all its connections", h.cfg.CommandRate, h.cfg.CommandBurst)))
		return
	}
	if h.cfg.Commands == nil && !isHistoryAction(cmd.Action) {
		h.cfg.Metrics.CommandDone(cmd.Action, outcomeDisabled)
		h.answer(sub, failure(cmd.ID, http.StatusNotImplemented, "commands are not enabled on this relay"))
		return
	}
	select {
	case cr.inFlight <- struct{}{}:
	default:
		h.cfg.Metrics.CommandDone(cmd.Action, outcomeRateLimited)
		h.answer(sub, failure(cmd.ID, http.StatusTooManyRequests, fmt.Sprintf("too many commands in flight: at most %d at once", maxInFlight)))
		return
	}
	cr.commands.Add(1)
	go func() {
		defer cr.commands.Done()
		defer func() { <-cr.inFlight }()
		// Not the connection's lifetime: an action under way is
		// finished and audited even if its console drops.
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		defer cancel()
		var res events.Result
		switch {
		case isHistoryAction(cmd.Action):
			res = History{log: h.log}.handle(ctx, cr.claims, cmd)
		case !isPresenceAction(cmd.Action):
			res = h.cfg.Commands(ctx, cr.claims, cmd)
		case h.presence == nil:
			res = failure(cmd.ID, http.StatusNotImplemented, "presence is not kept on this relay")
		default:
			res = h.presence.handle(ctx, sub, cr.claims, cmd)
		}
		res.Type, res.ID = events.FrameResult, cmd.ID
		h.answer(sub, res)
	}()
}

// parseCommand reads a console frame. ok is false for a frame that cannot
// be answered (not JSON, or without a string id); res is set for one that
// can be answered but is not a valid command.
func parseCommand(typ int, data []byte) (cmd events.Command, res *events.Result, ok bool) {
	if typ != websocket.TextMessage {
		return cmd, nil, false
	}
	var head map[string]json.RawMessage
	if err := json.Unmarshal(data, &head); err != nil {
		return cmd, nil, false
	}
	var id string
	if err := json.Unmarshal(head["id"], &id); err != nil || id == "" {
		return cmd, nil, false
	}
	var typeName string
	_ = json.Unmarshal(head["type"], &typeName)
	if typeName != events.FrameCommand {
		r := failure(id, http.StatusBadRequest, fmt.Sprintf("expected a %q frame, got type %q", events.FrameCommand, typeName))
		return events.Command{ID: id}, &r, true
	}
	if err := json.Unmarshal(data, &cmd); err != nil {
		r := failure(id, http.StatusBadRequest, "malformed command: "+err.Error())
		return events.Command{ID: id}, &r, true
	}
	if cmd.Action == "" {
		r := failure(id, http.StatusBadRequest, "action is required")
		return cmd, &r, true
	}
	return cmd, nil, true
}

func failure(id string, status int, msg string) events.Result {
	return events.Result{Type: events.FrameResult, ID: id, OK: false, Error: &events.ResultError{Status: status, Message: msg}}
}

// answer queues a result for the console's writer. A console whose result
// queue is full is not reading: it is closed like a lagging one.
func (h *Hub) answer(sub *Subscription, res events.Result) {
	data, err := json.Marshal(res)
	if err != nil {
		data, _ = json.Marshal(failure(res.ID, http.StatusInternalServerError, "the result could not be encoded"))
	}
	select {
	case sub.results <- data:
	case <-sub.stopped:
	default:
		h.cfg.Metrics.ConsoleLagging()
		sub.stop(events.CloseLagging, "")
	}
}

package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/gorilla/websocket"
)

// The gateway tests run the whole stack on loopback, as production does:
// the emulator POSTs its callbacks to a real relay Server (embedded NATS
// log in a temp dir), and consoles talk to the relay over WebSocket with
// the console's own client (relayclient) and mirror. Helpers here are
// prefixed gw so they cannot collide with the other test files' helpers.

const (
	gwSecret       = "gateway-test-secret-0123456789abcdef"
	gwCallbackSign = "gateway-callback-signature-secret-0123"
	// gwWaitFor bounds every poll: generous for -race on a busy machine,
	// and never reached when the stack works.
	gwWaitFor = 15 * time.Second
)

// gwFixture is one emulator and one relay wired to it.
type gwFixture struct {
	emu *opentoktest.Server
	api *opentok.Client // the test's own client: sessions, tokens, a second archive
	srv *Server
	url string // ws://…/v1/stream
}

// newGWFixture starts an emulator whose callbacks go to a relay started
// here. withClient false gives the relay no Video API client (it can
// watch, not act), as a relay without credentials runs.
func newGWFixture(t *testing.T, withClient bool) *gwFixture {
	t.Helper()
	var o gwOptions
	if withClient {
		o.relayClient = func(emu *opentoktest.Server) (*opentok.Client, error) { return emu.Client(false) }
	}
	return newGWFixtureWith(t, o)
}

// gwOptions vary the stack newGWFixtureWith builds.
type gwOptions struct {
	// relayClient builds the relay's Video API client against the
	// emulator; nil gives the relay none.
	relayClient func(emu *opentoktest.Server) (*opentok.Client, error)
	// emulator are extra emulator options (faults, say).
	emulator []opentoktest.Option
	// logger is the relay's; nil discards.
	logger *slog.Logger
}

// newGWFixtureWith is newGWFixture with the relay's client, the emulator
// and the relay's logger chosen by the test.
func newGWFixtureWith(t *testing.T, o gwOptions) *gwFixture {
	t.Helper()
	// The relay's address must be known before the emulator is told where
	// to send callbacks: listen first.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	emu, err := opentoktest.NewServer(append([]opentoktest.Option{
		opentoktest.WithCallbackURL(opentoktest.GroupSession, base+"/v1/callbacks/session"),
		opentoktest.WithCallbackURL(opentoktest.GroupArchive, base+"/v1/callbacks/archive"),
		opentoktest.WithSignatureSecret(gwCallbackSign),
		opentoktest.WithLogf(t.Logf),
	}, o.emulator...)...)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	// Cleanups run last-in first-out: the emulator closes after the relay.
	t.Cleanup(func() { _ = emu.Close() })
	api, err := emu.Client(false)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	var relayClient *opentok.Client
	if o.relayClient != nil {
		if relayClient, err = o.relayClient(emu); err != nil {
			ln.Close()
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := NewServer(ctx, Config{
		Listen:          ln.Addr().String(),
		DataDir:         t.TempDir(),
		Secret:          []byte(gwSecret),
		SignatureSecret: gwCallbackSign,
		Name:            "relay-gateway-test",
		Logger:          o.logger,
	}, relayClient)
	if err != nil {
		cancel()
		ln.Close()
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("relay Serve: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("relay did not shut down")
		}
	})
	gwWait(t, "the relay to be ready", srv.Hub().Ready)
	return &gwFixture{emu: emu, api: api, srv: srv, url: "ws://" + ln.Addr().String() + "/v1/stream"}
}

// gwWait polls cond until it holds, failing the test after gwWaitFor.
func gwWait(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(gwWaitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", gwWaitFor, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// session creates a session on the emulator.
func (fx *gwFixture) session(t testing.TB, mode opentok.MediaMode) string {
	t.Helper()
	s, err := fx.api.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: mode})
	if err != nil {
		t.Fatal(err)
	}
	return s.ID
}

// join connects a simulated participant with a fresh client token.
func (fx *gwFixture) join(t testing.TB, sessionID, data string, role opentok.Role) *opentoktest.Participant {
	t.Helper()
	tok, err := fx.api.Token(sessionID, opentok.TokenOptions{Role: role, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	p, err := fx.emu.Join(sessionID, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// publisher joins a participant and publishes one camera stream.
func (fx *gwFixture) publisher(t testing.TB, sessionID, name string) (*opentoktest.Participant, string) {
	t.Helper()
	p := fx.join(t, sessionID, name, opentok.RoleModerator)
	st, err := p.Publish(opentoktest.PublishOptions{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return p, st
}

// truth is the emulator's ground truth for a session.
func (fx *gwFixture) truth(t testing.TB, sessionID string) opentoktest.SessionState {
	t.Helper()
	s, ok := fx.emu.Session(sessionID)
	if !ok {
		t.Fatalf("emulator has no session %s", sessionID)
	}
	return s
}

// truthStream is one stream of the ground truth; ok false once it left.
func (fx *gwFixture) truthStream(t testing.TB, sessionID, streamID string) (opentoktest.StreamState, bool) {
	t.Helper()
	for _, st := range fx.truth(t, sessionID).Streams {
		if st.ID == streamID {
			return st, true
		}
	}
	return opentoktest.StreamState{}, false
}

// gwConsole is a console as the TUI runs one: relayclient.Client.Run
// feeding a Mirror, plus a record of every frame for the assertions.
type gwConsole struct {
	t      testing.TB
	name   string
	client *relayclient.Client
	nextID atomic.Int64

	mu      sync.Mutex
	mirror  *relayclient.Mirror
	frames  []relayclient.Frame
	results map[string]events.Result
	ready   bool // hello and a complete snapshot seen
	// logLastAtResult is the relay log's last seq read the moment each
	// result frame arrived: an audit appended before the answer has a seq
	// at most this.
	logLastAtResult map[string]uint64
	logLast         func() uint64
}

// console connects a console named name with role, waits until it holds
// the relay's picture, and closes it when the (sub)test ends.
func (fx *gwFixture) console(t testing.TB, name string, role events.Role) *gwConsole {
	t.Helper()
	return fx.connect(t, name, role, false)
}

// browserConsole is a console that presents its token as a browser must,
// in the WebSocket subprotocols next to gavel.v1, with no Authorization.
func (fx *gwFixture) browserConsole(t testing.TB, name string, role events.Role) *gwConsole {
	t.Helper()
	return fx.connect(t, name, role, true)
}

func (fx *gwFixture) connect(t testing.TB, name string, role events.Role, viaSubprotocol bool) *gwConsole {
	t.Helper()
	tok, err := IssueToken([]byte(gwSecret), name, role, time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c := &gwConsole{t: t, name: name, mirror: relayclient.NewMirror(), results: map[string]events.Result{}, logLastAtResult: map[string]uint64{}}
	c.logLast = func() uint64 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, last, err := fx.srv.Log().Bounds(ctx)
		if err != nil {
			return 0
		}
		return last
	}
	cfg := relayclient.Config{URL: fx.url, Token: tok, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}
	if viaSubprotocol {
		cfg.Token = ""
		cfg.Dialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Subprotocols: []string{events.StreamProtocol, events.TokenProtocol(tok)}}
	}
	c.client = relayclient.New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var runErr error
	go func() {
		defer close(done)
		runErr = c.client.Run(ctx, c.onFrame)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if runErr != nil && !errors.Is(runErr, context.Canceled) {
				t.Errorf("console %s: Run: %v", name, runErr)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("console %s: Run did not return", name)
		}
	})
	gwWait(t, "console "+name+" to hold the relay's picture", func() bool {
		select {
		case <-done:
			t.Fatalf("console %s: Run ended early: %v", name, runErr)
		default:
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.ready
	})
	return c
}

func (c *gwConsole) onFrame(f relayclient.Frame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mirror.Apply(f)
	c.frames = append(c.frames, f)
	if f.Result != nil {
		c.logLastAtResult[f.Result.ID] = c.logLast()
		c.results[f.Result.ID] = *f.Result
	}
	if f.Snapshot != nil && f.Snapshot.Part >= f.Snapshot.Parts {
		c.ready = true
	}
	return nil
}

// send sends cmd (with a fresh id unless it has one) and returns its id.
func (c *gwConsole) send(cmd events.Command) string {
	c.t.Helper()
	if cmd.ID == "" {
		cmd.ID = fmt.Sprintf("%s-%d", c.name, c.nextID.Add(1))
	}
	if err := c.client.Send(cmd); err != nil {
		c.t.Fatalf("console %s: send %s: %v", c.name, cmd.Action, err)
	}
	return cmd.ID
}

// result waits for the result of command id.
func (c *gwConsole) result(id string) events.Result {
	c.t.Helper()
	var res events.Result
	gwWait(c.t, "the result of "+id, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		r, ok := c.results[id]
		res = r
		return ok
	})
	return res
}

// lastSeqAtResult is the log's last seq when the result of id arrived.
func (c *gwConsole) lastSeqAtResult(id string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.logLastAtResult[id]
}

// do sends a command and waits for its result.
func (c *gwConsole) do(cmd events.Command) events.Result {
	c.t.Helper()
	return c.result(c.send(cmd))
}

// sessionView is the console's mirrored picture of one session.
func (c *gwConsole) sessionView(id string) events.Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, _ := c.mirror.State.Session(id)
	return s
}

// waitView polls the console's mirrored session until cond holds.
func (c *gwConsole) waitView(what, sessionID string, cond func(events.Session) bool) events.Session {
	c.t.Helper()
	var v events.Session
	gwWait(c.t, "console "+c.name+": "+what, func() bool {
		v = c.sessionView(sessionID)
		return cond(v)
	})
	return v
}

// waitStreams waits until the console shows every one of the streams.
func (c *gwConsole) waitStreams(sessionID string, streams ...string) {
	c.t.Helper()
	c.waitView(fmt.Sprintf("streams %v", streams), sessionID, func(v events.Session) bool {
		for _, id := range streams {
			if !gwHasStream(v, id) {
				return false
			}
		}
		return true
	})
}

// waitConnections waits until the console shows every one of the connections.
func (c *gwConsole) waitConnections(sessionID string, conns ...string) {
	c.t.Helper()
	c.waitView(fmt.Sprintf("connections %v", conns), sessionID, func(v events.Session) bool {
		for _, id := range conns {
			if !gwHasConnection(v, id) {
				return false
			}
		}
		return true
	})
}

func gwHasStream(v events.Session, id string) bool {
	return slices.ContainsFunc(v.Streams, func(s events.StreamState) bool { return s.ID == id })
}

func gwHasConnection(v events.Session, id string) bool {
	return slices.ContainsFunc(v.Connections, func(c events.ConnectionState) bool { return c.ID == id })
}

// gwEventFrame is an event frame the console received, decoded.
type gwEventFrame struct {
	Seq    uint64
	Source string
	Event  events.Event
}

// events returns the console's event frames, decoded, in arrival order.
func (c *gwConsole) events() []gwEventFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []gwEventFrame
	for _, f := range c.frames {
		if f.Event == nil {
			continue
		}
		ev, err := events.Decode(f.Event.Group, f.Event.Event)
		if err != nil {
			continue
		}
		out = append(out, gwEventFrame{Seq: f.Event.Seq, Source: f.Event.Source, Event: ev})
	}
	return out
}

// waitEvent waits for an event frame matching match and returns it.
func (c *gwConsole) waitEvent(what string, match func(gwEventFrame) bool) gwEventFrame {
	c.t.Helper()
	var got gwEventFrame
	gwWait(c.t, "console "+c.name+": event frame "+what, func() bool {
		for _, f := range c.events() {
			if match(f) {
				got = f
				return true
			}
		}
		return false
	})
	return got
}

// audits returns the console's audit frames, in arrival order.
func (c *gwConsole) audits() []events.AuditFrame {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []events.AuditFrame
	for _, f := range c.frames {
		if f.Audit != nil {
			out = append(out, *f.Audit)
		}
	}
	return out
}

// waitAudit waits for an audit frame matching match and returns it.
func (c *gwConsole) waitAudit(what string, match func(events.Audit) bool) events.AuditFrame {
	c.t.Helper()
	var got events.AuditFrame
	gwWait(c.t, "console "+c.name+": audit frame "+what, func() bool {
		for _, a := range c.audits() {
			if match(a.Audit) {
				got = a
				return true
			}
		}
		return false
	})
	return got
}

// gwParams encodes a command's params.
func gwParams(t testing.TB, v any) json.RawMessage {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// gwOK fails unless res succeeded, and returns its data decoded.
func gwOK(t testing.TB, what string, res events.Result) map[string]any {
	t.Helper()
	if !res.OK || res.Error != nil {
		t.Fatalf("%s: result ok=%v error=%+v data=%s, want ok", what, res.OK, res.Error, res.Data)
	}
	var data map[string]any
	if err := json.Unmarshal(res.Data, &data); err != nil || data == nil {
		t.Fatalf("%s: data %s: want a JSON object (%v)", what, res.Data, err)
	}
	return data
}

// gwRefused fails unless res failed with status and a message containing want.
func gwRefused(t testing.TB, what string, res events.Result, status int, want string) {
	t.Helper()
	if res.OK || res.Error == nil {
		t.Fatalf("%s: result ok=%v data=%s, want ok:false with status %d", what, res.OK, res.Data, status)
	}
	if res.Error.Status != status || !strings.Contains(res.Error.Message, want) {
		t.Fatalf("%s: error %d %q, want %d containing %q", what, res.Error.Status, res.Error.Message, status, want)
	}
	if len(res.Data) != 0 {
		t.Errorf("%s: a refused command carries data %s", what, res.Data)
	}
}

// commandCounts reads the relay's commands_total as "action/outcome" →
// count. It gathers rather than calling WithLabelValues, which would
// create the very series a test may be checking does not exist.
func (fx *gwFixture) commandCounts(t testing.TB) map[string]float64 {
	t.Helper()
	families, err := fx.srv.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "gavel_relay_commands_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			var action, outcome string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "action":
					action = l.GetValue()
				case "outcome":
					outcome = l.GetValue()
				}
			}
			out[action+"/"+outcome] = m.GetCounter().GetValue()
		}
	}
	return out
}

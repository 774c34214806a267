package relay_test

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// countingTransport counts the Video API requests that reach the
// emulator, by method and what they act on.
type countingTransport struct {
	base        http.RoundTripper
	disconnects atomic.Int64 // DELETE …/connection/{id}
	archives    atomic.Int64 // POST …/archive
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	switch {
	case r.Method == http.MethodDelete && strings.Contains(r.URL.Path, "/connection/"):
		c.disconnects.Add(1)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/archive"):
		c.archives.Add(1)
	}
	return c.base.RoundTrip(r)
}

// TestTwoModeratorsActOnceOnATarget: mia on one relay and ana on another,
// on one NATS, press d on the same connection at the same instant:
// exactly one force disconnect reaches the Video API, and the other is
// refused with 409 naming who is at it and whom. Two recordings started
// at once: one reaches the Video API. A command that failed lets go of
// its target, so it can be tried again.
func TestTwoModeratorsActOnceOnATarget(t *testing.T) {
	fx := newFleetWithBob(t)
	mia, ana, counter, sess, bob, emu, client := fx.mia, fx.ana, fx.counter, fx.sess, fx.bob, fx.emu, fx.client

	// at runs each console's command at the same instant.
	at := func(cmds map[*console]events.Command) map[string]events.Result {
		var wg sync.WaitGroup
		var mu sync.Mutex
		out := map[string]events.Result{}
		start := make(chan struct{})
		for c, cmd := range cmds {
			wg.Go(func() {
				<-start
				res := c.command(t, cmd, 30*time.Second)
				mu.Lock()
				out[c.name] = res
				mu.Unlock()
			})
		}
		close(start)
		wg.Wait()
		return out
	}
	// oneOf checks exactly one succeeded and the other was refused 409,
	// naming the winner and saying what.
	oneOf := func(what string, res map[string]events.Result, words string) {
		t.Helper()
		var won, lost []string
		for name, r := range res {
			if r.OK {
				won = append(won, name)
			} else {
				lost = append(lost, name)
			}
		}
		if len(won) != 1 || len(lost) != 1 {
			var why []string
			for name, r := range res {
				if r.Error != nil {
					why = append(why, name+": "+r.Error.Message)
				}
			}
			t.Fatalf("%s: %v succeeded, %v failed (%v); want one of each", what, won, lost, why)
		}
		e := res[lost[0]].Error
		if e.Status != http.StatusConflict || !strings.HasPrefix(e.Message, won[0]+" is already "+words) {
			t.Errorf("%s: %s was answered %d %q; want 409 %q…", what, lost[0], e.Status, e.Message, won[0]+" is already "+words)
		}
	}

	disconnect := events.Command{Type: events.FrameCommand, Action: events.ActionDisconnect, Session: sess.ID, Connection: bob.ConnectionID()}
	d1, d2 := disconnect, disconnect
	d1.ID, d2.ID = "d-mia", "d-ana"
	res := at(map[*console]events.Command{mia: d1, ana: d2})
	oneOf("two disconnects of Bob", res, "disconnecting Bob (…"+bob.ConnectionID()[len(bob.ConnectionID())-4:]+")")
	if n := counter.disconnects.Load(); n != 1 {
		t.Errorf("%d force disconnects reached the Video API, want 1", n)
	}
	if connected, why := bob.Connected(); connected || why != "forceDisconnected" {
		t.Errorf("Bob: connected %v (%s)", connected, why)
	}

	// A recording needs someone publishing.
	tok, err := client.Token(sess.ID, opentok.TokenOptions{Role: opentok.RolePublisher, Data: `{"name":"Carol"}`})
	if err != nil {
		t.Fatal(err)
	}
	carol, err := emu.Join(sess.ID, tok.String())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.Publish(opentoktest.PublishOptions{Name: "Carol cam"}); err != nil {
		t.Fatal(err)
	}
	start := events.Command{Type: events.FrameCommand, Action: events.ActionArchiveStart, Session: sess.ID}
	s1, s2 := start, start
	s1.ID, s2.ID = "r-mia", "r-ana"
	res = at(map[*console]events.Command{mia: s1, ana: s2})
	oneOf("two recordings started at once", res, "starting a recording of this session")
	if n := counter.archives.Load(); n != 1 {
		t.Errorf("%d archive starts reached the Video API, want 1", n)
	}

	// A command that failed lets go: the same again fails the same way,
	// not with 409.
	gone := events.Command{Type: events.FrameCommand, Action: events.ActionDisconnect, Session: sess.ID, Connection: "no-such-connection"}
	for i, id := range []string{"g1", "g2"} {
		gone.ID = id
		r := mia.command(t, gone, 30*time.Second)
		if r.OK || r.Error.Status == http.StatusConflict {
			t.Errorf("disconnecting a connection that is not there, attempt %d: %+v; want a failure that is not 409", i+1, r.Error)
		}
	}
}

// fleetWithBob is two relays on one NATS in front of one emulator, whose
// Video API calls go through counter; a session with Bob in it, which both
// relays have seen; and moderators mia on relay A and ana on relay B.
type fleetWithBob struct {
	a, b     *testRelay
	secret   []byte
	emu      *opentoktest.Server
	client   *opentok.Client
	counter  *countingTransport
	sess     *opentok.Session
	bob      *opentoktest.Participant
	mia, ana *console
}

func newFleetWithBob(t *testing.T) *fleetWithBob {
	t.Helper()
	fx := &fleetWithBob{secret: e2eSecret(t)}
	ns := startNATSServer(t)
	lnA, lnB := listenLoopback(t), listenLoopback(t)
	fx.emu = newEmulator(t, httpBase(lnA), httpBase(lnA))
	tr := &http.Transport{}
	fx.counter = &countingTransport{base: tr}
	client, err := fx.emu.Client(false, opentok.WithHTTPClient(&http.Client{Transport: fx.counter, Timeout: 30 * time.Second}))
	if err != nil {
		t.Fatal(err)
	}
	fx.client = client
	fx.a = startRelay(t, lnA, relay.Config{Name: "relay-a", NatsURL: ns.ClientURL(), Secret: fx.secret}, client)
	fx.b = startRelay(t, lnB, relay.Config{Name: "relay-b", NatsURL: ns.ClientURL(), Secret: fx.secret}, client)
	beforeRelaysStop(t, tr.CloseIdleConnections, func() { _ = fx.emu.Close() })
	sess, err := client.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	fx.sess = sess
	tok, err := client.Token(sess.ID, opentok.TokenOptions{Role: opentok.RolePublisher, Data: `{"name":"Bob"}`})
	if err != nil {
		t.Fatal(err)
	}
	if fx.bob, err = fx.emu.Join(sess.ID, tok.String()); err != nil {
		t.Fatal(err)
	}
	fx.mia = startConsole(t, fx.a.wsURL, fx.secret, "mia", consoleOptions{role: events.RoleModerator})
	fx.ana = startConsole(t, fx.b.wsURL, fx.secret, "ana", consoleOptions{role: events.RoleModerator})
	waitFor(t, 10*time.Second, "both relays to see Bob", func() bool {
		seen := 0
		for _, r := range []*testRelay{fx.a, fx.b} {
			r.srv.Hub().State(func(st *events.State) {
				if _, ok := st.LiveConnection(sess.ID, fx.bob.ConnectionID()); ok {
					seen++
				}
			})
		}
		return seen == 2
	})
	return fx
}

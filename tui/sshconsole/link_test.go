package sshconsole

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/events/relayclient"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/tui/demo"
)

// follow runs a relay client attached in-process as claims and hands its
// frames to the test.
func follow(t *testing.T, hub *relay.Hub, claims relay.Claims) (*relayclient.Client, <-chan relayclient.Frame) {
	t.Helper()
	frames := make(chan relayclient.Frame, 256)
	c := relayclient.New(relayclient.Config{Connect: connector(hub, claims)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, func(f relayclient.Frame) error {
			select {
			case frames <- f:
			case <-ctx.Done():
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })
	return c, frames
}

// frameWhere waits for the first frame ok accepts.
func frameWhere(t *testing.T, frames <-chan relayclient.Frame, what string, ok func(relayclient.Frame) bool) relayclient.Frame {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f := <-frames:
			if ok(f) {
				return f
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestLocalConsolesGetTheStreamAndActAsTheirUser: a console attached to
// the relay in-process (the SSH console's link) gets the hello with its
// user's name and role, the snapshot and the live events; its commands go
// through the gateway as that user — audited under their name, refused
// for a viewer — with no token anywhere.
func TestLocalConsolesGetTheStreamAndActAsTheirUser(t *testing.T) {
	ctx := context.Background()
	d, err := demo.Start(ctx, demo.Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	client, err := d.Emulator().Client(false)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := client.Token(sess.ID, opentok.TokenOptions{Role: opentok.RolePublisher, Data: `{"name":"Alice"}`})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := d.Emulator().Join(sess.ID, tok.String())
	if err != nil {
		t.Fatal(err)
	}
	hub := d.Relay().Hub()

	ana, anaFrames := follow(t, hub, relay.Claims{Name: "ana", Role: events.RoleModerator, ID: "ssh:ana"})
	hello := frameWhere(t, anaFrames, "hello", func(f relayclient.Frame) bool { return f.Hello != nil })
	if hello.Hello.Name != "ana" || hello.Hello.Role != events.RoleModerator {
		t.Errorf("hello %+v: want ana, moderator", hello.Hello)
	}
	frameWhere(t, anaFrames, "Alice's join", func(f relayclient.Frame) bool {
		return f.Event != nil && strings.Contains(string(f.Event.Event), alice.ConnectionID()) ||
			f.Snapshot != nil && strings.Contains(string(f.Raw), alice.ConnectionID())
	})

	params, _ := json.Marshal(events.CommandParams{Type: "hello", Data: "from ana over ssh"})
	if err := ana.Send(events.Command{ID: "s1", Action: events.ActionSignal, Session: sess.ID, Connection: alice.ConnectionID(), Params: params}); err != nil {
		t.Fatal(err)
	}
	// The audit entry comes before the answer (the relay appends it
	// first): look for both at once.
	var res, audit relayclient.Frame
	frameWhere(t, anaFrames, "the signal's audit entry and result", func(f relayclient.Frame) bool {
		if f.Result != nil && f.Result.ID == "s1" {
			res = f
		}
		if f.Audit != nil && f.Audit.Audit.Action == events.ActionSignal {
			audit = f
		}
		return res.Result != nil && audit.Audit != nil
	})
	if !res.Result.OK {
		t.Fatalf("signal refused: %+v", res.Result.Error)
	}
	if audit.Audit.Audit.Actor != "ana" {
		t.Errorf("audited as %q, want ana", audit.Audit.Audit.Actor)
	}
	if got := alice.Signals(); len(got) != 1 || got[0].Data != "from ana over ssh" {
		t.Errorf("Alice received %+v", got)
	}

	ben, benFrames := follow(t, hub, relay.Claims{Name: "ben", Role: events.RoleViewer, ID: "ssh:ben"})
	frameWhere(t, benFrames, "ben's hello", func(f relayclient.Frame) bool { return f.Hello != nil && f.Hello.Role == events.RoleViewer })
	// Send needs the link up: wait for it before sending.
	for ben.Send(events.Command{ID: "d1", Action: events.ActionDisconnect, Session: sess.ID, Connection: alice.ConnectionID()}) != nil {
		time.Sleep(10 * time.Millisecond)
	}
	res = frameWhere(t, benFrames, "the viewer's refusal", func(f relayclient.Frame) bool { return f.Result != nil && f.Result.ID == "d1" })
	if res.Result.OK || res.Result.Error.Status != 403 {
		t.Errorf("a viewer's disconnect: %+v, want 403", res.Result)
	}
	if connected, _ := alice.Connected(); !connected {
		t.Error("a viewer's disconnect reached the Video API")
	}
}

// TestALocalConsoleThatFallsBehindResumesWithoutAGap: a console in the
// relay's process that stops reading is closed as a WebSocket one would
// be (4000, resume) once more than the hub's queue waits for it, and
// attaches again from where it was: it is handed every record once, in
// order, and ends where the relay is.
func TestALocalConsoleThatFallsBehindResumesWithoutAGap(t *testing.T) {
	d, err := demo.Start(context.Background(), demo.Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	hub := d.Relay().Hub()
	gate := make(chan struct{})
	var mu sync.Mutex
	var seqs []uint64
	hellos := 0
	c := relayclient.New(relayclient.Config{Connect: connector(hub, relay.Claims{Name: "ana", Role: events.RoleViewer, ID: "ssh:ana"}),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx, func(f relayclient.Frame) error {
			if f.Hello != nil {
				mu.Lock()
				hellos++
				first := hellos == 1
				mu.Unlock()
				if !first {
					return nil
				}
			}
			if f.Event != nil {
				<-gate // the console stops reading after its first frames
				mu.Lock()
				seqs = append(seqs, f.Event.Seq)
				mu.Unlock()
			}
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done })

	base := strings.Replace(strings.TrimSuffix(d.RelayURL(), "/v1/stream"), "ws://", "http://", 1)
	const n = relay.DefaultSendQueue + 200
	for i := range n {
		body := fmt.Sprintf(`{"sessionId":"1_MX4-s","projectId":"1","event":"connectionCreated","timestamp":%d,"connection":{"id":"c%d","createdAt":1,"data":""}}`,
			time.Now().UnixMilli(), i)
		resp, err := http.Post(base+"/v1/callbacks/session", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	close(gate)
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		got, h := len(seqs), hellos
		mu.Unlock()
		if got >= n {
			if h < 2 {
				t.Errorf("%d hellos: the console was never closed for falling behind", h)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the console has %d of %d records (%d hellos)", got, n, h)
		}
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("records %d then %d: a gap or a repeat after resuming", seqs[i-1], seqs[i])
		}
	}
}

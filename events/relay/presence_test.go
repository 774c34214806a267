package relay_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
)

// names lists who a presence frame says is on, as "name@relay:view".
func names(p events.PresenceFrame) []string {
	var out []string
	for _, c := range p.Consoles {
		out = append(out, c.Name+"@"+c.Relay+":"+c.View)
	}
	slices.Sort(out)
	return out
}

// TestPresenceAndQuestionsAcrossTheFleet: consoles on two relays of one
// NATS that say where they are each see both, with their relay and view;
// a console that never says (gavel events) is not listed and gets no
// presence frames. A question ana opens about Bob holds him: mia sees it
// as an intent, her own question and her command on Bob are refused 409
// naming ana, and once ana answers no, mia may act. A console that leaves
// is gone from the picture, its open questions with it.
func TestPresenceAndQuestionsAcrossTheFleet(t *testing.T) {
	fx := newFleetWithBob(t)
	mia, ana, sess, bob := fx.mia, fx.ana, fx.sess, fx.bob
	script := startConsole(t, fx.a.wsURL, fx.secret, "script", consoleOptions{})
	n := 0
	send := func(c *console, action string, cmd events.Command, params events.CommandParams) events.Result {
		t.Helper()
		n++
		cmd.Type, cmd.ID, cmd.Action = events.FrameCommand, "p"+string(rune('a'+n)), action
		cmd.Params, _ = json.Marshal(params)
		return c.command(t, cmd, 30*time.Second)
	}
	for _, c := range []*console{mia, ana} {
		if r := send(c, events.ActionWhere, events.Command{Session: sess.ID}, events.CommandParams{View: "session"}); !r.OK {
			t.Fatalf("%s where: %+v", c.name, r.Error)
		}
	}
	want := []string{"ana@relay-b:session", "mia@relay-a:session"}
	for _, c := range []*console{mia, ana} {
		waitFor(t, 10*time.Second, c.name+" to see both", func() bool { return slices.Equal(names(c.whoIsOn()), want) })
	}
	for _, p := range mia.whoIsOn().Consoles {
		if p.Via != events.ViaWebSocket || p.Role != events.RoleModerator || p.Since.IsZero() || p.Session != sess.ID {
			t.Errorf("presence %+v: want a moderator by websocket since a time, in the session", p)
		}
	}
	if p := script.whoIsOn(); len(p.Consoles) != 0 {
		t.Errorf("a console that never said where it is got presence %+v", p)
	}

	// ana opens a question about disconnecting Bob.
	about := events.Command{Session: sess.ID, Connection: bob.ConnectionID()}
	if r := send(ana, events.ActionIntend, about, events.CommandParams{Intent: events.ActionDisconnect}); !r.OK {
		t.Fatalf("ana's intent: %+v", r.Error)
	}
	waitFor(t, 10*time.Second, "mia to see ana's question on Bob", func() bool {
		for _, in := range mia.whoIsOn().Intents {
			if in.Name == "ana" && in.Action == events.ActionDisconnect && in.Target == bob.ConnectionID() && in.Session == sess.ID {
				return true
			}
		}
		return false
	})
	wantBusy := "ana is already disconnecting Bob (…" + bob.ConnectionID()[len(bob.ConnectionID())-4:] + ")"
	if r := send(mia, events.ActionIntend, about, events.CommandParams{Intent: events.ActionDisconnect}); r.OK || r.Error.Status != http.StatusConflict || !strings.HasPrefix(r.Error.Message, wantBusy) {
		t.Errorf("mia's question on Bob: %+v; want 409 %q", r.Error, wantBusy)
	}
	if r := send(mia, events.ActionDisconnect, about, events.CommandParams{}); r.OK || r.Error.Status != http.StatusConflict {
		t.Errorf("mia's disconnect of Bob while ana asks: %+v; want 409", r.Error)
	}
	if connected, _ := bob.Connected(); !connected {
		t.Fatal("Bob was disconnected while ana's question was open")
	}

	// ana answers no: the question ends, and mia may act.
	if r := send(ana, events.ActionRelease, about, events.CommandParams{Intent: events.ActionDisconnect}); !r.OK {
		t.Fatalf("ana's release: %+v", r.Error)
	}
	waitFor(t, 10*time.Second, "ana's question gone from mia's picture", func() bool { return len(mia.whoIsOn().Intents) == 0 })
	if r := send(mia, events.ActionIntend, about, events.CommandParams{Intent: events.ActionDisconnect}); !r.OK {
		t.Fatalf("mia's question after ana's answer: %+v", r.Error)
	}
	// A viewer may not hold targets.
	if r := send(script, events.ActionIntend, about, events.CommandParams{Intent: events.ActionDisconnect}); r.OK || r.Error.Status != http.StatusForbidden {
		t.Errorf("a viewer's intent: %+v; want 403", r.Error)
	}

	// mia leaves with her question open: she and it are gone for ana.
	mia.stop()
	waitFor(t, 10*time.Second, "mia and her question gone from ana's picture", func() bool {
		p := ana.whoIsOn()
		return slices.Equal(names(p), []string{"ana@relay-b:session"}) && len(p.Intents) == 0
	})
}

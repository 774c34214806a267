package relay_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relay"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// banFixture is a relay over the emulator with a routed session and a
// moderator's console.
type banFixture struct {
	emu    *opentoktest.Server
	client *opentok.Client
	relay  *testRelay
	mod    *console
	sid    string
}

func newBanFixture(t *testing.T) *banFixture {
	t.Helper()
	ln := listenLoopback(t)
	emu := newEmulator(t, httpBase(ln), httpBase(ln))
	client, closeIdle := newEmulatorClient(t, emu)
	r := startRelay(t, ln, relay.Config{Name: "relay-bans"}, client)
	beforeRelaysStop(t, closeIdle, func() { _ = emu.Close() })
	sess, err := client.Sessions.Create(t.Context(), opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	mod := startConsole(t, r.wsURL, r.secret, "mia", consoleOptions{role: events.RoleModerator})
	return &banFixture{emu: emu, client: client, relay: r, mod: mod, sid: sess.ID}
}

// join connects a participant whose connection data is data, and waits
// until the relay has heard of it.
func (fx *banFixture) join(t *testing.T, data string) *opentoktest.Participant {
	t.Helper()
	tok, err := fx.client.Token(fx.sid, opentok.TokenOptions{Role: opentok.RolePublisher, Data: data})
	if err != nil {
		t.Fatal(err)
	}
	p, err := fx.emu.Join(fx.sid, tok.Value)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitGone waits until p has been force-disconnected after a gavel-banned
// signal.
func waitGone(t *testing.T, p *opentoktest.Participant, what string) {
	t.Helper()
	waitFor(t, 10*time.Second, what, func() bool {
		connected, reason := p.Connected()
		return !connected && reason == opentoktest.ReasonForceDisconnected
	})
	if !slices.ContainsFunc(p.Signals(), func(s opentoktest.Signal) bool { return s.Type == relay.BannedSignalType }) {
		t.Errorf("%s: no %s signal before the disconnect: %+v", what, relay.BannedSignalType, p.Signals())
	}
}

func (fx *banFixture) command(t *testing.T, id, action, conn string, params events.CommandParams) events.Result {
	t.Helper()
	raw, _ := json.Marshal(params)
	return fx.mod.command(t, events.Command{Type: events.FrameCommand, ID: id, Action: action, Session: fx.sid, Connection: conn, Params: raw}, 30*time.Second)
}

// TestBanSticksUntilLifted: a moderator bans a connection; the relay
// removes it at once, and every time the same person (same name in the
// connection data) comes back, until the ban is lifted; then they stay.
// Someone else is never touched. Every console learns of the ban, a
// console that connects later too (in its snapshot), and the trail says
// who banned whom, why, and what the rule did.
func TestBanSticksUntilLifted(t *testing.T) {
	fx := newBanFixture(t)
	troll := fx.join(t, `{"name":"Troll","role":"viewer"}`)
	ana := fx.join(t, `{"name":"Ana","role":"viewer"}`)
	waitFor(t, 10*time.Second, "the relay to see both", func() bool {
		var n int
		fx.relay.srv.Hub().State(func(s *events.State) { n = s.Counts(fx.sid).Connections })
		return n == 2
	})

	res := fx.command(t, "ban-1", events.ActionBan, troll.ConnectionID(), events.CommandParams{For: "1h", Reason: "spam in chat"})
	if !res.OK {
		t.Fatalf("ban: %+v", res.Error)
	}
	var answer struct{ Ban events.Ban }
	if err := json.Unmarshal(res.Data, &answer); err != nil || answer.Ban.Identity != "Troll" || answer.Ban.Session != fx.sid || answer.Ban.By != "mia" {
		t.Fatalf("ban answer %s: %v", res.Data, err)
	}
	waitGone(t, troll, "the banned connection to be removed")
	for range 3 {
		back := fx.join(t, `{"name":"Troll","role":"viewer"}`)
		waitGone(t, back, "the banned person, back, to be removed again")
	}
	if connected, _ := ana.Connected(); !connected {
		t.Error("Ana, never banned, was disconnected")
	}
	late := startConsole(t, fx.relay.wsURL, fx.relay.secret, "late", consoleOptions{})
	for _, c := range []*console{fx.mod, late} {
		waitFor(t, 10*time.Second, "console "+c.name+" to hold the ban", func() bool {
			c.mu.Lock()
			defer c.mu.Unlock()
			bans := c.mirror.State.Bans(time.Now())
			return len(bans) == 1 && bans[0].ID == answer.Ban.ID
		})
	}

	// Lifted: the person comes back and stays. Another ban, on someone
	// who joins after them, is the sentinel that the rules have seen the
	// join: when the sentinel is removed, the unbanned join was judged.
	if res := fx.command(t, "unban-1", events.ActionUnban, "", events.CommandParams{Ban: answer.Ban.ID}); !res.OK {
		t.Fatalf("unban: %+v", res.Error)
	}
	if res := fx.command(t, "ban-2", events.ActionBan, "", events.CommandParams{Match: "Sentinel", For: "1h"}); !res.OK {
		t.Fatalf("ban by match: %+v", res.Error)
	}
	forgiven := fx.join(t, `{"name":"Troll","role":"viewer"}`)
	waitGone(t, fx.join(t, `{"name":"Sentinel"}`), "the sentinel to be removed")
	if connected, reason := forgiven.Connected(); !connected {
		t.Errorf("after the ban was lifted, Troll was removed again (%s)", reason)
	}

	// The trail: who banned, why; each removal claimed by rule:ban. The
	// sentinel's disconnect is audited after the Video API answered,
	// which may be after the test saw it gone: the trail is read again
	// until it has five.
	var bans, unbans, claims, disconnects int
	count := func() bool {
		bans, unbans, claims, disconnects = 0, 0, 0, 0
		for _, rec := range logRecords(t, fx.relay) {
			if rec.Type != events.FrameAudit {
				continue
			}
			a := rec.Audit
			switch {
			case a.Action == events.ActionBan && a.Actor == "mia":
				bans++
			case a.Action == events.ActionUnban && a.Actor == "mia" && a.Target == answer.Ban.ID:
				unbans++
			case a.Actor == "rule:ban" && a.Action == "ban":
				claims++
			case a.Actor == "rule:ban" && a.Action == events.ActionDisconnect && a.OK:
				disconnects++
			}
		}
		return disconnects >= 5
	}
	waitFor(t, 10*time.Second, "five audited disconnects", count)
	if bans != 2 || unbans != 1 || claims != 5 || disconnects != 5 {
		t.Errorf("trail: %d bans, %d unbans by mia, %d rule:ban claims, %d disconnects; want 2, 1, 5, 5", bans, unbans, claims, disconnects)
	}
}

// TestABanEndsWhenItExpires: a ban by name for two seconds removes the
// person each time they come back within it; once it has expired (by the
// relay's clock, which judges joins) they come back and stay, and the
// consoles no longer list it.
func TestABanEndsWhenItExpires(t *testing.T) {
	fx := newBanFixture(t)
	const troll = `{"name":"Troll","role":"viewer"}`
	res := fx.command(t, "ban-short", events.ActionBan, "", events.CommandParams{Match: "Troll", For: "2s", Reason: "cool off"})
	if !res.OK {
		t.Fatalf("ban: %+v", res.Error)
	}
	var answer struct{ Ban events.Ban }
	if err := json.Unmarshal(res.Data, &answer); err != nil {
		t.Fatal(err)
	}
	for time.Until(answer.Ban.Expires) > time.Second {
		waitGone(t, fx.join(t, troll), "Troll, inside the ban, removed")
	}
	time.Sleep(time.Until(answer.Ban.Expires) + 50*time.Millisecond)
	back := fx.join(t, troll)
	// A ban on someone who joins after Troll is the sentinel that the
	// rules have judged Troll's join.
	if res := fx.command(t, "ban-sentinel", events.ActionBan, "", events.CommandParams{Match: "Sentinel", For: "1h"}); !res.OK {
		t.Fatalf("ban the sentinel: %+v", res.Error)
	}
	waitGone(t, fx.join(t, `{"name":"Sentinel"}`), "the sentinel to be removed")
	if connected, reason := back.Connected(); !connected {
		t.Errorf("Troll, back after the ban expired, was removed (%s)", reason)
	}
	fx.mod.mu.Lock()
	bans := fx.mod.mirror.State.Bans(time.Now())
	fx.mod.mu.Unlock()
	if len(bans) != 1 || bans[0].Identity != "Sentinel" {
		t.Errorf("the console lists %+v, want only the sentinel's ban", bans)
	}
}

// TestBanCommandsSayWhatIsWrong: a ban without a duration, one too long,
// one of a connection that is not there, and the lift of a ban that does
// not exist are refused in words; a viewer may not ban.
func TestBanCommandsSayWhatIsWrong(t *testing.T) {
	fx := newBanFixture(t)
	for _, tc := range []struct {
		name   string
		action string
		conn   string
		params events.CommandParams
		status int
		words  string
	}{
		{"no duration", events.ActionBan, "", events.CommandParams{Match: "x"}, 400, "params.for is required"},
		{"too long", events.ActionBan, "", events.CommandParams{Match: "x", For: "1000h"}, 400, "at most"},
		{"nobody", events.ActionBan, "", events.CommandParams{For: "1h"}, 400, "ban whom"},
		{"gone", events.ActionBan, "c-gone", events.CommandParams{For: "1h"}, 404, "not in session"},
		{"lift what", events.ActionUnban, "", events.CommandParams{Ban: "ban-nope"}, 404, "no ban ban-nope"},
	} {
		res := fx.command(t, "bad-"+tc.name, tc.action, tc.conn, tc.params)
		if res.OK || res.Error.Status != tc.status || !strings.Contains(res.Error.Message, tc.words) {
			t.Errorf("%s: %+v; want %d saying %q", tc.name, res.Error, tc.status, tc.words)
		}
	}
	viewer := startConsole(t, fx.relay.wsURL, fx.relay.secret, "vic", consoleOptions{})
	raw, _ := json.Marshal(events.CommandParams{Match: "x", For: "1h"})
	res := viewer.command(t, events.Command{Type: events.FrameCommand, ID: "v1", Action: events.ActionBan, Session: fx.sid, Params: raw}, 30*time.Second)
	if res.OK || res.Error.Status != 403 {
		t.Errorf("a viewer's ban: %+v, want 403", res.Error)
	}
}

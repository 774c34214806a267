package tui

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
	"github.com/gavelhq/gavel/tui/demo"
)

// liveConsole is the console's model on a real relay link: the feed
// (relayclient → Mirror → batches) and the Model, driven as the program
// drives them, with commands sent through the real client. Only the
// clock of the (y/N) guard is the test's, so it need not sleep.
type liveConsole struct {
	t      *testing.T
	m      Model
	f      *feed
	offset time.Duration
}

func startLiveConsole(t *testing.T, url, token string) *liveConsole {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	opts := Options{RelayURL: url, Token: token}
	f := newFeed(opts)
	go f.run(ctx)
	c := &liveConsole{t: t, f: f}
	c.m = NewModel(opts)
	c.m.cmdr = f.client
	c.m.clock = func() time.Time { return time.Now().Add(c.offset) }
	c.update(tea.WindowSizeMsg{Width: 160, Height: 50})
	return c
}

func (c *liveConsole) update(msg tea.Msg) {
	tm, cmd := c.m.Update(msg)
	c.m = tm.(Model)
	c.run(cmd)
}

func (c *liveConsole) run(cmd tea.Cmd) { runCmds(cmd, c.update) }

func (c *liveConsole) press(keys ...string) {
	for _, k := range keys {
		c.update(keyMsg(k))
	}
}

func (c *liveConsole) typeText(s string) {
	for _, r := range s {
		if r == ' ' {
			c.press("space")
		} else {
			c.press(string(r))
		}
	}
}

// confirm answers an open (y/N) question yes, once its guard has passed.
func (c *liveConsole) confirm() {
	c.t.Helper()
	if c.m.overlay.ask() == nil {
		c.t.Fatalf("no question to confirm:\n%s", plain(c.m))
	}
	c.offset += askGuard
	c.press("y")
}

// waitFor takes the feed's batches until cond holds.
func (c *liveConsole) waitFor(what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if msg, ok := c.f.batch(); ok {
			c.update(msg)
		}
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s:\n%s", what, plain(c.m))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (c *liveConsole) screen() string { return plain(c.m) }

// openSession goes to the session's view from wherever the console is.
func (c *liveConsole) openSession(sid string) {
	c.t.Helper()
	c.press(":")
	c.typeText("sessions")
	c.press("enter")
	for i, ix := range c.m.sessions.shown {
		if c.m.sessions.rows[ix].id == sid {
			c.m.sessions.list.cursor = i
		}
	}
	c.press("enter")
	if c.m.current() != viewSession || c.m.session.id != sid {
		c.t.Fatalf("not in the session:\n%s", c.screen())
	}
}

// selectConn puts the connections pane's cursor on the named participant.
func (c *liveConsole) selectConn(name string) {
	c.t.Helper()
	v := &c.m.session
	for i, ix := range v.connShown {
		if v.conns[ix].name == name {
			v.connList.cursor = i
			return
		}
	}
	c.t.Fatalf("no connection %q:\n%s", name, c.screen())
}

func (c *liveConsole) selectStream(id string) {
	c.t.Helper()
	v := &c.m.session
	for i, ix := range v.streamShown {
		if v.streams[ix].id == id {
			v.streamList.cursor = i
			return
		}
	}
	c.t.Fatalf("no stream %q:\n%s", id, c.screen())
}

// TestModerationEndToEnd: every action from its key, through the relay
// (role check, REST call to the emulator, audit), to its effect as the
// console shows it and as the emulator's participants feel it.
func TestModerationEndToEnd(t *testing.T) {
	ctx := context.Background()
	d, err := demo.Start(ctx, demo.Options{NoScenarios: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	emu := d.Emulator()
	client, err := emu.Client(false)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Routed})
	if err != nil {
		t.Fatal(err)
	}
	sid := sess.ID
	join := func(name string, role opentok.Role) *opentoktest.Participant {
		tok, err := client.Token(sid, opentok.TokenOptions{Role: role, Data: `{"name":"` + name + `"}`})
		if err != nil {
			t.Fatal(err)
		}
		p, err := emu.Join(sid, tok.String())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	alice, bob, carol := join("Alice", opentok.RolePublisher), join("Bob", opentok.RolePublisher), join("Carol", opentok.RoleSubscriber)
	aliceCam, err := alice.Publish(opentoktest.PublishOptions{Name: "Alice cam"})
	if err != nil {
		t.Fatal(err)
	}
	bobCam, err := bob.Publish(opentoktest.PublishOptions{Name: "Bob cam"})
	if err != nil {
		t.Fatal(err)
	}

	c := startLiveConsole(t, d.RelayURL(), d.Token())
	c.waitFor("the session with 3 connections and 2 streams", func() bool {
		r, ok := c.m.sessions.current()
		return ok && r.id == sid && r.conns == 3 && r.streams == 2
	})
	c.press("enter")

	t.Run("mute shows muted", func(t *testing.T) {
		c.t = t
		c.press("tab") // streams
		c.selectStream(bobCam)
		c.press("m")
		// The muted flag comes with the audit frame, the done line with
		// the result: the relay sends them on separate queues.
		c.waitFor("Bob's camera muted, and the done line", func() bool {
			for _, r := range c.m.session.streams {
				if r.id == bobCam {
					return r.muted && strings.Contains(c.screen(), "✓ muted camera")
				}
			}
			return false
		})
		st, _ := emu.Session(sid)
		for _, x := range st.Streams {
			if x.ID == bobCam && !x.AudioMuted {
				t.Error("the emulator's stream is not muted")
			}
		}
	})

	t.Run("signal reaches the participant", func(t *testing.T) {
		c.t = t
		c.press("tab", "tab") // connections
		c.selectConn("Alice")
		c.press("s")
		c.press("tab")
		c.typeText("hello Alice")
		c.press("enter")
		c.waitFor("Alice's signal", func() bool {
			return slices.ContainsFunc(alice.Signals(), func(s opentoktest.Signal) bool { return s.Data == "hello Alice" })
		})
		if len(bob.Signals()) != 0 {
			t.Errorf("Bob got %v", bob.Signals())
		}
		c.waitFor("the done line", func() bool { return strings.Contains(c.screen(), "✓ signalled Alice") })
	})

	t.Run("disconnect with confirmation", func(t *testing.T) {
		c.t = t
		c.selectConn("Carol")
		c.press("d")
		if c.m.overlay.ask() == nil || !strings.Contains(c.m.overlay.ask().question, "Disconnect Carol (") {
			t.Fatalf("no question naming Carol:\n%s", c.screen())
		}
		c.confirm()
		c.waitFor("Carol gone, kicked", func() bool {
			for _, r := range c.m.session.conns {
				if r.name == "Carol" {
					return false
				}
			}
			return strings.Contains(c.screen(), "kicked")
		})
		if ok, why := carol.Connected(); ok || why != opentoktest.ReasonForceDisconnected {
			t.Errorf("Carol connected %v, reason %q", ok, why)
		}
	})

	t.Run("record start and stop", func(t *testing.T) {
		c.t = t
		c.press("r")
		if c.m.overlay.form() == nil {
			t.Fatalf("r did not open the form:\n%s", c.screen())
		}
		c.press("ctrl+s")
		c.waitFor("●REC", func() bool { return c.m.session.s.Counts.Recording && strings.Contains(c.screen(), "●REC") })
		c.press("r")
		if c.m.overlay.ask() == nil || !strings.Contains(c.m.overlay.ask().question, "Stop recording") {
			t.Fatalf("r while recording did not ask:\n%s", c.screen())
		}
		c.confirm()
		c.waitFor("the badge to clear", func() bool { return !c.m.session.s.Counts.Recording && !strings.Contains(c.screen(), "●REC") })
	})

	t.Run("unpublish is confirmed by the stream ending", func(t *testing.T) {
		c.t = t
		c.press("tab") // streams
		c.selectStream(aliceCam)
		c.press("u")
		c.waitFor("the unpublish confirmed", func() bool { return strings.Contains(c.screen(), "✓ unpublished") })
		if len(alice.Streams()) != 0 {
			t.Errorf("Alice still publishes %v", alice.Streams())
		}
	})

	t.Run("a relayed session's 409 in words", func(t *testing.T) {
		c.t = t
		relayed, err := client.Sessions.Create(ctx, opentok.SessionOptions{MediaMode: opentok.Relayed})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := client.Token(relayed.ID, opentok.TokenOptions{Role: opentok.RolePublisher, Data: `{"name":"Dee"}`})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := emu.Join(relayed.ID, tok.String()); err != nil {
			t.Fatal(err)
		}
		c.press("esc")
		c.waitFor("the relayed session listed", func() bool {
			for _, r := range c.m.sessions.rows {
				if r.id == relayed.ID {
					return true
				}
			}
			return false
		})
		for i, ix := range c.m.sessions.shown {
			if c.m.sessions.rows[ix].id == relayed.ID {
				c.m.sessions.list.cursor = i
				c.m.sessions.remember()
			}
		}
		c.press("r", "ctrl+s")
		c.waitFor("the refusal", func() bool { return strings.Contains(c.screen(), "✗ start recording session Dee") })
		lines := strings.Split(c.screen(), "\n")
		t.Log(lines[len(lines)-1])
		if s := c.screen(); !strings.Contains(s, "relayed") || !strings.Contains(s, "routed") {
			t.Errorf("the 409 is not explained:\n%s", s)
		}
	})

	t.Run("the audit shows who did what", func(t *testing.T) {
		c.t = t
		c.press(":")
		c.typeText("audit")
		c.press("enter")
		c.waitFor("every action audited", func() bool {
			s := c.screen()
			return strings.Count(s, demo.TokenName) >= 6 && strings.Contains(s, "disconnect") && strings.Contains(s, "archive_stop")
		})
	})
	t.Run("a ban sticks until lifted", func(t *testing.T) {
		c.t = t
		c.openSession(sid)
		inSession := func(name string) bool {
			for _, r := range c.m.session.conns {
				if r.name == name {
					return true
				}
			}
			return false
		}
		dave := join("Dave", opentok.RoleSubscriber)
		c.waitFor("Dave in the session", func() bool { return inSession("Dave") })
		for c.m.session.pane != paneConnections {
			c.press("tab")
		}
		c.selectConn("Dave")
		c.press("b")
		c.press("tab", "tab")
		c.typeText("trolling")
		c.press("enter")
		if a := c.m.overlay.ask(); a == nil || !strings.Contains(a.question, "Ban Dave (") {
			t.Fatalf("no question naming Dave:\n%s", c.screen())
		}
		c.confirm()
		c.waitFor("Dave removed, and the done line", func() bool {
			ok, why := dave.Connected()
			return !ok && why == opentoktest.ReasonForceDisconnected && strings.Contains(c.screen(), "✓ banned Dave")
		})
		back := join("Dave", opentok.RoleSubscriber)
		c.waitFor("Dave, back, removed again", func() bool { ok, _ := back.Connected(); return !ok })
		c.press(":")
		c.typeText("bans")
		c.press("enter")
		c.waitFor(":bans listing Dave's ban", func() bool { s := c.screen(); return strings.Contains(s, "Dave") && strings.Contains(s, "trolling") })
		c.press("x")
		c.confirm()
		c.waitFor("the ban lifted", func() bool { return strings.Contains(c.screen(), "no bans in force") })
		c.press("esc")
		again := join("Dave", opentok.RoleSubscriber)
		c.waitFor("Dave back", func() bool { return inSession("Dave") })
		if ok, why := again.Connected(); !ok {
			t.Errorf("Dave, no longer banned, was removed (%s)", why)
		}
	})
	t.Run("a session's cap set from the console", func(t *testing.T) {
		c.t = t
		c.openSession(sid)
		// C, a cap of 1: flagged only (the demo's relay enforces no cap),
		// so nobody leaves, and ⚑ says the session is over it.
		c.press("C")
		c.typeText("1")
		c.press("ctrl+s")
		if a := c.m.overlay.ask(); a == nil || !strings.Contains(a.question, "at 1 connections (flagged only") {
			t.Fatalf("C did not ask:\n%s", c.screen())
		}
		c.confirm()
		c.waitFor("the rules in force from the log, and ⚑", func() bool {
			return c.m.rules != nil && c.m.rules.Rules.SessionCaps[sid] == 1 && c.m.rules.By == demo.TokenName &&
				strings.Contains(c.screen(), "⚑ over the limit of 1")
		})
		c.press(":")
		c.typeText("rules")
		c.press("enter")
		c.waitFor(":rules listing the session's cap", func() bool {
			s := c.screen()
			return strings.Contains(s, "session caps[1]") && strings.Contains(s, "set by "+demo.TokenName) && strings.Contains(s, "⚑ over")
		})
		// x lifts it again.
		c.press("x")
		c.confirm()
		c.waitFor("the cap lifted", func() bool { return c.m.rules != nil && len(c.m.rules.Rules.SessionCaps) == 0 })
		for _, p := range []*opentoktest.Participant{alice, bob, carol} {
			if ok, why := p.Connected(); !ok && why != opentoktest.ReasonForceDisconnected {
				t.Errorf("a flag-only cap removed someone (%s)", why)
			}
		}
	})
}

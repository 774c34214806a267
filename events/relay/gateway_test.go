package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
	"github.com/gavelhq/gavel/opentok/opentoktest"
)

// Every action end to end (issue 6), relay side: a console sends the
// command over its WebSocket, the relay's gateway acts on the emulator
// with the opentok client, and the test checks the emulator's ground truth,
// the result, the audit trail every console receives, and — where the
// action changes what is live — the console's mirrored state once the
// emulator's callback has come back through the relay.

// TestGatewayActionsEndToEnd shares one emulator and relay; each subtest
// has its own session and its own consoles (so its own rate limit).
func TestGatewayActionsEndToEnd(t *testing.T) {
	t.Parallel()
	fx := newGWFixture(t, true)

	t.Run("signal to the session and to one connection", func(t *testing.T) {
		mod := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)
		alice := fx.join(t, s, "alice", opentok.RolePublisher)
		bob := fx.join(t, s, "bob", opentok.RoleSubscriber)

		res := mod.do(events.Command{Action: events.ActionSignal, Session: s, Params: gwParams(t, map[string]string{"type": "chat", "data": "hello, all"})})
		if data := gwOK(t, "signal to the session", res); len(data) != 0 {
			t.Errorf("signal data = %v, want {}", data)
		}
		all := opentoktest.Signal{Type: "chat", Data: "hello, all"}
		for _, p := range []*opentoktest.Participant{alice, bob} {
			if !slices.Contains(p.Signals(), all) {
				t.Errorf("%s got signals %+v, want %+v", p.ConnectionID(), p.Signals(), all)
			}
		}

		one := opentoktest.Signal{Type: "nudge", Data: "just bob"}
		gwOK(t, "signal to bob", mod.do(events.Command{Action: events.ActionSignal, Session: s, Connection: bob.ConnectionID(),
			Params: gwParams(t, map[string]string{"type": one.Type, "data": one.Data})}))
		if !slices.Contains(bob.Signals(), one) {
			t.Errorf("bob got %+v, want %+v", bob.Signals(), one)
		}
		if slices.Contains(alice.Signals(), one) {
			t.Errorf("alice got bob's signal: %+v", alice.Signals())
		}
		a := mod.waitAudit("signal to bob", func(a events.Audit) bool {
			return a.Action == events.ActionSignal && a.Target == bob.ConnectionID()
		})
		if !a.Audit.OK || a.Audit.Actor != "mona" || a.Audit.Role != events.RoleModerator || a.Audit.Session != s || a.Audit.Error != "" {
			t.Errorf("audit of the signal = %+v", a.Audit)
		}
	})

	t.Run("disconnect", func(t *testing.T) {
		mod := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)
		alice := fx.join(t, s, "alice", opentok.RolePublisher)
		bob := fx.join(t, s, "bob", opentok.RolePublisher)
		mod.waitConnections(s, alice.ConnectionID(), bob.ConnectionID())

		gwOK(t, "disconnect alice", mod.do(events.Command{Action: events.ActionDisconnect, Session: s, Connection: alice.ConnectionID()}))
		if connected, reason := alice.Connected(); connected || reason != events.ReasonForceDisconnected {
			t.Errorf("alice: connected %v, reason %q; want disconnected with %q", connected, reason, events.ReasonForceDisconnected)
		}
		// The first frame that ends alice's connection in the console's
		// picture is the emulator's callback, with the service's reason.
		ev := mod.waitEvent("connectionDestroyed of alice", func(f gwEventFrame) bool {
			return f.Event.Kind == events.ConnectionDestroyed && f.Event.Connection != nil && f.Event.Connection.ID == alice.ConnectionID()
		})
		if ev.Source != events.SourceCallback || ev.Event.Reason != events.ReasonForceDisconnected {
			t.Errorf("alice's connectionDestroyed: source %q reason %q, want a callback with %q", ev.Source, ev.Event.Reason, events.ReasonForceDisconnected)
		}
		v := mod.waitView("alice's connection gone", s, func(v events.Session) bool { return !gwHasConnection(v, alice.ConnectionID()) })
		if !gwHasConnection(v, bob.ConnectionID()) || v.Counts.Connections != 1 {
			t.Errorf("after disconnecting alice the console shows %+v, want bob alone", v.Connections)
		}
		if connected, _ := bob.Connected(); !connected {
			t.Error("bob was disconnected too")
		}
	})

	t.Run("mute, mute_all with except, mute_all_off", func(t *testing.T) {
		mod := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)
		_, st1 := fx.publisher(t, s, "one")
		_, st2 := fx.publisher(t, s, "two")
		_, st3 := fx.publisher(t, s, "three")
		mod.waitStreams(s, st1, st2, st3)
		muted := func(id string) bool {
			t.Helper()
			st, ok := fx.truthStream(t, s, id)
			if !ok {
				t.Fatalf("stream %s left the emulator", id)
			}
			return st.AudioMuted
		}

		gwOK(t, "mute", mod.do(events.Command{Action: events.ActionMute, Session: s, Stream: st1}))
		if !muted(st1) || muted(st2) || muted(st3) {
			t.Errorf("after mute %s: muted %v %v %v, want only the first", st1, muted(st1), muted(st2), muted(st3))
		}

		gwOK(t, "mute_all", mod.do(events.Command{Action: events.ActionMuteAll, Session: s, Params: gwParams(t, map[string]any{"except": []string{st2}})}))
		if !fx.truth(t, s).MuteAll || !muted(st1) || muted(st2) || !muted(st3) {
			t.Errorf("after mute_all except %s: mute-all %v, muted %v %v %v; want on, all but the second", st2, fx.truth(t, s).MuteAll, muted(st1), muted(st2), muted(st3))
		}
		// While mute-all is on, a stream published later starts muted…
		_, late := fx.publisher(t, s, "late")
		if !muted(late) {
			t.Error("a stream published under mute-all is not muted")
		}

		// Which mute-all a late streamCreated fell in is judged by the
		// stream's createdAt (ms) against the audit entries' times, so
		// keep the steps in different milliseconds: within one millisecond
		// the order is not knowable.
		nextMillisecond()
		gwOK(t, "mute_all_off", mod.do(events.Command{Action: events.ActionMuteAllOff, Session: s}))
		nextMillisecond()
		if fx.truth(t, s).MuteAll {
			t.Error("mute-all still on after mute_all_off")
		}
		// …and once it is off, one published later does not.
		_, later := fx.publisher(t, s, "later")
		if muted(later) {
			t.Error("a stream published after mute_all_off is muted")
		}
		for _, action := range []string{events.ActionMuteAll, events.ActionMuteAllOff} {
			a := mod.waitAudit(action, func(a events.Audit) bool { return a.Action == action && a.Session == s })
			if !a.Audit.OK || a.Audit.Target != s {
				t.Errorf("audit of %s = %+v, want ok with the session as target", action, a.Audit)
			}
		}
		if a := mod.waitAudit("mute_all", func(a events.Audit) bool { return a.Action == events.ActionMuteAll && a.Session == s }); !slices.Equal(a.Audit.Except, []string{st2}) {
			t.Errorf("mute_all audit except = %v, want [%s]", a.Audit.Except, st2)
		}
		// No callback reports audio: the relay's picture of who is muted
		// comes from these audit entries, and must be the emulator's.
		mod.waitStreams(s, st1, st2, st3, late, later)
		var view events.Session
		fx.srv.Hub().State(func(st *events.State) { view, _ = st.Session(s) })
		for _, x := range view.Streams {
			if x.Muted != muted(x.ID) {
				t.Errorf("relay shows stream %s muted=%v, the emulator %v (st1 %s st2 %s st3 %s late %s later %s)", x.ID, x.Muted, muted(x.ID), st1, st2, st3, late, later)
			}
		}
		if view.MuteAll {
			t.Error("relay still shows mute-all after mute_all_off")
		}
	})

	t.Run("unpublish", func(t *testing.T) {
		mod := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)
		coop, stA := fx.publisher(t, s, "cooperates")
		deaf := fx.join(t, s, "deaf", opentok.RolePublisher)
		deaf.IgnoreUnpublishRequests()
		stB, err := deaf.Publish(opentoktest.PublishOptions{Name: "deaf"})
		if err != nil {
			t.Fatal(err)
		}
		_, stC := fx.publisher(t, s, "barrier")
		mod.waitStreams(s, stA, stB, stC)

		data := gwOK(t, "unpublish a cooperating publisher's stream", mod.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: stA}))
		if data["connection"] != coop.ConnectionID() {
			t.Errorf("unpublish data = %v, want the publisher's connection %s", data, coop.ConnectionID())
		}
		if want := (opentoktest.Signal{Type: UnpublishSignalType, Data: stA}); !slices.Contains(coop.Signals(), want) {
			t.Errorf("publisher got %+v, want %+v", coop.Signals(), want)
		}
		mod.waitEvent("streamDestroyed of the unpublished stream", func(f gwEventFrame) bool {
			return f.Event.Kind == events.StreamDestroyed && f.Event.Stream != nil && f.Event.Stream.ID == stA
		})
		mod.waitView("the unpublished stream gone", s, func(v events.Session) bool { return !gwHasStream(v, stA) })
		if len(coop.Streams()) != 0 {
			t.Errorf("the cooperating publisher still publishes %v", coop.Streams())
		}
		if connected, _ := coop.Connected(); !connected {
			t.Error("unpublish disconnected the publisher")
		}

		// A publisher whose app ignores the request keeps its stream. The
		// proof needs no sleep: a cooperating publisher asked afterwards
		// leaves later than the deaf one would have, and one session's
		// callbacks arrive in order, so once its streamDestroyed is in, the
		// deaf one's would have been too.
		data = gwOK(t, "unpublish an ignoring publisher's stream", mod.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: stB}))
		if data["connection"] != deaf.ConnectionID() {
			t.Errorf("unpublish data = %v, want %s", data, deaf.ConnectionID())
		}
		if want := (opentoktest.Signal{Type: UnpublishSignalType, Data: stB}); !slices.Contains(deaf.Signals(), want) {
			t.Errorf("deaf publisher got %+v, want %+v", deaf.Signals(), want)
		}
		gwOK(t, "unpublish the barrier stream", mod.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: stC}))
		mod.waitEvent("streamDestroyed of the barrier stream", func(f gwEventFrame) bool {
			return f.Event.Kind == events.StreamDestroyed && f.Event.Stream != nil && f.Event.Stream.ID == stC
		})
		if _, ok := fx.truthStream(t, s, stB); !ok {
			t.Fatal("the ignoring publisher's stream left the emulator")
		}
		if !gwHasStream(mod.sessionView(s), stB) {
			t.Error("the console lost the ignoring publisher's stream")
		}
		// The console then offers mute (or disconnect) instead; mute works.
		gwOK(t, "mute the stream that stayed", mod.do(events.Command{Action: events.ActionMute, Session: s, Stream: stB}))
		if st, _ := fx.truthStream(t, s, stB); !st.AudioMuted {
			t.Error("the stream that stayed is not muted")
		}

		// A stream that is not live anywhere is not found, in words that
		// name it (the console shows which of its streams it asked for).
		const ghost = "2c1f8e0a-7b7b-4c4c-9d9d-000000000000"
		gwRefused(t, "unpublish an unknown stream", mod.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: ghost}),
			http.StatusNotFound, "stream "+ghost+" is not live")
		// So is one that has gone.
		gwRefused(t, "unpublish a stream that left", mod.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: stA}),
			http.StatusNotFound, "stream "+stA+" is not live")
	})

	t.Run("archive_start and archive_stop", func(t *testing.T) {
		mod := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)
		_, st := fx.publisher(t, s, "host")
		mod.waitStreams(s, st)

		res := mod.do(events.Command{Action: events.ActionArchiveStart, Session: s, Params: gwParams(t, map[string]string{"name": "town hall"})})
		id := gwArchive(t, "archive_start", gwOK(t, "archive_start", res), "", "town hall", "started")
		mod.waitView("the recording badge", s, func(v events.Session) bool {
			return v.Counts.Recording && gwArchiveStatus(v, id) == "started"
		})
		if a, err := fx.api.Archives.Get(t.Context(), id); err != nil || a.Status != "started" {
			t.Errorf("emulator archive %s: %+v, %v; want started", id, a, err)
		}

		// No params: the session's only recording archive.
		res = mod.do(events.Command{Action: events.ActionArchiveStop, Session: s})
		gwArchive(t, "archive_stop", gwOK(t, "archive_stop", res), id, "", "stopped")
		mod.waitView("the recording badge to clear", s, func(v events.Session) bool {
			return !v.Counts.Recording && gwArchiveStatus(v, id) != "" && gwArchiveStatus(v, id) != "started"
		})
		gwRefused(t, "archive_stop with nothing recording", mod.do(events.Command{Action: events.ActionArchiveStop, Session: s}),
			http.StatusConflict, "no archive is recording")

		// A relayed session cannot be archived: the Video API's 409, in words.
		relayed := fx.session(t, opentok.Relayed)
		fx.publisher(t, relayed, "peer")
		gwRefused(t, "archive_start on a relayed session", mod.do(events.Command{Action: events.ActionArchiveStart, Session: relayed}),
			http.StatusConflict, "the session is relayed — archiving needs a routed session")

		// Two recording at once (the second under its own multiArchiveTag):
		// the console must name one.
		first := gwArchive(t, "archive_start", gwOK(t, "archive_start", mod.do(events.Command{Action: events.ActionArchiveStart, Session: s,
			Params: gwParams(t, map[string]string{"name": "main"})})), "", "main", "started")
		second, err := fx.api.Archives.Start(t.Context(), opentok.ArchiveOptions{SessionID: s, Name: "backup", MultiArchiveTag: "backup"})
		if err != nil {
			t.Fatal(err)
		}
		mod.waitView("two archives recording", s, func(v events.Session) bool {
			return gwArchiveStatus(v, first) == "started" && gwArchiveStatus(v, second.ID) == "started"
		})
		gwRefused(t, "archive_stop with two recording", mod.do(events.Command{Action: events.ActionArchiveStop, Session: s}),
			http.StatusConflict, "several archives are recording: name one")
		if a, _ := fx.api.Archives.Get(t.Context(), first); a == nil || a.Status != "started" {
			t.Errorf("a refused archive_stop stopped %s: %+v", first, a)
		}
		res = mod.do(events.Command{Action: events.ActionArchiveStop, Session: s, Params: gwParams(t, map[string]string{"archive": second.ID})})
		gwArchive(t, "archive_stop of a named archive", gwOK(t, "archive_stop named", res), second.ID, "backup", "stopped")
		mod.waitView("the named archive stopped", s, func(v events.Session) bool {
			return gwArchiveStatus(v, second.ID) != "started" && gwArchiveStatus(v, first) == "started"
		})
		gwArchive(t, "archive_stop of the one left", gwOK(t, "archive_stop", mod.do(events.Command{Action: events.ActionArchiveStop, Session: s})), first, "main", "stopped")
		mod.waitView("the recording badge to clear", s, func(v events.Session) bool { return !v.Counts.Recording })

		a := mod.waitAudit("archive_start", func(a events.Audit) bool { return a.Action == events.ActionArchiveStart && a.Target == id })
		if !a.Audit.OK {
			t.Errorf("audit of archive_start = %+v", a.Audit)
		}
	})

	t.Run("token", func(t *testing.T) {
		admin := fx.console(t, "ada", events.RoleAdmin)
		mod := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)

		asked := time.Now()
		data := gwOK(t, "token", admin.do(events.Command{Action: events.ActionToken, Session: s,
			Params: gwParams(t, map[string]string{"role": "publisher", "data": "guest-7", "ttl": "1h"})}))
		tok, _ := data["token"].(string)
		expStr, _ := data["expires_at"].(string)
		if tok == "" || len(data) != 2 {
			t.Fatalf("token data = %v, want token and expires_at", data)
		}
		if exp, err := time.Parse(time.RFC3339, expStr); err != nil || exp.Before(asked.Add(59*time.Minute)) || exp.After(asked.Add(61*time.Minute)) {
			t.Errorf("expires_at %q (%v), want an hour from now", expStr, err)
		}
		p, err := fx.emu.Join(s, tok)
		if err != nil {
			t.Fatalf("the emulator refused the relay's token: %v", err)
		}
		if p.Role() != opentok.RolePublisher {
			t.Errorf("token role %s, want publisher", p.Role())
		}
		if c := fx.truth(t, s).Connections; len(c) != 1 || c[0].Data != "guest-7" {
			t.Errorf("emulator connections %+v, want one with data guest-7", c)
		}
		// The token is a credential: audited, never written into the trail.
		a := admin.waitAudit("token", func(a events.Audit) bool { return a.Action == events.ActionToken && a.Actor == "ada" })
		trail, _ := json.Marshal(a)
		if !a.Audit.OK || strings.Contains(string(trail), tok) {
			t.Errorf("audit of token = %s, want ok and no token", trail)
		}

		gwRefused(t, "a moderator asking for a token", mod.do(events.Command{Action: events.ActionToken, Session: s}), http.StatusForbidden, "may not")
	})

	t.Run("roles and the audit trail", func(t *testing.T) {
		// vic opens the stream as a browser does, the token in the
		// WebSocket subprotocols: the role is the token's either way.
		vic := fx.browserConsole(t, "vic", events.RoleViewer)
		mona := fx.console(t, "mona", events.RoleModerator)
		otto := fx.console(t, "otto", events.RoleViewer)
		s := fx.session(t, opentok.Routed)
		_, st := fx.publisher(t, s, "speaker")
		mona.waitStreams(s, st)

		// A viewer may only watch: refused, and the attempt is on every
		// console's trail.
		res := vic.do(events.Command{Action: events.ActionMute, Session: s, Stream: st})
		gwRefused(t, "a viewer's mute", res, http.StatusForbidden, "may not")
		a := otto.waitAudit("the viewer's attempt", func(a events.Audit) bool { return a.Actor == "vic" && a.Action == events.ActionMute })
		if a.Audit.OK || a.Audit.Error != res.Error.Message || a.Audit.Role != events.RoleViewer || a.Audit.Session != s || a.Audit.Target != st {
			t.Errorf("audit of the viewer's attempt = %+v, want ok:false with %q", a.Audit, res.Error.Message)
		}
		if got, _ := fx.truthStream(t, s, st); got.AudioMuted {
			t.Error("a viewer's mute muted the stream")
		}

		// A moderator's mute: done, and its audit entry is in the log
		// before the answer, and reaches every console with one seq.
		id := mona.send(events.Command{Action: events.ActionMute, Session: s, Stream: st})
		gwOK(t, "a moderator's mute", mona.result(id))
		if got, _ := fx.truthStream(t, s, st); !got.AudioMuted {
			t.Error("the moderator's mute did not mute the stream")
		}
		var seq uint64
		for _, c := range []*gwConsole{otto, vic, mona} {
			f := c.waitAudit("the moderator's mute", func(a events.Audit) bool { return a.Actor == "mona" && a.Action == events.ActionMute })
			if !f.Audit.OK || f.Audit.Error != "" || f.Audit.Target != st || f.Audit.Role != events.RoleModerator {
				t.Errorf("console %s: audit of the mute = %+v", c.name, f.Audit)
			}
			if seq != 0 && f.Seq != seq {
				t.Errorf("console %s: audit seq %d, another console had %d", c.name, f.Seq, seq)
			}
			seq = f.Seq
		}
		if at := mona.lastSeqAtResult(id); seq == 0 || seq > at {
			t.Errorf("audit seq %d, but the log ended at %d when the result arrived: appended after the answer", seq, at)
		}
	})

	t.Run("malformed and oversized commands are answered, counted, never audited", func(t *testing.T) {
		vic := fx.console(t, "vic", events.RoleViewer)
		mona := fx.console(t, "mona", events.RoleModerator)
		otto := fx.console(t, "otto", events.RoleViewer)
		s := fx.session(t, opentok.Routed)
		alice, st := fx.publisher(t, s, "speaker")
		mona.waitStreams(s, st)
		before := fx.commandCounts(t)

		// 30 KB each: the frame still fits the WebSocket read limit, so
		// only the gateway's bounds stand between it and every trail.
		huge := strings.Repeat("x", 30<<10)
		over := func(n int) string { return strings.Repeat("a", n) }
		cases := []struct {
			what    string
			console *gwConsole
			cmd     events.Command
			want    string
		}{
			{"a viewer's mute naming 30 KB ids", vic, events.Command{Action: events.ActionMute, Session: huge, Stream: huge},
				"session: at most 256 bytes (got 30720)"},
			{"a stream id over the bound", mona, events.Command{Action: events.ActionMute, Session: s, Stream: over(257)},
				"stream: at most 256 bytes (got 257)"},
			{"a connection id over the bound", mona, events.Command{Action: events.ActionDisconnect, Session: s, Connection: over(300)},
				"connection: at most 256 bytes (got 300)"},
			{"a command id over the bound", mona, events.Command{ID: over(257), Action: events.ActionMute, Session: s, Stream: st},
				"id: at most 256 bytes (got 257)"},
			{"signal data over the Video API's 8 kB", mona, events.Command{Action: events.ActionSignal, Session: s,
				Params: gwParams(t, map[string]string{"type": "chat", "data": over(8193)})}, "params.data: at most 8192 bytes (got 8193)"},
			{"a signal type over the Video API's 128 bytes", vic, events.Command{Action: events.ActionSignal, Session: s,
				Params: gwParams(t, map[string]string{"type": over(129)})}, "params.type: at most 128 bytes (got 129)"},
			{"a signal type the Video API refuses", mona, events.Command{Action: events.ActionSignal, Session: s,
				Params: gwParams(t, map[string]string{"type": "no spaces"})}, "params.type: only letters"},
			{"a mute_all sparing an id over the bound", mona, events.Command{Action: events.ActionMuteAll, Session: s,
				Params: gwParams(t, map[string]any{"except": []string{st, over(257)}})}, "params.except[1]: at most 256 bytes (got 257)"},
			{"params over the bound", vic, events.Command{Action: events.ActionSignal, Session: s,
				Params: gwParams(t, map[string]string{"type": "chat", "pad": over(52 << 10)})}, "params: at most 51200 bytes"},
			{"params that are not an object", mona, events.Command{Action: events.ActionSignal, Session: s, Params: json.RawMessage(`[1]`)},
				"params:"},
			{"a mute without a stream", mona, events.Command{Action: events.ActionMute, Session: s}, "stream is required"},
			{"a command without a session", vic, events.Command{Action: events.ActionMute, Stream: st}, "session is required"},
			{"an unknown action", mona, events.Command{Action: "banish", Session: s, Connection: "c"}, `unknown action "banish"`},
			{"a viewer's unknown action", vic, events.Command{Action: "banish", Session: s}, `unknown action "banish"`},
			{"an action name over the bound", vic, events.Command{Action: huge, Session: s}, "action: at most 256 bytes (got 30720)"},
		}
		for _, c := range cases {
			res := c.console.do(c.cmd)
			gwRefused(t, c.what, res, http.StatusBadRequest, c.want)
			if strings.Contains(res.Error.Message, over(64)) {
				t.Errorf("%s: the answer quotes the oversized value: %.200s…", c.what, res.Error.Message)
			}
		}
		// None of them reached the Video API.
		if got, _ := fx.truthStream(t, s, st); got.AudioMuted || fx.truth(t, s).MuteAll {
			t.Error("a refused command muted")
		}
		if sigs := alice.Signals(); len(sigs) != 0 {
			t.Errorf("refused signals were delivered: %d", len(sigs))
		}

		// Counted as malformed, under the protocol's actions or the one
		// fixed label "unknown": a made-up action makes no label of its own.
		after := fx.commandCounts(t)
		delta := func(k string) float64 { return after[k] - before[k] }
		malformed := 0.0
		for k := range after {
			action, outcome, _ := strings.Cut(k, "/")
			if outcome == outcomeMalformed {
				malformed += delta(k)
			}
			if !knownAction(action) && action != "unknown" {
				t.Errorf("commands_total has a label for action %.40q", action)
			}
			if (outcome == outcomeForbidden || outcome == outcomeError) && delta(k) != 0 {
				t.Errorf("commands_total{%s} grew by %v: a malformed command counted as a refusal or failure", k, delta(k))
			}
		}
		if malformed != float64(len(cases)) || delta("unknown/"+outcomeMalformed) != 3 {
			t.Errorf("malformed commands counted %v (unknown actions %v), want %d (3)", malformed, delta("unknown/"+outcomeMalformed), len(cases))
		}

		// Not audited. A refusal sent after them is (a viewer's mute by
		// role), and the log is one ordered stream: once its entry reached
		// otto, any entry for the commands above would have too.
		gwRefused(t, "a viewer's mute", vic.do(events.Command{Action: events.ActionMute, Session: s, Stream: st}), http.StatusForbidden, "may not")
		barrier := otto.waitAudit("the viewer's mute", func(a events.Audit) bool {
			return a.Actor == "vic" && a.Action == events.ActionMute && a.Session == s
		})
		for _, a := range otto.audits() {
			if a.Seq == barrier.Seq {
				continue
			}
			if a.Audit.Session == s || a.Audit.Session == huge || !knownAction(a.Audit.Action) {
				t.Errorf("a malformed command was audited: %.300v", a.Audit)
			}
		}
	})

	t.Run("Video API errors surface in words", func(t *testing.T) {
		mona := fx.console(t, "mona", events.RoleModerator)
		s := fx.session(t, opentok.Routed)
		fx.join(t, s, "present", opentok.RolePublisher)
		const ghost = "8b732fa3-1a9e-4c61-9d0e-6f1c2b3a4d5e"
		res := mona.do(events.Command{Action: events.ActionDisconnect, Session: s, Connection: ghost})
		gwRefused(t, "disconnect of an unknown connection", res, http.StatusNotFound, "that connection is not connected to the session")
		a := mona.waitAudit("the failed disconnect", func(a events.Audit) bool { return a.Action == events.ActionDisconnect && a.Target == ghost })
		if a.Audit.OK || a.Audit.Error != res.Error.Message {
			t.Errorf("audit of the failed disconnect = %+v, want ok:false with the result's message", a.Audit)
		}
	})
}

// TestGatewayWithoutVideoAPIClient: a relay with no credentials still
// watches (callbacks flow to consoles) but every action says why it cannot.
func TestGatewayWithoutVideoAPIClient(t *testing.T) {
	t.Parallel()
	fx := newGWFixture(t, false)
	mona := fx.console(t, "mona", events.RoleModerator)
	ada := fx.console(t, "ada", events.RoleAdmin)
	vic := fx.console(t, "vic", events.RoleViewer)
	s := fx.session(t, opentok.Routed)
	_, st := fx.publisher(t, s, "speaker")
	mona.waitStreams(s, st)

	res := mona.do(events.Command{Action: events.ActionMute, Session: s, Stream: st})
	gwRefused(t, "mute without credentials", res, http.StatusServiceUnavailable, "no Video API credentials")
	if got, _ := fx.truthStream(t, s, st); got.AudioMuted {
		t.Error("the stream was muted by a relay without credentials")
	}
	gwRefused(t, "reconcile without credentials", ada.do(events.Command{Action: events.ActionReconcile, Session: s}),
		http.StatusServiceUnavailable, "Video API credentials")
	// The role is checked first: a viewer hears 403, not 503.
	gwRefused(t, "a viewer's mute without credentials", vic.do(events.Command{Action: events.ActionMute, Session: s, Stream: st}),
		http.StatusForbidden, "may not")
	a := vic.waitAudit("the refused mute", func(a events.Audit) bool { return a.Actor == "mona" && a.Action == events.ActionMute })
	if a.Audit.OK || a.Audit.Error != res.Error.Message {
		t.Errorf("audit = %+v, want ok:false with %q", a.Audit, res.Error.Message)
	}
}

// TestGatewayRateLimitIsPerConsole: one console's commands are cut off
// with 429 — past its token bucket one after another, or past its
// in-flight bound all at once — while another console's still go
// through, and a refused command never reaches the Video API.
func TestGatewayRateLimitIsPerConsole(t *testing.T) {
	t.Parallel()
	fx := newGWFixture(t, true)
	steady := fx.console(t, "stella", events.RoleModerator)
	rush := fx.console(t, "russ", events.RoleModerator)
	calm := fx.console(t, "cal", events.RoleModerator)
	s := fx.session(t, opentok.Routed)
	alice := fx.join(t, s, "alice", opentok.RolePublisher)
	flood := func(c *gwConsole) events.Command {
		return events.Command{Action: events.ActionSignal, Session: s, Params: gwParams(t, map[string]string{"type": "flood", "data": c.name})}
	}
	done := map[string]int{} // signals the Video API delivered, by console

	// One at a time, each waiting for its answer: the bucket (bursts of
	// 20, 5 a second) runs dry long before 100.
	var refused *events.ResultError
	for i := 0; i < 100 && refused == nil; i++ {
		res := steady.do(flood(steady))
		switch {
		case res.OK:
			done[steady.name]++
		case res.Error.Status == http.StatusTooManyRequests:
			refused = res.Error
		default:
			t.Fatalf("command %d: %+v, want ok or 429", i, res.Error)
		}
	}
	if refused == nil || !strings.Contains(refused.Message, "a second") || done[steady.name] < 20 {
		t.Fatalf("one console, one at a time: %d done, then %+v; want at least the burst of 20 done, then 429 saying the rate", done[steady.name], refused)
	}

	// All at once: more than may be in flight, and more than the burst.
	const burst = 45
	ids := make([]string, burst)
	for i := range ids {
		ids[i] = rush.send(flood(rush))
	}
	statuses := map[int]int{}
	for _, id := range ids {
		res := rush.result(id)
		if res.OK {
			statuses[http.StatusOK]++
			done[rush.name]++
			continue
		}
		statuses[res.Error.Status]++
		if res.Error.Status == http.StatusTooManyRequests && !strings.Contains(res.Error.Message, "too many commands") {
			t.Errorf("429 message %q, want it to say too many commands", res.Error.Message)
		}
	}
	if statuses[http.StatusTooManyRequests] == 0 || statuses[http.StatusOK] == 0 || statuses[http.StatusOK]+statuses[http.StatusTooManyRequests] != burst {
		t.Errorf("burst of %d: results by status %v, want some done and the rest 429", burst, statuses)
	}
	t.Logf("one at a time: %d done before 429; a burst of %d: %v", done[steady.name], burst, statuses)

	// Another console is not held back by either.
	want := opentoktest.Signal{Type: "calm", Data: "still here"}
	gwOK(t, "another console's command", calm.do(events.Command{Action: events.ActionSignal, Session: s,
		Params: gwParams(t, map[string]string{"type": want.Type, "data": want.Data})}))
	got := map[string]int{}
	for _, sig := range alice.Signals() {
		if sig.Type == "flood" {
			got[sig.Data]++
		}
	}
	if !slices.Contains(alice.Signals(), want) || got[steady.name] != done[steady.name] || got[rush.name] != done[rush.name] {
		t.Errorf("signals delivered %v (calm's: %v), want exactly the commands answered ok %v", got, slices.Contains(alice.Signals(), want), done)
	}
}

// gwArchive checks an archive result's data ({"archive":{"id","name","status"}})
// and returns the archive's id; empty wants are not checked.
func gwArchive(t testing.TB, what string, data map[string]any, wantID, wantName, wantStatus string) string {
	t.Helper()
	a, ok := data["archive"].(map[string]any)
	if !ok || len(data) != 1 {
		t.Fatalf("%s: data %v, want {\"archive\":{…}}", what, data)
	}
	id, _ := a["id"].(string)
	name, _ := a["name"].(string)
	status, _ := a["status"].(string)
	if id == "" || (wantID != "" && id != wantID) || name != wantName && wantName != "" || status != wantStatus {
		t.Fatalf("%s: archive %v, want id %q name %q status %q", what, a, wantID, wantName, wantStatus)
	}
	if _, ok := a["name"]; !ok {
		t.Errorf("%s: archive %v has no name field", what, a)
	}
	return id
}

// gwArchiveStatus is an archive's status in a session view ("" if unknown).
func gwArchiveStatus(v events.Session, id string) string {
	for _, a := range v.Archives {
		if a.ID == id {
			return a.Status
		}
	}
	return ""
}

// TestGatewayVideoAPIRefusesTheRelaysCredentials: a relay configured with
// a wrong API secret. The Video API's 403 is about the relay, not the
// console: the answer must not read as "your role may not" (403), and the
// operator must learn why from the relay's log, which names no secret.
func TestGatewayVideoAPIRefusesTheRelaysCredentials(t *testing.T) {
	t.Parallel()
	const wrongSecret = "not-the-projects-secret-0123456789abcdef"
	logs := &lockedBuffer{}
	var emuSecret string
	fx := newGWFixtureWith(t, gwOptions{
		relayClient: func(emu *opentoktest.Server) (*opentok.Client, error) {
			emuSecret = emu.APISecret
			creds, err := opentok.ProjectCredentials(emu.APIKey, wrongSecret)
			if err != nil {
				return nil, err
			}
			return opentok.New(creds, opentok.WithBaseURL(emu.URL))
		},
		logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	ada := fx.console(t, "ada", events.RoleAdmin)
	mona := fx.console(t, "mona", events.RoleModerator)
	s := fx.session(t, opentok.Routed)
	_, st := fx.publisher(t, s, "speaker")
	mona.waitStreams(s, st)

	for _, c := range []struct {
		what    string
		console *gwConsole
		cmd     events.Command
	}{
		{"an admin's reconcile", ada, events.Command{Action: events.ActionReconcile, Session: s}},
		{"a moderator's mute", mona, events.Command{Action: events.ActionMute, Session: s, Stream: st}},
	} {
		res := c.console.do(c.cmd)
		gwRefused(t, c.what, res, http.StatusBadGateway, "the Video API refused the relay's credentials (403)")
		// The service's own words say which part of the credentials.
		if !strings.Contains(res.Error.Message, "Invalid token") {
			t.Errorf("%s: %q does not carry the service's reason", c.what, res.Error.Message)
		}
		a := mona.waitAudit(c.what, func(a events.Audit) bool { return a.Action == c.cmd.Action && a.Session == s })
		if a.Audit.OK || a.Audit.Error != res.Error.Message {
			t.Errorf("%s: audit %+v, want ok:false with the result's message", c.what, a.Audit)
		}
	}
	if got, _ := fx.truthStream(t, s, st); got.AudioMuted {
		t.Error("the stream was muted with refused credentials")
	}

	counts := fx.commandCounts(t)
	for _, action := range []string{events.ActionReconcile, events.ActionMute} {
		if counts[action+"/"+outcomeError] != 1 || counts[action+"/"+outcomeForbidden] != 0 {
			t.Errorf("commands_total for %s: %v error, %v forbidden; want 1 error, 0 forbidden", action,
				counts[action+"/"+outcomeError], counts[action+"/"+outcomeForbidden])
		}
	}

	out := logs.String()
	if !strings.Contains(out, "refused the relay's credentials") || !strings.Contains(out, "status=403") || !strings.Contains(out, "Invalid token") {
		t.Errorf("the relay's log does not say the Video API refused its credentials, and why:\n%s", out)
	}
	for name, secret := range map[string]string{"the configured secret": wrongSecret, "the project's secret": emuSecret} {
		if strings.Contains(out, secret) {
			t.Errorf("the relay's log contains %s", name)
		}
	}
}

// TestGatewayUnpublishOfAStreamTheRelayMissed: the relay hears no callback
// (every one lost), so a live stream is missing from its picture. Unpublish
// must not call it gone: the Video API has it, its publisher is unknown,
// 409; only a stream the service does not have either is 404.
func TestGatewayUnpublishOfAStreamTheRelayMissed(t *testing.T) {
	t.Parallel()
	fx := newGWFixtureWith(t, gwOptions{
		relayClient: func(emu *opentoktest.Server) (*opentok.Client, error) { return emu.Client(false) },
		emulator:    []opentoktest.Option{opentoktest.WithFaults(opentoktest.Faults{Drop: 1})},
	})
	mona := fx.console(t, "mona", events.RoleModerator)
	s := fx.session(t, opentok.Routed)
	_, st := fx.publisher(t, s, "unheard")
	if gwHasStream(mona.sessionView(s), st) {
		t.Fatal("the relay heard of the stream: the test needs it missed")
	}
	gwRefused(t, "unpublish a live stream the relay missed", mona.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: st}),
		http.StatusConflict, "the publisher of stream "+st+" is not known yet")
	const ghost = "9d0e6f1c-2b3a-4d5e-8b73-2fa31a9e4c61"
	gwRefused(t, "unpublish a stream nobody has", mona.do(events.Command{Action: events.ActionUnpublish, Session: s, Stream: ghost}),
		http.StatusNotFound, "stream "+ghost+" is not live")
}

// TestDescribeAPIErrorKeepsTheRelaysStatuses: a Video API status passes
// through when it tells the moderator about the target, and never as one
// of the statuses the relay answers with its own meaning (401 token, 403
// role, 429 the console's pace).
func TestDescribeAPIErrorKeepsTheRelaysStatuses(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		upstream int
		message  string
		want     int
		words    string
	}{
		{http.StatusBadRequest, "Invalid resolution", http.StatusBadRequest, "Invalid resolution"},
		{http.StatusNotFound, "Not found", http.StatusNotFound, "Not found"},
		{http.StatusRequestTimeout, "Invalid stream id", http.StatusNotFound, "Invalid stream id"},
		{http.StatusConflict, "Session is relayed", http.StatusConflict, "Session is relayed"},
		{http.StatusRequestEntityTooLarge, "", http.StatusRequestEntityTooLarge, "size limit"},
		{http.StatusUnauthorized, "Invalid token: application_id", http.StatusBadGateway, "the Video API refused the relay's credentials (401): Invalid token: application_id"},
		{http.StatusForbidden, "Invalid token: signature", http.StatusBadGateway, "the Video API refused the relay's credentials (403): Invalid token: signature"},
		{http.StatusTooManyRequests, "Too many requests", http.StatusServiceUnavailable, "rate-limiting the relay's project (429): Too many requests"},
		{http.StatusInternalServerError, "oops", http.StatusBadGateway, "internal error"},
		{http.StatusServiceUnavailable, "", http.StatusBadGateway, "temporarily unavailable"},
	} {
		err := fmt.Errorf("reconcile 1_MX4: %w", &opentok.APIError{Op: "connection list", Method: http.MethodGet, Path: "/v2/project/123/session/1_MX4/connection",
			Status: c.upstream, Message: c.message, Meaning: gwMeaning(c.upstream)})
		status, msg := describe(err)
		if status != c.want || !strings.Contains(msg, c.words) || !strings.HasPrefix(msg, "connection list: ") {
			t.Errorf("upstream %d %q: %d %q, want %d containing %q", c.upstream, c.message, status, msg, c.want, c.words)
		}
		if status == http.StatusUnauthorized || status == http.StatusForbidden || status == http.StatusTooManyRequests {
			t.Errorf("upstream %d became %d, a status the relay gives its own meaning", c.upstream, status)
		}
	}
}

// gwMeaning is the words opentok gives a status for most operations.
func gwMeaning(status int) string {
	switch status {
	case http.StatusRequestEntityTooLarge:
		return "the request is over the service's size limit"
	case http.StatusInternalServerError:
		return "the Video API had an internal error; try again"
	case http.StatusServiceUnavailable:
		return "the Video API is temporarily unavailable; try again"
	}
	return ""
}

// A command that runs out of time is audited all the same, saying the
// Video API may have acted: the ambiguous cases are the ones a trail is
// for. Before, the append shared the command's expired context and the
// trail said nothing.
func TestGatewayAuditsACommandThatTimedOut(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // a Video API that never answers
	}))
	defer slow.Close()
	creds, err := opentok.ProjectCredentials("12345678", "timed-out-test-secret")
	if err != nil {
		t.Fatal(err)
	}
	client, err := opentok.New(creds, opentok.WithBaseURL(slow.URL))
	if err != nil {
		t.Fatal(err)
	}
	l := hubLog(t, t.TempDir(), LogConfig{})
	g := NewGateway(GatewayConfig{Client: client, Log: l, State: func(fn func(*events.State)) { fn(events.NewState()) }})
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	res := g.Handle(ctx, Claims{Name: "ana", Role: events.RoleModerator},
		events.Command{Type: events.FrameCommand, ID: "c1", Action: events.ActionDisconnect, Session: "2_MX4xMjM0NTY3OH5-timeout", Connection: "c-late"})
	if res.OK || res.Error == nil || res.Error.Status != http.StatusGatewayTimeout || !strings.Contains(res.Error.Message, "may have acted") {
		t.Fatalf("result %+v %+v, want 504 saying the Video API may have acted", res, res.Error)
	}
	_, last, err := l.Bounds(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if last != 1 {
		t.Fatalf("the log holds %d records, want the one audit entry", last)
	}
	var got *events.Audit
	_ = l.Follow(t.Context(), 1, func(_ uint64, rec events.Record) error {
		got = rec.Audit
		return errors.New("read one")
	})
	if got == nil || got.OK || got.Actor != "ana" || got.Action != events.ActionDisconnect || got.Target == "" ||
		!strings.Contains(got.Error, "timed out — the Video API may have acted") {
		t.Fatalf("audit entry %+v, want the timed-out disconnect, saying the Video API may have acted", got)
	}
}

// nextMillisecond returns once the clock reads a later millisecond than
// when it was called: what makes two steps' millisecond timestamps
// ordered, whatever the machine's load.
func nextMillisecond() {
	for ms := time.Now().UnixMilli(); time.Now().UnixMilli() <= ms; {
		time.Sleep(100 * time.Microsecond)
	}
}

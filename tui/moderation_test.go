package tui

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relayclient"
)

// outbox is the relay link as the Model sees it: it records what the
// console sent. (The same flows run against a real relay and emulator in
// moderation_e2e_test.go; here they are driven key by key.)
// outbox records what the console sends: moderation commands in sent,
// presence (where, intend, release) in presence.
type outbox struct{ sent, presence []events.Command }

func (o *outbox) Send(c events.Command) error {
	switch c.Action {
	case events.ActionWhere, events.ActionIntend, events.ActionRelease:
		o.presence = append(o.presence, c)
	default:
		o.sent = append(o.sent, c)
	}
	return nil
}

// modHarness is a console on the fixture with a controllable clock.
type modHarness struct {
	t     *testing.T
	m     Model
	out   *outbox
	now   time.Time
	drops uint64
}

func newModHarness(t *testing.T, opts ...func(*Options)) *modHarness {
	o := Options{RelayURL: "ws://relay.test/v1/stream", Title: "acme-prod"}
	for _, f := range opts {
		f(&o)
	}
	h := &modHarness{t: t, out: &outbox{}, now: epoch}
	m := NewModel(o)
	m.now = epoch
	m.cmdr = h.out
	m.clock = func() time.Time { return h.now }
	h.m = m
	h.update(tea.WindowSizeMsg{Width: 120, Height: 40})
	msg := fixture().msg(relayclient.Live)
	msg.Role = events.RoleModerator
	h.update(msg)
	return h
}

// update runs one message and every command it gives, as the program
// would, feeding their messages back (sends are recorded, not answered).
func (h *modHarness) update(msg tea.Msg) {
	var tm tea.Model
	var cmd tea.Cmd
	tm, cmd = h.m.Update(msg)
	h.m = tm.(Model)
	h.run(cmd)
}

func (h *modHarness) run(cmd tea.Cmd) {
	runCmds(cmd, func(msg tea.Msg) {
		if _, paced := msg.(sendTickMsg); paced {
			h.now = h.now.Add(sendEvery) // let the pace's time pass
		}
		h.update(msg)
	})
}

// runCmds executes cmd as the program would and hands back the messages
// the console sends itself (sends, paced sends); others (the clipboard's)
// are dropped.
func runCmds(cmd tea.Cmd, update func(tea.Msg)) {
	if cmd == nil {
		return
	}
	switch msg := cmd().(type) {
	case tea.BatchMsg:
		for _, c := range msg {
			runCmds(c, update)
		}
	case sentMsg, sendTickMsg:
		update(msg)
	}
}

func (h *modHarness) press(keys ...string) {
	for _, k := range keys {
		h.update(keyMsg(k))
	}
}

// later lets the question guard pass.
func (h *modHarness) later() { h.now = h.now.Add(time.Second) }

func (h *modHarness) screen() string { return plain(h.m) }

func (h *modHarness) answer(ok bool, msg string, ids ...string) {
	var rs []events.Result
	for _, id := range ids {
		r := events.Result{Type: events.FrameResult, ID: id, OK: ok}
		if !ok {
			r.Error = &events.ResultError{Status: 409, Message: msg}
		}
		rs = append(rs, r)
	}
	st := fixture().msg(relayclient.Live)
	st.Events = nil // already shown
	st.Results = rs
	h.update(st)
}

// openTownHall drills into the town hall (the largest session: first row).
func (h *modHarness) openTownHall() {
	h.press("enter")
	if h.m.current() != viewSession || h.m.session.id != townHall {
		h.t.Fatalf("not in the town hall:\n%s", h.screen())
	}
}

func TestDisconnectAsksAndNoIsTheDefault(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall() // cursor on Dana Okafor, the host
	h.press("d")
	if h.m.overlay.ask() == nil {
		t.Fatalf("d did not ask:\n%s", h.screen())
	}
	q := h.m.overlay.ask().question
	for _, want := range []string{"Disconnect Dana Okafor (", "c-host-0001", "Dana Okafor (…"} {
		if !strings.Contains(q+h.screen(), want) {
			t.Errorf("question %q lacks %q", q, want)
		}
	}
	if !strings.Contains(h.screen(), "y yes · N/enter/esc no") {
		t.Errorf("the prompt does not say No is the default:\n%s", h.screen())
	}
	// Keys typed before the question appeared do not answer it.
	h.press("y")
	if h.m.overlay.ask() == nil || len(h.out.sent) != 0 {
		t.Fatal("y within the guard answered the question")
	}
	h.later()
	h.press("j", "x") // not answers: ignored, the question stays
	if h.m.overlay.ask() == nil {
		t.Fatal("an unrelated key closed the question")
	}
	for _, no := range []string{"enter", "esc", "n"} {
		h.press(no)
		if h.m.overlay.ask() != nil || len(h.out.sent) != 0 {
			t.Fatalf("%s did not cancel (sent %v)", no, h.out.sent)
		}
		if !strings.Contains(h.screen(), "cancelled") {
			t.Errorf("%s: no word of the cancel:\n%s", no, h.screen())
		}
		h.press("d")
		h.later()
	}
	h.press("y")
	if len(h.out.sent) != 1 {
		t.Fatalf("sent %v", h.out.sent)
	}
	c := h.out.sent[0]
	if c.Action != events.ActionDisconnect || c.Session != townHall || c.Connection != "c-host-0001" || c.ID == "" {
		t.Fatalf("command %+v", c)
	}
	if s := h.screen(); !strings.Contains(s, "⋯ disconnecting Dana Okafor") {
		t.Errorf("no pending line:\n%s", s)
	}
	h.answer(true, "", c.ID)
	if s := h.screen(); !strings.Contains(s, "✓ disconnected Dana Okafor") {
		t.Errorf("no done line:\n%s", s)
	}
}

func TestFailureShownInWords(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("r") // recording: it asks before stopping
	if h.m.overlay.ask() == nil || !strings.Contains(h.m.overlay.ask().question, "Stop recording session Dana Okafor (") {
		t.Fatalf("r on a recording session: %+v", h.m.overlay.ask())
	}
	h.later()
	h.press("y")
	c := h.out.sent[0]
	if c.Action != events.ActionArchiveStop || c.Session != townHall || string(c.Params) != `{"archive":"a-0001"}` {
		t.Fatalf("command %+v params %s: want the archive the question named", c, c.Params)
	}
	h.answer(false, "archive stop: the archive is not recording", c.ID)
	if s := h.screen(); !strings.Contains(s, "✗ stop recording session Dana Okafor") || !strings.Contains(s, "the archive is not recording") {
		t.Errorf("failure not in words:\n%s", s)
	}
}

func TestBulkCountsIncludeHiddenMarks(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	// Mark three viewers: Viewer 00, 01, 02 (rows 5–7).
	h.press("j", "j", "j", "j", "space", "space", "space")
	if got, _ := h.m.session.markedConns(); len(got) != 3 {
		t.Fatalf("marked %v", got)
	}
	if s := h.screen(); !strings.Contains(s, "3 marked") || !strings.Contains(s, "✓ Viewer 01") {
		t.Errorf("marks not shown:\n%s", s)
	}
	// A filter that shows only one of them.
	h.press("/")
	for _, r := range "viewer 01" {
		h.press(string(r))
	}
	h.press("enter", "d")
	if h.m.overlay.ask() == nil {
		t.Fatal("no question")
	}
	if q := h.m.overlay.ask().question; !strings.Contains(q, "3 marked connections") || !strings.Contains(q, "2 of them hidden by the filter") {
		t.Fatalf("question %q", q)
	}
	h.later()
	h.press("y")
	var got []string
	for _, c := range h.out.sent {
		got = append(got, c.Connection)
	}
	if strings.Join(got, ",") != "c-view-0000,c-view-0001,c-view-0002" {
		t.Fatalf("disconnected %v", got)
	}
	if n, _ := h.m.session.markedConns(); len(n) != 0 {
		t.Errorf("marks kept after the action: %v", n)
	}
}

func TestClearSessionIsPaced(t *testing.T) {
	h := newModHarness(t)
	h.press("D") // from the sessions table: the town hall, 37 connections
	if h.m.overlay.ask() == nil || !strings.Contains(h.m.overlay.ask().question, "all 37 connections") {
		t.Fatalf("D: %+v", h.m.overlay.ask())
	}
	h.later()
	h.out.sent = nil
	tm, cmd := h.m.Update(keyMsg("y"))
	h.m = tm.(Model)
	// Run the first sends only: the relay allows 8 in flight.
	h.run(cmd)
	if n := len(h.out.sent); n != maxInFlight {
		t.Fatalf("first wave %d commands, want %d", n, maxInFlight)
	}
	// Each answer lets another out, never more than maxInFlight waiting.
	for i := 0; len(h.out.sent) < 37 && i < 100; i++ {
		first := h.out.sent[len(h.out.sent)-maxInFlight]
		h.answer(true, "", first.ID)
		if inFlight := len(h.m.mod.inFlight); inFlight > maxInFlight {
			t.Fatalf("%d in flight", inFlight)
		}
	}
	if len(h.out.sent) != 37 {
		t.Fatalf("sent %d of 37", len(h.out.sent))
	}
	if s := h.screen(); !strings.Contains(s, "disconnecting all 37 connections") || !strings.Contains(s, "/37") {
		t.Errorf("no progress:\n%s", s)
	}
}

func TestViewerAndReadOnlyCannotAct(t *testing.T) {
	for _, tc := range []struct {
		name  string
		opts  func(*Options)
		role  events.Role
		badge string
	}{
		{"viewer token", func(*Options) {}, events.RoleViewer, "🔒 VIEWER"},
		{"--read-only", func(o *Options) { o.ReadOnly = true }, events.RoleAdmin, "🔒 READ-ONLY"},
	} {
		h := newModHarness(t, tc.opts)
		msg := fixture().msg(relayclient.Live)
		msg.Role = tc.role
		h.update(msg)
		h.openTownHall()
		h.press("d", "D", "m", "M", "u", "r", "s", "t", "alt+m")
		if h.m.overlay.ask() != nil || len(h.out.sent) != 0 {
			t.Fatalf("%s: acted: ask %+v, sent %v", tc.name, h.m.overlay.ask(), h.out.sent)
		}
		if s := h.screen(); !strings.Contains(s, tc.badge) || strings.Contains(s, "disconnect") || strings.Contains(s, "space mark") {
			t.Errorf("%s: badge or footer wrong:\n%s", tc.name, s)
		}
		h.press("?")
		for _, desc := range []string{"disconnect", "mute all but marked", "end mute-all", "record/stop", "signal", "unpublish", "token"} {
			if s := h.screen(); strings.Contains(s, desc) {
				t.Errorf("%s: help offers %q:\n%s", tc.name, desc, s)
			}
		}
	}
}

func TestActionsRefusedWhileLinkDown(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.drop(relayclient.Reconnecting)
	h.press("d")
	if h.m.overlay.ask() != nil || len(h.out.sent) != 0 {
		t.Fatal("acted while the link was down")
	}
	if s := h.screen(); !strings.Contains(s, "cannot disconnect: the relay link is reconnecting") {
		t.Errorf("no reason given:\n%s", s)
	}
}

func TestLinkLostFailsWhatIsInFlight(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("tab", "m") // mute Dana's camera: not destructive, no question
	if len(h.out.sent) != 1 || h.out.sent[0].Action != events.ActionMute || h.out.sent[0].Stream != "s-cam-host" {
		t.Fatalf("sent %+v", h.out.sent)
	}
	h.drop(relayclient.Reconnecting)
	if s := h.screen(); !strings.Contains(s, "✗ mute") || !strings.Contains(s, "dropped before it answered") {
		t.Errorf("in-flight mute not failed:\n%s", s)
	}
}

// drop is a batch after the link went down (and, with Live, came back
// before the batch): what was in flight will get no answer.
func (h *modHarness) drop(now relayclient.LinkState) {
	h.drops++
	msg := fixture().msg(now)
	msg.Events, msg.Drops, msg.Role = nil, h.drops, events.RoleModerator
	h.update(msg)
}

// A drop in the middle of a bulk job fails what it had not finished and
// leaves the outbox empty: the next action goes out at once.
func TestLinkDropMidBulkLeavesTheOutboxUsable(t *testing.T) {
	h := newModHarness(t)
	h.press("D")
	h.later()
	h.press("y")
	sent := len(h.out.sent)
	if sent == 0 || sent >= 37 {
		t.Fatalf("sent %d of 37 before the drop", sent)
	}
	h.answer(true, "", h.out.sent[0].ID)
	h.drop(relayclient.Live) // down and up again between two batches
	if n := len(h.m.mod.inFlight) + len(h.m.mod.queue); n != 0 {
		t.Fatalf("%d commands still in flight or queued after the drop", n)
	}
	if s := h.screen(); !strings.Contains(s, "✗ disconnected 1 of 37; 36 failed") {
		t.Errorf("the job's end:\n%s", s)
	}
	if len(h.out.sent) != sent+1 {
		// The answer above let one more out; nothing after the drop.
		t.Fatalf("sent %d after the drop, want %d", len(h.out.sent), sent+1)
	}
	h.openTownHall()
	h.press("tab", "m")
	if last := h.out.sent[len(h.out.sent)-1]; last.Action != events.ActionMute {
		t.Fatalf("the next action was not sent: last %+v", last)
	}
}

// An answer in the batch that also reports the drop still counts.
func TestAnswerBeforeTheDropCounts(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("tab", "m")
	h.drops++
	msg := fixture().msg(relayclient.Reconnecting)
	msg.Events, msg.Drops = nil, h.drops
	msg.Results = []events.Result{{Type: events.FrameResult, ID: h.out.sent[0].ID, OK: true}}
	h.update(msg)
	if s := h.screen(); !strings.Contains(s, "✓ muted") {
		t.Errorf("the answer was lost to the drop:\n%s", s)
	}
}

// The footer shows what happened last, even while another job waits.
func TestFooterShowsTheLatestWhileAJobWaits(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("tab", "j", "u") // unpublish: waits for its stream up to 15 s
	h.answer(true, "", h.out.sent[0].ID)
	h.now = h.now.Add(time.Second)
	h.press("j", "m") // mute another stream, which fails
	h.answer(false, "mute: the stream is not in the session", h.out.sent[1].ID)
	if s := h.screen(); !strings.Contains(s, "✗ mute") || !strings.Contains(s, "(+1 pending)") {
		t.Errorf("the failure is hidden by the pending unpublish:\n%s", s)
	}
	h.now = h.now.Add(time.Second)
	h.press("y")
	if s := h.screen(); !strings.Contains(s, "copied stream id") {
		t.Errorf("the copy line is hidden:\n%s", s)
	}
}

// The unpublish offer does not open while the moderator types into a
// form: its keys (m, d) would answer it.
func TestUnpublishOfferWaitsForTheForm(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("tab", "j", "u")
	h.answer(true, "", h.out.sent[0].ID)
	h.press("tab", "tab", "s") // the signal form, on the connections pane
	h.now = h.now.Add(unpublishWait + time.Second)
	h.update(tickMsg(h.now))
	if h.m.overlay.ask() != nil {
		t.Fatal("the offer opened over the form")
	}
	h.press("tab")
	h.typeText("remember to mute")
	if len(h.out.sent) != 1 || h.m.overlay.form() == nil {
		t.Fatalf("typing answered something: sent %+v", h.out.sent)
	}
	h.press("esc")
	h.update(tickMsg(h.now))
	if h.m.overlay.ask() == nil {
		t.Fatalf("no offer once the form closed:\n%s", h.screen())
	}
}

func TestUnpublishWaitsForTheStreamThenOffers(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("tab", "j") // streams pane: Ravi Shah's camera
	h.press("u")
	if len(h.out.sent) != 1 || h.out.sent[0].Action != events.ActionUnpublish || h.out.sent[0].Stream != "s-cam-panel0" {
		t.Fatalf("sent %+v", h.out.sent)
	}
	h.answer(true, "", h.out.sent[0].ID)
	if s := h.screen(); !strings.Contains(s, "asked the publisher to stop camera “Ravi Shah” of Ravi Shah") || !strings.Contains(s, "waiting for the stream to end") {
		t.Fatalf("not pending after the relay's ok:\n%s", s)
	}
	// The stream stays: after the wait, the console offers mute or disconnect.
	h.now = h.now.Add(unpublishWait + time.Second)
	h.update(tickMsg(h.now))
	if h.m.overlay.ask() == nil || len(h.m.overlay.ask().options) != 2 {
		t.Fatalf("no offer:\n%s", h.screen())
	}
	if s := h.screen(); !strings.Contains(s, "still published") || !strings.Contains(s, "m mute it") || !strings.Contains(s, "d disconnect Ravi Shah") {
		t.Errorf("offer:\n%s", s)
	}
	h.later()
	h.press("d") // disconnect: still asks (y/N)
	if h.m.overlay.ask() == nil || !strings.Contains(h.m.overlay.ask().question, "Disconnect Ravi Shah (…anel-0000) from session Dana Okafor (") {
		t.Fatalf("d in the offer: %+v", h.m.overlay.ask())
	}
	h.later()
	h.press("y")
	if last := h.out.sent[len(h.out.sent)-1]; last.Action != events.ActionDisconnect || last.Connection != "c-panel-0000" {
		t.Fatalf("sent %+v", last)
	}

	// And when the stream does end, the request is confirmed.
	h2 := newModHarness(t)
	h2.openTownHall()
	h2.press("tab", "j", "u")
	h2.answer(true, "", h2.out.sent[0].ID)
	b := fixture()
	b.unpublish(townHall, "s-cam-panel0", "Ravi Shah", events.ReasonForceUnpublished, 0)
	h2.update(b.msg(relayclient.Live))
	if s := h2.screen(); !strings.Contains(s, "✓ unpublished camera “Ravi Shah” of Ravi Shah (…am-panel0)") {
		t.Errorf("not confirmed:\n%s", s)
	}
}

func TestMuteAllSparesMarkedStreams(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("tab", "space") // mark Dana's camera
	h.press("M")
	if h.m.overlay.ask() == nil || !strings.Contains(h.m.overlay.ask().question, "except the 1 marked stream") {
		t.Fatalf("M: %+v", h.m.overlay.ask())
	}
	h.later()
	h.press("y")
	c := h.out.sent[0]
	if c.Action != events.ActionMuteAll || string(c.Params) != `{"except":["s-cam-host"]}` {
		t.Fatalf("command %+v params %s", c, c.Params)
	}
	h.answer(true, "", c.ID)
	// alt+m says plainly that nothing is unmuted.
	h.press("alt+m")
	c = h.out.sent[1]
	if c.Action != events.ActionMuteAllOff {
		t.Fatalf("alt+m sent %+v", c)
	}
	h.answer(true, "", c.ID)
	if s := h.screen(); !strings.Contains(s, "already muted stay muted") {
		t.Errorf("alt+m outcome:\n%s", s)
	}
}

func TestMutedStreamShown(t *testing.T) {
	b := fixture()
	b.st.ApplyAudit(events.Audit{Action: events.ActionMute, Session: townHall, Target: "s-cam-panel1", OK: true})
	h := newModHarness(t)
	h.update(b.msg(relayclient.Live))
	h.openTownHall()
	var line string
	for _, l := range strings.Split(h.screen(), "\n") {
		if strings.Contains(l, "s-cam-panel1") {
			line = l
		}
	}
	if !strings.Contains(line, "muted") {
		t.Errorf("Mei Chen's camera not shown muted: %q", line)
	}
}

func (h *modHarness) answerData(id string, data string) {
	st := fixture().msg(relayclient.Live)
	st.Events = nil
	st.Results = []events.Result{{Type: events.FrameResult, ID: id, OK: true, Data: []byte(data)}}
	h.update(st)
}

func (h *modHarness) typeText(s string) {
	for _, r := range s {
		if r == ' ' {
			h.press("space")
			continue
		}
		h.press(string(r))
	}
}

func TestSignalFormSendsToTheSelectedConnection(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("s")
	if h.m.overlay.form() == nil || !strings.Contains(h.screen(), "Signal Dana Okafor (") {
		t.Fatalf("s did not open the signal form:\n%s", h.screen())
	}
	// A type the apps cannot receive is refused in the form, naming it.
	h.typeText(" x") // "moderator x"
	h.press("tab")
	h.typeText("please mute")
	h.press("enter")
	if h.m.overlay.form() == nil || len(h.out.sent) != 0 || !strings.Contains(h.screen(), "type:") {
		t.Fatalf("a bad type was sent or not named (sent %v):\n%s", h.out.sent, h.screen())
	}
	if h.m.overlay.form().f.focus != 0 {
		t.Fatal("the refusal did not put the cursor on type")
	}
	h.press("backspace", "backspace")
	h.press("tab", "enter")
	if h.m.overlay.form() != nil || len(h.out.sent) != 1 {
		t.Fatalf("not sent (%v):\n%s", h.out.sent, h.screen())
	}
	c := h.out.sent[0]
	if c.Action != events.ActionSignal || c.Connection != "c-host-0001" || string(c.Params) != `{"type":"moderator","data":"please mute"}` {
		t.Fatalf("command %+v params %s", c, c.Params)
	}
	// From the events pane, the whole session.
	h.press("tab", "tab", "s")
	if !strings.Contains(h.screen(), "Signal everyone in session Dana Okafor (") {
		t.Fatalf("whole-session signal:\n%s", h.screen())
	}
	h.press("esc")
	if h.m.overlay.form() != nil || len(h.out.sent) != 1 {
		t.Fatal("esc did not cancel the form")
	}
}

func TestRecordFormStartsAnArchive(t *testing.T) {
	h := newModHarness(t, func(o *Options) { o.Record = config.RecordDefaults{Name: "standup", Resolution: "1280x720"} })
	h.press("j") // the stand-up: not recording
	h.press("r")
	if h.m.overlay.form() == nil || !strings.Contains(h.screen(), "Record session Ana (") {
		t.Fatalf("r did not open the record form:\n%s", h.screen())
	}
	h.press("ctrl+s")
	if len(h.out.sent) != 1 {
		t.Fatalf("sent %v:\n%s", h.out.sent, h.screen())
	}
	c := h.out.sent[0]
	if c.Action != events.ActionArchiveStart || c.Session != standup {
		t.Fatalf("command %+v", c)
	}
	var p map[string]string
	if err := json.Unmarshal(c.Params, &p); err != nil || p["name"] != "standup" || p["resolution"] != "1280x720" || p["output_mode"] != "composed" {
		t.Fatalf("params %s (%v)", c.Params, err)
	}
}

func TestTokenIsAdminsAndShownWhole(t *testing.T) {
	h := newModHarness(t) // a moderator: no t
	h.press("t")
	if h.m.overlay.form() != nil {
		t.Fatal("a moderator opened the token form")
	}
	msg := fixture().msg(relayclient.Live)
	msg.Role = events.RoleAdmin
	h.update(msg)
	h.press("t")
	if h.m.overlay.form() == nil {
		t.Fatalf("an admin could not open the token form:\n%s", h.screen())
	}
	h.press("ctrl+s")
	c := h.out.sent[0]
	if c.Action != events.ActionToken || c.Session != townHall || string(c.Params) != `{"role":"publisher","ttl":"24h"}` {
		t.Fatalf("command %+v params %s", c, c.Params)
	}
	tok := "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("x", 300)
	h.answerData(c.ID, `{"token":"`+tok+`","expires_at":"2026-11-23T05:00:00Z"}`)
	s := strings.ReplaceAll(h.screen(), "\n", "")
	if h.m.overlay.shown() == nil || !strings.Contains(s, tok) || !strings.Contains(s, "expires 2026-11-23T05:00:00Z") {
		t.Fatalf("the token is not shown whole:\n%s", h.screen())
	}
	h.press("esc")
	if h.m.overlay.shown() != nil {
		t.Fatal("esc did not close the token")
	}
}

// A token minted while the help is open, or while another form is being
// filled in, is never hidden behind what takes the keys nor lost to an
// esc meant for something else: it shows over the help (whose esc then
// closes only it), and waits under a form until the form is done.
func TestTokenResultIsNeverHiddenOrLost(t *testing.T) {
	h := newModHarness(t)
	msg := fixture().msg(relayclient.Live)
	msg.Role = events.RoleAdmin
	h.update(msg)
	mint := func() string {
		h.press("t", "ctrl+s")
		return h.out.sent[len(h.out.sent)-1].ID
	}
	tok := "eyJhbGciOiJIUzI1NiJ9." + strings.Repeat("y", 120)
	onScreen := func() bool { return strings.Contains(strings.ReplaceAll(h.screen(), "\n", ""), tok) }

	// Over the help.
	id := mint()
	h.press("?")
	if !strings.Contains(h.screen(), "Keys (? or esc to close)") {
		t.Fatalf("? did not open the help:\n%s", h.screen())
	}
	h.answerData(id, `{"token":"`+tok+`"}`)
	if !onScreen() {
		t.Fatalf("a token that arrived over the help is not on screen:\n%s", h.screen())
	}
	h.press("esc")
	if h.m.overlay.shown() != nil || !h.m.overlay.help() {
		t.Fatalf("esc closed the help, or not the token: shown %v, help %v", h.m.overlay.shown() != nil, h.m.overlay.help())
	}
	h.press("esc")
	if h.m.overlay.help() {
		t.Fatal("the second esc did not close the help")
	}

	// Under a form being filled in: the form keeps the keys and the
	// screen; the token shows once the form is cancelled.
	id = mint()
	h.press("s") // the signal form
	if h.m.overlay.form() == nil {
		t.Fatalf("s did not open the signal form:\n%s", h.screen())
	}
	h.answerData(id, `{"token":"`+tok+`"}`)
	if onScreen() || h.m.overlay.form() == nil {
		t.Fatalf("a token took the screen from an open form:\n%s", h.screen())
	}
	h.press("esc") // cancels the form
	if h.m.overlay.form() != nil || !onScreen() {
		t.Fatalf("after the form, the token is not on screen:\n%s", h.screen())
	}
}

// m with marked people mutes everything they publish.
func TestMuteMarkedConnections(t *testing.T) {
	h := newModHarness(t)
	h.openTownHall()
	h.press("space", "space") // Dana (2 streams) and Ravi (1)
	h.press("m")
	var got []string
	for _, c := range h.out.sent {
		if c.Action != events.ActionMute {
			t.Fatalf("sent %+v", c)
		}
		got = append(got, c.Stream)
	}
	slices.Sort(got)
	if strings.Join(got, ",") != "s-cam-host,s-cam-panel0,s-scr-host2" {
		t.Fatalf("muted %v", got)
	}
	if s := h.screen(); !strings.Contains(s, "the streams of 2 marked connections") {
		t.Errorf("line:\n%s", s)
	}
}

// TestAViewersModerationKeysSayWhy: a viewer's console has no moderation
// keys (footer, help), and pressing one says why instead of doing
// nothing; a key that is no moderation key still works.
func TestAViewersModerationKeysSayWhy(t *testing.T) {
	h := newModHarness(t)
	st := fixture().msg(relayclient.Live)
	st.Role = events.RoleViewer
	h.update(st)
	h.openTownHall()
	if strings.Contains(h.screen(), "disconnect") {
		t.Fatalf("a viewer's footer offers disconnect:\n%s", h.screen())
	}
	h.press("d")
	if f := h.m.flash; !strings.Contains(f, "disconnect: you are a viewer on this relay") || h.m.overlay.ask() != nil || len(h.out.sent) != 0 {
		t.Fatalf("d as a viewer: flash %q, asked %v, sent %v", f, h.m.overlay.ask() != nil, h.out.sent)
	}
	h.press("tab")
	if h.m.flash != "" || h.m.session.pane != paneStreams {
		t.Errorf("tab after the refusal: flash %q, pane %v", h.m.flash, h.m.session.pane)
	}
	ro := newModHarness(t, func(o *Options) { o.ReadOnly = true })
	ro.openTownHall()
	ro.press("d")
	if f := ro.m.flash; !strings.Contains(f, "read-only") {
		t.Errorf("d on a read-only console: flash %q", f)
	}
}

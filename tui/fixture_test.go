package tui

import (
	"fmt"
	"os"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC // goldens show clock times
	os.Exit(m.Run())
}

// epoch is the fixtures' "now".
var epoch = time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)

func ms(d time.Duration) int64 { return epoch.Add(-d).UnixMilli() }

type builder struct {
	st    *events.State
	evs   []events.Event // what was applied, in order: replay feeds them again over time
	lines []EventLine    // lines[i] is evs[i]'s
	seq   uint64
}

func newBuilder() *builder { return &builder{st: events.NewState()} }

func (b *builder) apply(ev events.Event) {
	b.st.Apply(ev)
	b.evs = append(b.evs, ev)
	b.seq++
	b.lines = append(b.lines, NewEventLine(b.seq, time.UnixMilli(ev.Timestamp), events.SourceCallback, ev))
}

func (b *builder) join(sid, cid, data string, ago time.Duration) {
	b.apply(events.Event{Kind: events.ConnectionCreated, SessionID: sid, Timestamp: ms(ago),
		Connection: &events.Connection{ID: cid, CreatedAt: ms(ago), Data: data}})
}

func (b *builder) publish(sid, cid, data, stid, name, videoType string, ago time.Duration) {
	b.apply(events.Event{Kind: events.StreamCreated, SessionID: sid, Timestamp: ms(ago),
		Stream: &events.Stream{ID: stid, Name: name, VideoType: videoType, CreatedAt: ms(ago),
			Connection: events.Connection{ID: cid, CreatedAt: ms(ago), Data: data}}})
}

func (b *builder) leave(sid, cid, data, reason string, ago time.Duration) {
	b.apply(events.Event{Kind: events.ConnectionDestroyed, SessionID: sid, Timestamp: ms(ago), Reason: reason,
		Connection: &events.Connection{ID: cid, Data: data}})
}

func (b *builder) unpublish(sid, stid, name, reason string, ago time.Duration) {
	b.apply(events.Event{Kind: events.StreamDestroyed, SessionID: sid, Timestamp: ms(ago), Reason: reason,
		Stream: &events.Stream{ID: stid, Name: name}})
}

func (b *builder) archive(sid, id, status string, ago time.Duration) {
	b.apply(events.Event{Kind: events.ArchiveStatus, SessionID: sid, Timestamp: ms(ago),
		Archive: &events.Archive{ID: id, Status: status, SessionID: sid, Name: "town hall", CreatedAt: ms(ago), UpdatedAt: ms(ago)}})
}

const (
	townHall = "1_MX40NzEyMzQ1Nn5-townhall-7f3a9c"
	standup  = "2_MX40NzEyMzQ1Nn5-standup-01b2c3"
	evil     = "1_MX40NzEyMzQ1Nn5-webinar-e5d6f7"
	ended    = "2_MX40NzEyMzQ1Nn5-retro-99aa00"
)

func person(name, role string) string {
	return fmt.Sprintf(`{"name":%q,"role":%q}`, name, role)
}

// fixture is four sessions: a town hall (host with camera and screen, a
// panel, 36 viewers, recording), a stand-up, a webinar whose participants
// send hostile names, and one that ended.
func fixture() *builder {
	b := newBuilder()
	b.join(ended, "c-retro-0001", person("Gus", "host"), 3*time.Hour)
	b.leave(ended, "c-retro-0001", person("Gus", "host"), events.ReasonClientDisconnected, 2*time.Hour)
	for i, n := range []string{"Ana", "Bo", "Cy", "Di", "Ed"} {
		cid := fmt.Sprintf("c-stand-%04d", i)
		d := person(n, "")
		b.join(standup, cid, d, 9*time.Minute)
		b.publish(standup, cid, d, fmt.Sprintf("s-stand-%d", i), n, "camera", 9*time.Minute)
	}

	hostile := "\x1b[31mMallory\x1b]0;pwned\x07\x07\r\n\u202eevil"
	b.join(evil, "c-evil-0001", `{"name":"`+"\\u001b[2J"+`Eve","role":"host"}`, 20*time.Minute)
	b.join(evil, "c-evil-0002", hostile, 19*time.Minute)
	b.join(evil, "c-wide-0003", person("李小龍🐉 の とても長い名前ですよ本当に長い", "guest"), 18*time.Minute)
	b.publish(evil, "c-wide-0003", person("李小龍🐉 の とても長い名前ですよ本当に長い", "guest"), "s-wide", "カメラ📷", "camera", 17*time.Minute)
	b.apply(events.Event{Kind: events.StreamCreated, SessionID: evil, Timestamp: ms(5 * time.Minute), Reason: events.ReasonReconciled,
		Stream: &events.Stream{ID: "s-orphan-01", Name: "", VideoType: "custom", CreatedAt: ms(5 * time.Minute)}})

	host := person("Dana Okafor", "host")
	b.join(townHall, "c-host-0001", host, 47*time.Minute)
	b.publish(townHall, "c-host-0001", host, "s-cam-host", "Dana camera", "camera", 46*time.Minute)
	b.publish(townHall, "c-host-0001", host, "s-scr-host", "Slides", "screen", 30*time.Minute)
	b.archive(townHall, "a-0001", "started", 45*time.Minute)
	for i, n := range []string{"Ravi Shah", "Mei Chen"} {
		cid := fmt.Sprintf("c-panel-%04d", i)
		d := person(n, "panelist")
		b.join(townHall, cid, d, 44*time.Minute)
		b.publish(townHall, cid, d, fmt.Sprintf("s-cam-panel%d", i), n, "camera", 43*time.Minute)
	}
	b.join(townHall, "c-phone-0001", "", 40*time.Minute)
	b.publish(townHall, "c-phone-0001", "", "s-aud-phone", "Dial-in", "", 40*time.Minute)
	for i := range 36 {
		b.join(townHall, fmt.Sprintf("c-view-%04d", i), person(fmt.Sprintf("Viewer %02d", i), "viewer"), time.Duration(38-i)*time.Minute)
	}
	b.leave(townHall, "c-view-0003", person("Viewer 03", "viewer"), events.ReasonClientDisconnected, 3*time.Minute)
	b.leave(townHall, "c-view-0004", person("Viewer 04", "viewer"), events.ReasonNetworkDisconnected, 2*time.Minute)
	b.leave(townHall, "c-view-0005", person("Viewer 05", "viewer"), events.ReasonForceDisconnected, 90*time.Second)
	b.unpublish(townHall, "s-scr-host", "Slides", events.ReasonMediaStopped, 60*time.Second)
	b.publish(townHall, "c-host-0001", host, "s-scr-host2", "Slides 2", "screen", 30*time.Second)

	return b
}

func (b *builder) msg(link relayclient.LinkState) StateMsg {
	return StateMsg{Sessions: b.st.Sessions(), Events: b.lines, Link: relayclient.Status{State: link, Since: epoch.Add(-time.Hour)}, Seq: b.seq}
}

// newTestModel is a console at w×h showing the fixture, link live.
func newTestModel(w, h int) Model {
	m := NewModel(Options{RelayURL: "ws://relay.test/v1/stream", Title: "acme-prod"})
	m.now = epoch
	var tm tea.Model = m
	tm, _ = tm.Update(tea.WindowSizeMsg{Width: w, Height: h})
	tm, _ = tm.Update(fixture().msg(relayclient.Live))
	m = tm.(Model)
	m.now = epoch
	return m
}

func press(m Model, keys ...string) Model {
	var tm tea.Model = m
	for _, k := range keys {
		tm, _ = tm.Update(keyMsg(k))
	}
	return tm.(Model)
}

func keyMsg(k string) tea.KeyPressMsg {
	switch k {
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "ctrl+s":
		return tea.KeyPressMsg{Code: 's', Mod: tea.ModCtrl}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "pgup":
		return tea.KeyPressMsg{Code: tea.KeyPgUp}
	case "pgdown":
		return tea.KeyPressMsg{Code: tea.KeyPgDown}
	case "alt+m":
		return tea.KeyPressMsg{Code: 'm', Mod: tea.ModAlt}
	}
	r := []rune(k)
	return tea.KeyPressMsg{Code: r[0], Text: k}
}

// typeText presses each rune of s.
func typeText(m Model, s string) Model {
	for _, r := range s {
		m = press(m, string(r))
	}
	return m
}

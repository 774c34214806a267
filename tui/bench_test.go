package tui

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// townHallState is a 10,000-connection session: a host with camera and
// screen, four panelists, the rest viewers; plus 30 small sessions.
func townHallState(n int) *events.State {
	st := events.NewState()
	at := epoch.Add(-time.Hour).UnixMilli()
	for i := range n {
		role := "viewer"
		switch {
		case i == 0:
			role = "host"
		case i < 5:
			role = "panelist"
		}
		d := person(fmt.Sprintf("Attendee %05d", i), role)
		cid := fmt.Sprintf("conn-%05d", i)
		st.Apply(events.Event{Kind: events.ConnectionCreated, SessionID: townHall, Timestamp: at + int64(i),
			Connection: &events.Connection{ID: cid, CreatedAt: at + int64(i), Data: d}})
		if i < 5 {
			st.Apply(events.Event{Kind: events.StreamCreated, SessionID: townHall, Timestamp: at + int64(i),
				Stream: &events.Stream{ID: "stream-" + cid, Name: "cam", VideoType: "camera", CreatedAt: at + int64(i),
					Connection: events.Connection{ID: cid, CreatedAt: at + int64(i), Data: d}}})
		}
	}
	for s := range 30 {
		sid := fmt.Sprintf("2_MX40-small-%02d", s)
		for i := range 4 {
			st.Apply(events.Event{Kind: events.ConnectionCreated, SessionID: sid, Timestamp: at,
				Connection: &events.Connection{ID: fmt.Sprintf("%s-c%d", sid, i), CreatedAt: at, Data: person("P", "")}})
		}
	}
	return st
}

func townHallModel(b *testing.B) Model {
	st := townHallState(10_000)
	var tm tea.Model = NewModel(Options{RelayURL: "ws://relay.test/v1/stream"})
	tm, _ = tm.Update(tea.WindowSizeMsg{Width: 200, Height: 50})
	lines := make([]EventLine, 0, 5000)
	for i := range 5000 {
		lines = append(lines, EventLine{Seq: uint64(i), At: epoch, Session: townHall, Name: fmt.Sprintf("Attendee %05d", i), Text: "joined", Subject: fmt.Sprintf("conn-%05d", i)})
	}
	tm, _ = tm.Update(StateMsg{Sessions: st.Sessions(), Events: lines, Link: relayclient.Status{State: relayclient.Live}})
	m := tm.(Model)
	m = press(m, "enter")
	if m.current() != viewSession || m.session.id != townHall || len(m.session.conns) != 10_000 {
		b.Fatalf("not in the town hall: %v %s %d", m.current(), m.session.id, len(m.session.conns))
	}
	m = press(m, "G") // the end of the list costs what the top does
	if m.session.connList.cursor != 9_999 {
		b.Fatalf("G: cursor %d", m.session.connList.cursor)
	}
	return m
}

// BenchmarkMemoryConsoleTownHall is the whole console's heap with the
// town hall open: the feed (its mirror of the relay's state, event lines
// and session cache) as well as the model built from its batches. Half the
// 10,000 connections come in the snapshot, half as event frames, so the
// event log holds 5,000 lines.
func BenchmarkMemoryConsoleTownHall(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f := newFeed(Options{})
	f.apply(frame(b, events.Hello{Type: events.FrameHello, Epoch: "e1", LastSeq: 1}))
	f.apply(frame(b, events.SnapshotFrame{Type: events.FrameSnapshot, Seq: 1, Part: 1, Parts: 1, Sessions: townHallState(5_000).Snapshot()}))
	for i := range 5_000 {
		f.apply(connEvent(b, uint64(2+i), events.ConnectionCreated, townHall, fmt.Sprintf("conn-late-%05d", i), fmt.Sprintf("Attendee %05d", 5_000+i), ""))
	}
	f.status(relayclient.Status{State: relayclient.Live, Since: epoch})
	msg, _ := f.batch()
	var tm tea.Model = NewModel(Options{RelayURL: "ws://relay.test/v1/stream"})
	tm, _ = tm.Update(tea.WindowSizeMsg{Width: 200, Height: 50})
	tm, _ = tm.Update(msg)
	m := press(tm.(Model), "enter")
	if m.current() != viewSession || m.session.id != townHall || len(m.session.conns) != 10_000 {
		b.Fatalf("not in the town hall: %v %s %d", m.current(), m.session.id, len(m.session.conns))
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
		_ = m.View()
	}
	runtime.KeepAlive(f)
	runtime.KeepAlive(m)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "MB")
}

// View of the town hall at 200x50: only the visible window is rendered.
func BenchmarkViewTownHall(b *testing.B) {
	m := townHallModel(b)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = m.View()
	}
}

// The sessions table with the town hall in it.
func BenchmarkViewSessions(b *testing.B) {
	m := press(townHallModel(b), "esc")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = m.View()
	}
}

// One UI batch while the town hall changes: the cost Update pays up to 20
// times a second (the feed rebuilt the session, so every row is new).
func BenchmarkBatchTownHall(b *testing.B) {
	benchTownHallBatches(b, townHallModel(b), []EventLine{{Session: townHall, Text: "joined"}})
}

// benchTownHallBatches times m's Update of batches that each bring a new
// picture of the 10,000-connection town hall (two, alternating, so that
// every batch changes something), with lines for the event log.
func benchTownHallBatches(b *testing.B, m Model, lines []EventLine) {
	st := townHallState(10_000)
	msgs := [2]StateMsg{}
	for i := range msgs {
		msgs[i] = StateMsg{Sessions: st.Sessions(), Events: lines, Link: relayclient.Status{State: relayclient.Live}}
	}
	var tm tea.Model = m
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		tm, _ = tm.Update(msgs[i%2])
		i++
	}
}

// Heap in use by a Model holding the 10,000-connection town hall, its
// rows and a full event log, after a GC; reported in MB (goal ≤ 50).
//
//	go test ./tui -run '^$' -bench BenchmarkMemoryTownHall -benchtime 1x
func BenchmarkMemoryTownHall(b *testing.B) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	m := townHallModel(b)
	runtime.GC()
	runtime.ReadMemStats(&after)
	for b.Loop() {
		_ = m.View()
	}
	runtime.KeepAlive(m)
	b.ReportMetric(float64(int64(after.HeapInuse)-int64(before.HeapInuse))/(1<<20), "MB")
}

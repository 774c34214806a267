package tui

import (
	"slices"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// connectionsModel is the console at :connections over the 10,000-person
// town hall and 30 small sessions, at 200x50.
func connectionsModel(b *testing.B, view string) Model {
	st := townHallState(10_000)
	var tm tea.Model = NewModel(Options{RelayURL: "ws://relay.test/v1/stream"})
	tm, _ = tm.Update(tea.WindowSizeMsg{Width: 200, Height: 50})
	tm, _ = tm.Update(StateMsg{Sessions: st.Sessions(), Link: relayclient.Status{State: relayclient.Live}})
	m := switchTo(tm.(Model), view)
	if view == "connections" && len(m.conns.rows) != 10_000+30*4 {
		b.Fatalf("%d rows", len(m.conns.rows))
	}
	return press(m, "G")
}

// The :connections rows of one batch in which the town hall changed: all
// 10,120 rebuilt (the worst case, a busy town hall).
//
//	go test ./tui -run '^$' -bench 'Connections|Streams' -benchtime 2s
func BenchmarkConnectionsViewBatch(b *testing.B) {
	m := connectionsModel(b, "connections")
	st := townHallState(10_000)
	msgs := [2][]events.Session{st.Sessions(), st.Sessions()}
	benchConnsSet(b, &m, msgs)
}

// The same with a filter typed: every row's search text is matched too.
func BenchmarkConnectionsViewBatchFiltered(b *testing.B) {
	m := connectionsModel(b, "connections")
	m = press(m, "/")
	m = typeText(m, "attendee 09")
	st := townHallState(10_000)
	msgs := [2][]events.Session{st.Sessions(), st.Sessions()}
	benchConnsSet(b, &m, msgs)
}

// A batch in which only a small session changed: the town hall's rows
// come from the cache.
func BenchmarkConnectionsViewBatchSmallChange(b *testing.B) {
	m := connectionsModel(b, "connections")
	st := townHallState(10_000)
	base := st.Sessions()
	m.conns.set(base, m.names)
	small := slices.IndexFunc(base, func(s events.Session) bool { return s.ID != townHall })
	msgs := [2][]events.Session{slices.Clone(base), slices.Clone(base)}
	for i := range msgs {
		msgs[i][small], _ = st.Session(base[small].ID) // a new value, as the feed makes
	}
	benchConnsSet(b, &m, msgs)
}

// The whole Update of a batch, every view's rows included, while the
// user is on :connections and the town hall changes.
func BenchmarkConnectionsUpdateBatch(b *testing.B) {
	benchTownHallBatches(b, connectionsModel(b, "connections"), nil)
}

// View of :connections at 200x50 with 10,120 rows.
func BenchmarkViewConnections(b *testing.B) {
	m := connectionsModel(b, "connections")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = m.View()
	}
}

// View of :streams at 200x50.
func BenchmarkViewStreams(b *testing.B) {
	m := connectionsModel(b, "streams")
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		_ = m.View()
	}
}

// benchConnsSet rebuilds the :connections rows from the two pictures in
// turn, as consecutive batches hand them over.
func benchConnsSet(b *testing.B, m *Model, msgs [2][]events.Session) {
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		m.conns.set(msgs[i%2], m.names)
		i++
	}
}

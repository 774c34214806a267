package tui

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

func liveSession(id string, conns int) events.Session {
	return events.Session{ID: id, Live: true, Counts: events.Counts{Connections: conns}}
}

// values is the window ending at now, oldest first, as the ring holds it.
func values(t *testing.T, h *connHistory, id string, now time.Time) []int32 {
	t.Helper()
	r := h.rings[id]
	if r == nil {
		t.Fatalf("no history of %s", id)
	}
	end := max(bucketOf(now), r.last)
	out := make([]int32, histLen)
	for i := range out {
		out[i] = r.at(end - int64(histLen-1-i))
	}
	return out
}

// tail is the last n of a window, checked to be preceded by no data only.
func tail(t *testing.T, w []int32, n int) []int32 {
	t.Helper()
	for i, v := range w[:len(w)-n] {
		if v != noData {
			t.Fatalf("bucket %d of %v has data, want only the last %d", i, w, n)
		}
	}
	return w[len(w)-n:]
}

// A bucket keeps the most connections any batch in it saw; the next one
// starts from the count last seen, with no batch, when a tick moves the
// clock into it.
func TestHistoryBucketKeepsMax(t *testing.T) {
	var h connHistory
	t0 := epoch // on a bucket boundary
	for _, s := range []struct {
		at time.Duration
		n  int
	}{{0, 5}, {3 * time.Second, 12}, {7 * time.Second, 4}} {
		h.observe([]events.Session{liveSession("a", s.n)}, t0.Add(s.at), true)
	}
	if got := tail(t, values(t, &h, "a", t0.Add(9*time.Second)), 1); got[0] != 12 {
		t.Fatalf("bucket 0: %v, want the spike 12", got)
	}
	got := tail(t, values(t, &h, "a", t0.Add(10*time.Second)), 2)
	if !reflect.DeepEqual(got, []int32{12, 4}) {
		t.Fatalf("after rollover: %v, want [12 4]", got)
	}
	// A batch in the new bucket with more: the bucket holds 4 until it
	// came, then 6, so 6.
	h.observe([]events.Session{liveSession("a", 6)}, t0.Add(14*time.Second), true)
	if got := tail(t, values(t, &h, "a", t0.Add(14*time.Second)), 2); !reflect.DeepEqual(got, []int32{12, 6}) {
		t.Fatalf("%v, want [12 6]", got)
	}
	// And with fewer: it held 6 at its start, so it stays 6; the next is 2.
	h.observe([]events.Session{liveSession("a", 2)}, t0.Add(21*time.Second), true)
	h.observe([]events.Session{liveSession("a", 2)}, t0.Add(22*time.Second), true)
	if got := tail(t, values(t, &h, "a", t0.Add(30*time.Second)), 4); !reflect.DeepEqual(got, []int32{12, 6, 6, 2}) {
		t.Fatalf("%v, want [12 6 6 2]", got)
	}
}

// The feed sends nothing while nothing changes: the buckets since the
// last batch carry its count, and a gap longer than the window fills it.
func TestHistoryGapCarriesLastValue(t *testing.T) {
	var h connHistory
	h.observe([]events.Session{liveSession("a", 7)}, epoch, true)
	got := tail(t, values(t, &h, "a", epoch.Add(65*time.Second)), 7)
	if !reflect.DeepEqual(got, []int32{7, 7, 7, 7, 7, 7, 7}) {
		t.Fatalf("a minute with no batch: %v", got)
	}
	// A batch after the gap writes the carried buckets in, then its own.
	h.observe([]events.Session{liveSession("a", 9)}, epoch.Add(65*time.Second), true)
	got = tail(t, values(t, &h, "a", epoch.Add(70*time.Second)), 8)
	if !reflect.DeepEqual(got, []int32{7, 7, 7, 7, 7, 7, 9, 9}) {
		t.Fatalf("after the gap: %v", got)
	}
	// Ten minutes of quiet, longer than the ring: every bucket is 9.
	h.observe([]events.Session{liveSession("a", 3)}, epoch.Add(11*time.Minute), true)
	for i, v := range values(t, &h, "a", epoch.Add(11*time.Minute)) {
		if v != 9 {
			t.Fatalf("bucket %d is %d after a long gap, want 9", i, v)
		}
	}
	if got := values(t, &h, "a", epoch.Add(11*time.Minute+10*time.Second)); got[histLen-1] != 3 {
		t.Fatalf("the bucket after: %d, want 3", got[histLen-1])
	}
}

// Histories of sessions that ended or are gone from the picture are
// dropped: memory follows the live sessions.
func TestHistoryPrunes(t *testing.T) {
	var h connHistory
	h.observe([]events.Session{liveSession("a", 1), liveSession("b", 2), liveSession("c", 3)}, epoch, true)
	if len(h.rings) != 3 {
		t.Fatalf("%d histories", len(h.rings))
	}
	ended := liveSession("b", 0)
	ended.Live = false
	h.observe([]events.Session{liveSession("a", 1), ended}, epoch.Add(time.Second), true)
	if _, ok := h.rings["a"]; !ok || len(h.rings) != 1 {
		t.Fatalf("kept %d histories, want only a's", len(h.rings))
	}
	if s := h.sparkline("c", epoch, histLen); s != "" {
		t.Fatalf("a gone session still has a line %q", s)
	}
	// Back again: a new history, not the old one.
	h.observe([]events.Session{liveSession("a", 1), liveSession("c", 8)}, epoch.Add(20*time.Second), true)
	if got := tail(t, values(t, &h, "c", epoch.Add(20*time.Second)), 1); got[0] != 8 {
		t.Fatalf("c: %v", got)
	}
	// Many sessions come and go: the map holds the live ones only.
	for i := range 1000 {
		h.observe([]events.Session{liveSession(fmt.Sprintf("s%d", i), i)}, epoch.Add(time.Duration(i)*time.Second), true)
	}
	if len(h.rings) != 1 {
		t.Fatalf("%d histories after churn, want 1", len(h.rings))
	}
}

// While the link is down the console does not know the counts: the
// buckets from then on are gaps, not a steady line, until it is back.
func TestHistoryLinkDownIsAGap(t *testing.T) {
	var h connHistory
	a := []events.Session{liveSession("a", 5)}
	h.observe(a, epoch, true)
	h.observe(a, epoch.Add(12*time.Second), false)
	got := tail(t, values(t, &h, "a", epoch.Add(40*time.Second)), 5)
	if !reflect.DeepEqual(got, []int32{5, 5, noData, noData, noData}) {
		t.Fatalf("link down: %v", got)
	}
	if s := h.sparkline("a", epoch.Add(40*time.Second), histLen); !strings.HasSuffix(s, "██   ") {
		t.Fatalf("line %q", s)
	}
	h.observe([]events.Session{liveSession("a", 6)}, epoch.Add(45*time.Second), true)
	got = tail(t, values(t, &h, "a", epoch.Add(50*time.Second)), 6)
	if !reflect.DeepEqual(got, []int32{5, 5, noData, noData, 6, 6}) {
		t.Fatalf("back: %v", got)
	}
	// A session first seen while the link is down gets no history.
	h.observe([]events.Session{liveSession("a", 6), liveSession("b", 1)}, epoch.Add(50*time.Second), false)
	if _, ok := h.rings["b"]; ok {
		t.Fatal("b has a history from a picture that may be out of date")
	}
}

// A wall clock that steps back counts in the newest bucket.
func TestHistoryClockStepsBack(t *testing.T) {
	var h connHistory
	h.observe([]events.Session{liveSession("a", 5)}, epoch.Add(30*time.Second), true)
	h.observe([]events.Session{liveSession("a", 8)}, epoch, true)
	if got := tail(t, values(t, &h, "a", epoch), 1); got[0] != 8 {
		t.Fatalf("%v", got)
	}
}

// feedBuckets gives a history one batch per bucket, the counts in order, the
// last at epoch.
func feedBuckets(h *connHistory, id string, counts ...int) {
	for i, n := range counts {
		h.observe([]events.Session{liveSession(id, n)}, epoch.Add(-time.Duration(len(counts)-1-i)*histBucket), true)
	}
}

// A bucket holds the count it started with (the one carried in) as well
// as the batches in it, so a fall shows a bucket after the batch.
func TestSparklineShapes(t *testing.T) {
	for _, tc := range []struct {
		name   string
		counts []int
		want   string
	}{
		{"rising", []int{0, 1, 2, 3, 4, 5, 6, 7}, "▁▂▃▄▅▆▇█"},
		{"steady is flat", []int{37, 37, 37, 37}, "████"},
		{"none connected is flat at the bottom", []int{0, 0, 0}, "▁▁▁"},
		{"one of many is not none", []int{100, 1, 1}, "██▂"},
		{"a small wobble in a big session stays small", []int{1000, 990, 990, 1000}, "████"},
		{"first sample only", []int{12}, "█"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h connHistory
			feedBuckets(&h, "a", tc.counts...)
			got := h.sparkline("a", epoch, histLen)
			if want := strings.Repeat(" ", histLen-len(tc.counts)) + tc.want; got != want {
				t.Fatalf("%v: %q, want %q", tc.counts, got, want)
			}
		})
	}
}

// A spike between two ticks, in one bucket, survives two and three
// buckets a cell.
func TestSparklineSpike(t *testing.T) {
	var h connHistory
	at := epoch.Add(-(histLen - 1) * histBucket)
	for k := range histLen {
		h.observe([]events.Session{liveSession("a", 2)}, at, true)
		if k == 14 {
			h.observe([]events.Session{liveSession("a", 40)}, at.Add(3*time.Second), true)
			h.observe([]events.Session{liveSession("a", 2)}, at.Add(6*time.Second), true)
		}
		at = at.Add(histBucket)
	}
	for w, want := range map[int]string{
		30: strings.Repeat("▂", 14) + "█" + strings.Repeat("▂", 15),
		15: strings.Repeat("▂", 7) + "█" + strings.Repeat("▂", 7),
		10: strings.Repeat("▂", 4) + "█" + strings.Repeat("▂", 5),
	} {
		if got := h.sparkline("a", epoch, w); got != want {
			t.Errorf("%d wide: %q, want %q", w, got, want)
		}
	}
}

// The line is rebuilt when the window moves on or a batch changes it,
// and is the same string otherwise.
func TestSparklineCached(t *testing.T) {
	var h connHistory
	feedBuckets(&h, "a", 1, 2, 3)
	s1 := h.sparkline("a", epoch, histLen)
	if s2 := h.sparkline("a", epoch.Add(9*time.Second), histLen); s2 != s1 {
		t.Fatalf("same bucket, new line %q vs %q", s2, s1)
	}
	s3 := h.sparkline("a", epoch.Add(10*time.Second), histLen)
	if s3 == s1 || !strings.HasSuffix(s3, "▃▆██") {
		t.Fatalf("the window moved on: %q", s3)
	}
	h.observe([]events.Session{liveSession("a", 6)}, epoch.Add(10*time.Second), true)
	if s4 := h.sparkline("a", epoch.Add(10*time.Second), histLen); !strings.HasSuffix(s4, "▂▃▅█") {
		t.Fatalf("after a batch: %q", s4)
	}
}

// The sparkline takes a cell a bucket where there is room, fewer cells
// where there is less, and is dropped before the session id gets
// narrower than sparkMinID (or with the LIMIT column at 80).
func TestSparkColumnFits(t *testing.T) {
	var v sessionsView
	limited := v.tableCols(30)
	for _, tc := range []struct {
		cols  []column
		width int
		want  int // the sparkline's width, 0 for none
	}{
		{sessionCols, 200, 30}, {sessionCols, 100, 30}, {sessionCols, 90, 15}, {sessionCols, 80, 10},
		{sessionCols, 79, 0}, {sessionCols, 40, 0},
		{limited, 200, 30}, {limited, 80, 0},
	} {
		cols, ok := withSpark(tc.cols, len(sessionCols), tc.width)
		got := 0
		if ok {
			got = cols[len(sessionCols)].width
			if cols[len(sessionCols)].title != "LAST 5m" {
				t.Errorf("title %q", cols[len(sessionCols)].title)
			}
		}
		if got != tc.want {
			t.Errorf("%d cols at %d: sparkline %d wide, want %d", len(tc.cols), tc.width, got, tc.want)
		}
		if ok && (cols[0].width < sparkMinID || cellStart(cols, len(cols))-1 > tc.width) {
			t.Errorf("at %d: id %d wide, table %d", tc.width, cols[0].width, cellStart(cols, len(cols))-1)
		}
		if !ok && !reflect.DeepEqual(cols, fit(tc.cols, tc.width)) {
			t.Errorf("at %d without the sparkline the table changed", tc.width)
		}
	}
}

// sparkRow lays a row out as renderRow does, with or without LIMIT, with
// or without a line.
func TestSparkRowIsRenderRow(t *testing.T) {
	var v sessionsView
	for _, limit := range []int{0, 30} {
		for _, width := range []int{80, 120, 200} {
			cols, ok := withSpark(v.tableCols(limit), len(sessionCols), width)
			if !ok {
				continue
			}
			w := cols[len(sessionCols)].width
			for _, line := range []string{"", strings.Repeat(" ", w-2) + "▂█", strings.Repeat("▅", w)} {
				cells := []string{"…townhall-7f3a9c", "李小龍🐉 の", "37", "4", "5", "33", "●REC", "47m", line, "⚑ over 30"}
				if limit == 0 {
					cells = cells[:len(cells)-1]
				}
				want, got := renderRow(cols, cells, width), sparkRow(cols, cells, len(sessionCols), width)
				if got != want {
					t.Errorf("limit %d at %d, line %q:\n got %q\nwant %q", limit, width, line, got, want)
				}
			}
		}
	}
}

// sparkOf is the sparkline cell of the row of id in the rendered table.
func sparkOf(t *testing.T, m Model, id string) string {
	t.Helper()
	lines := strings.Split(plain(m), "\n")
	at := strings.Index(lines[3], sparkTitle)
	if at < 0 {
		t.Fatalf("no %s column:\n%s", sparkTitle, plain(m))
	}
	tailID := id[len(id)-15:]
	for _, l := range lines[4:] {
		if strings.Contains(l, tailID) {
			return strings.TrimRight(string([]rune(l)[at:min(at+histLen, len([]rune(l)))]), " ")
		}
	}
	t.Fatalf("no row of %s:\n%s", id, plain(m))
	return ""
}

// Ticks alone move the line on, a bucket at a time, carrying the count.
func TestSparklineMovesOnTicks(t *testing.T) {
	m := newTestModel(200, 50)
	if got := sparkOf(t, m, standup); got != strings.Repeat(" ", histLen-1)+"█" {
		t.Fatalf("one sample: %q", got)
	}
	m = update(m, tickMsg(epoch.Add(9*time.Second)))
	if got := sparkOf(t, m, standup); got != strings.Repeat(" ", histLen-1)+"█" {
		t.Fatalf("same bucket: %q", got)
	}
	m = update(m, tickMsg(epoch.Add(10*time.Second)))
	if got := sparkOf(t, m, standup); got != strings.Repeat(" ", histLen-2)+"██" {
		t.Fatalf("next bucket: %q", got)
	}
}

// launch is a session that fills up in the last five minutes: the host
// at 4m50s, then a guest every 11 s, 24 connections at the end.
const launch = "2_MX40NzEyMzQ1Nn5-launch-4d8e2a"

func growingFixture() *builder {
	b := fixture()
	host := person("Kim Lee", "host")
	b.join(launch, "c-launch-host", host, 290*time.Second)
	b.publish(launch, "c-launch-host", host, "s-launch-cam", "Kim camera", "camera", 285*time.Second)
	for i := range 23 {
		b.join(launch, fmt.Sprintf("c-launch-%04d", i), person(fmt.Sprintf("Guest %02d", i), "viewer"), time.Duration(280-11*i)*time.Second)
	}
	return b
}

// replay is a console started at from and handed b's events as they
// happened, the way the feed does: a tick a second, and after each second
// with events a batch of the whole picture; what happened before from is
// in the first batch (the relay's snapshot). It ends at epoch with the
// picture b has.
func replay(t testing.TB, b *builder, w, h int, from time.Time) Model {
	t.Helper()
	m := NewModel(Options{RelayURL: "ws://relay.test/v1/stream", Title: "acme-prod"})
	m.now = from
	m = update(m, tea.WindowSizeMsg{Width: w, Height: h})
	st := events.NewState()
	done := make([]bool, len(b.evs))
	for at := from; !at.After(epoch); at = at.Add(time.Second) {
		m = update(m, tickMsg(at))
		var lines []EventLine
		for i, ev := range b.evs {
			if !done[i] && ev.Timestamp <= at.UnixMilli() {
				st.Apply(ev)
				done[i] = true
				lines = append(lines, b.lines[i])
			}
		}
		if len(lines) > 0 {
			m = update(m, StateMsg{Sessions: st.Sessions(), Events: lines, Seq: lines[len(lines)-1].Seq,
				Link: relayclient.Status{State: relayclient.Live, Since: epoch.Add(-time.Hour)}})
		}
	}
	if !reflect.DeepEqual(st.Sessions(), b.st.Sessions()) {
		t.Fatal("the replay ended with another picture than the fixture's")
	}
	return m
}

// Five minutes of the fixture as the console saw them: the launch rises
// from its host alone (1 of 24: ▂, some is not none) to 24 at 38 s ago,
// then holds; the stand-up and the webinar are steady; the town hall's
// dip from 39 to 37 is within a step of its max.
func TestSparklineReplay(t *testing.T) {
	m := replay(t, growingFixture(), 200, 50, epoch.Add(-5*time.Minute))
	if got := sparkOf(t, m, launch); got != "▂▂▂▂▂▃▃▃▄▄▄▄▅▅▅▅▆▆▆▇▇▇▇▇██████" {
		t.Errorf("launch: %q", got)
	}
	for _, id := range []string{townHall, standup, evil} {
		if got := sparkOf(t, m, id); got != strings.Repeat("█", histLen) {
			t.Errorf("%s: %q", id, got)
		}
	}
}

// Under NO_COLOR (the ASCII profile) the line is its block characters,
// which need no colour to read.
func TestSparklineWithoutColour(t *testing.T) {
	m := replay(t, growingFixture(), 80, 24, epoch.Add(-5*time.Minute))
	var buf bytes.Buffer
	w := &colorprofile.Writer{Forward: &buf, Profile: colorprofile.ASCII}
	if _, err := w.WriteString(m.View().Content); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "Kim Lee") || !strings.Contains(buf.String(), "▂▃▄▄▅▆▇▇██") {
		t.Fatalf("no sparkline under NO_COLOR:\n%s", buf.String())
	}
}

// The tick the console gets every second, with 200 live sessions on the
// sessions view at 200×50 and full histories: the Update and the View it
// causes. "bucket" is a tick within a bucket (the lines are cached);
// "rollover" one that starts a new bucket, every time, so each visible
// line is rebuilt (once in ten ticks in practice).
func BenchmarkTickSessions200(b *testing.B) {
	for _, step := range []struct {
		name string
		d    time.Duration
	}{{"bucket", 0}, {"rollover", histBucket}} {
		b.Run(step.name, func(b *testing.B) {
			m := NewModel(Options{RelayURL: "ws://relay.test/v1/stream"})
			m = update(m, tea.WindowSizeMsg{Width: 200, Height: 50})
			all := make([]events.Session, 200)
			at := epoch.Add(-5 * time.Minute)
			for k := range histLen { // a batch a bucket, every count changing
				for i := range all {
					all[i] = liveSession(fmt.Sprintf("2_MX40-s%03d", i), 10+(i*7+k*3)%50)
				}
				m = update(m, tickMsg(at))
				m = update(m, StateMsg{Sessions: append([]events.Session(nil), all...), Link: relayclient.Status{State: relayclient.Live}})
				at = at.Add(histBucket)
			}
			if len(m.hist.rings) != 200 {
				b.Fatalf("%d histories", len(m.hist.rings))
			}
			var tm tea.Model = m
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				at = at.Add(step.d)
				tm, _ = tm.Update(tickMsg(at))
				_ = tm.View()
			}
		})
	}
}

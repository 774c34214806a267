package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/charmbracelet/x/ansi"

	"github.com/gavelhq/gavel/events"
)

type connRow struct {
	id, name, role string
	createdAt      int64
	streams        int
	search         string
}

type streamRow struct {
	id, name, kind, publisher string
	createdAt                 int64
	search                    string
}

// sessionView is one session: its connections, its streams, its events.
type sessionView struct {
	id    string
	s     events.Session
	found bool

	conns       []connRow
	connShown   []int
	connList    listState
	streams     []streamRow
	streamShown []int
	streamList  listState
	pane        int // 0 connections, 1 streams, 2 events
	filter      string

	tail     *ring[EventLine]
	tailList listState

	// seen is the first connection of the last session value built from:
	// the feed hands on the same value while a session is unchanged.
	seen  *events.ConnectionState
	seenN int
}

func newSessionView(id string) sessionView {
	return sessionView{id: id, tail: newRing[EventLine](sessionTailLines)}
}

func (v *sessionView) set(all []events.Session, names *nameCache) {
	i, ok := findSession(all, v.id)
	if !ok {
		v.found = false // ended and forgotten: keep the last picture
		return
	}
	s := all[i]
	var first *events.ConnectionState
	if len(s.Connections) > 0 {
		first = &s.Connections[0]
	}
	if v.found && first == v.seen && len(s.Connections) == v.seenN && len(s.Streams) == len(v.s.Streams) && s.Counts == v.s.Counts {
		v.s = s
		return
	}
	v.s, v.found, v.seen, v.seenN = s, true, first, len(s.Connections)
	v.conns = v.conns[:0]
	for _, c := range s.Connections {
		p := names.get(c.Data)
		r := connRow{id: Sanitize(c.ID), name: p.name, role: p.role, createdAt: c.CreatedAt, streams: c.Streams}
		v.conns = append(v.conns, r)
	}
	v.streams = v.streams[:0]
	byConn := publisherNames(&s, names)
	for _, x := range s.Streams {
		r := streamRow{id: Sanitize(x.ID), name: Sanitize(x.Name), kind: streamKind(x.VideoType), createdAt: x.CreatedAt,
			publisher: streamPublisher(&x, byConn)}
		v.streams = append(v.streams, r)
	}
	v.refilter()
}

// publisherNames maps each connection of s that publishes to its
// participant's name.
func publisherNames(s *events.Session, names *nameCache) map[string]string {
	byConn := make(map[string]string, s.Counts.Publishers)
	for _, c := range s.Connections {
		if c.Streams > 0 {
			byConn[c.ID] = names.get(c.Data).name
		}
	}
	return byConn
}

// streamPublisher says who publishes x: its participant's name, else its
// connection's id, or "unattributed" while only a reconcile has seen it.
func streamPublisher(x *events.StreamState, byConn map[string]string) string {
	if x.Unattributed {
		return "unattributed"
	}
	return cmpOr(byConn[x.ConnectionID], Sanitize(x.ConnectionID))
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func findSession(all []events.Session, id string) (int, bool) {
	// all is sorted by id (State.Sessions' order).
	lo, hi := 0, len(all)
	for lo < hi {
		mid := (lo + hi) / 2
		if all[mid].ID < id {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(all) && all[lo].ID == id {
		return lo, true
	}
	for i := range all { // not sorted after all
		if all[i].ID == id {
			return i, true
		}
	}
	return 0, false
}

func streamKind(videoType string) string {
	switch videoType {
	case "":
		return "audio"
	case "camera", "screen":
		return videoType
	}
	return Sanitize(videoType)
}

func (v *sessionView) refilter() {
	// Search texts are built on the first filter, not for every batch.
	v.connShown = filterIndex(len(v.conns), v.filter, func(i int) string {
		r := &v.conns[i]
		if r.search == "" {
			r.search = strings.ToLower(r.name + " " + r.role + " " + r.id)
		}
		return r.search
	})
	v.streamShown = filterIndex(len(v.streams), v.filter, func(i int) string {
		r := &v.streams[i]
		if r.search == "" {
			r.search = strings.ToLower(r.name + " " + r.kind + " " + r.publisher + " " + r.id)
		}
		return r.search
	})
	v.connList.clamp(len(v.connShown))
	v.streamList.clamp(len(v.streamShown))
}

func (v *sessionView) addEvents(lines []EventLine) {
	follow := v.tailList.cursor >= v.tail.len()-1
	for _, l := range lines {
		if l.Session == v.id {
			v.tail.push(l)
		}
	}
	if follow {
		v.tailList.cursor = v.tail.len() - 1
	}
	v.tailList.clamp(v.tail.len())
}

// list is the focused pane's cursor and its row count.
func (v *sessionView) list() (*listState, int) {
	switch v.pane {
	case 1:
		return &v.streamList, len(v.streamShown)
	case 2:
		return &v.tailList, v.tail.len()
	}
	return &v.connList, len(v.connShown)
}

func (v *sessionView) title() string {
	t := "session(" + v.id + ")"
	if v.filter != "" {
		t += fmt.Sprintf(" </%s> %d/%d connections, %d/%d streams", v.filter, len(v.connShown), len(v.conns), len(v.streamShown), len(v.streams))
	}
	return t
}

// summary says the session's figures, badges first so a narrow screen
// keeps them; wide enough, how viewers are derived too (? has the legend).
func (v *sessionView) summary(width int) string {
	c := v.s.Counts
	var parts []string
	if !v.found || !v.s.Live {
		parts = append(parts, "ENDED")
	}
	if c.Recording {
		parts = append(parts, "●REC")
	}
	if c.Broadcasting {
		parts = append(parts, "BROADCASTING")
	}
	var kinds []string
	for _, k := range []struct {
		n    int
		name string
	}{{c.Camera, "camera"}, {c.Screen, "screen"}, {c.Custom, "custom"}, {c.AudioOnly, "audio"}} {
		if k.n > 0 {
			kinds = append(kinds, fmt.Sprintf("%d %s", k.n, k.name))
		}
	}
	viewers := fmt.Sprintf("%d viewers", c.Viewers)
	if width >= 120 {
		viewers += " (connections publishing nothing)"
	}
	streams := fmt.Sprintf("%d streams", c.Streams)
	if len(kinds) > 0 {
		streams += " (" + strings.Join(kinds, ", ") + ")"
	}
	parts = append(parts, fmt.Sprintf("%d connections", c.Connections), fmt.Sprintf("%d publishing", c.Publishers), viewers, streams)
	return strings.Join(parts, " · ")
}

var connCols = []column{
	{title: "NAME", width: 14, flex: true, maxw: 48},
	{title: "ROLE", width: 10, flex: true, maxw: 16},
	{title: "JOINED", width: 6, right: true},
	{title: "STRMS", width: 5, right: true},
	{title: "CONNECTION", width: 12, flex: true, maxw: 40},
}

var streamCols = []column{
	{title: "TYPE", width: 6},
	{title: "NAME", width: 14, flex: true, maxw: 40},
	{title: "PUBLISHER", width: 14, flex: true, maxw: 48},
	{title: "AGE", width: 6, right: true},
	{title: "STREAM", width: 12, flex: true, maxw: 40},
}

var tailCols = []column{
	{title: "TIME", width: 8},
	{title: "WHO", width: 16, flex: true, maxw: 48},
	{title: "WHAT", width: 22, flex: true, maxw: 40},
	{title: "ID", width: 12, flex: true, maxw: 40},
}

func (v *sessionView) render(m *Model, width, height int, b *strings.Builder) {
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	if flag := overLimit(v.s.Counts.Connections, m.opts.MaxConnections); flag != "" {
		// The flag first, in the warning style, so a narrow screen keeps it.
		flag = "⚑ over the limit of " + strconv.Itoa(m.opts.MaxConnections)
		flag = Clip(flag, width)
		rest := Clip(" · "+v.summary(width), width-ansi.StringWidth(flag))
		line(m.styles.Warning.Render(flag) + m.styles.Muted.Render(rest))
	} else {
		line(m.styles.Muted.Render(Clip(v.summary(width), width)))
	}
	height--
	// Connections get half of what is left, streams and events a quarter
	// each; every pane has a title line and a header line. A short
	// terminal shows the focused pane alone.
	body := height - 6
	nc := max(body/2, 1)
	ns := max(body/4, 1)
	nt := max(body-nc-ns, 1)
	show := [3]bool{true, true, true}
	if body < 6 {
		show = [3]bool{}
		show[v.pane] = true
		nc, ns, nt = height-2, height-2, height-2
	}
	paneTitle := func(i int, s string) {
		mark := "  "
		st := m.styles.Muted
		if v.pane == i {
			mark, st = "▸ ", m.styles.Title
		}
		line(st.Render(Clip(mark+s, width)))
	}

	if show[0] {
		v.renderConns(m, width, nc, paneTitle, line, b)
	}
	if show[1] {
		v.renderStreams(m, width, ns, paneTitle, line, b)
	}
	if show[2] {
		v.renderTail(m, width, nt, paneTitle, line, b)
	}
}

func (v *sessionView) renderConns(m *Model, width, nc int, paneTitle func(int, string), line func(string), b *strings.Builder) {
	paneTitle(0, fmt.Sprintf("connections[%d]", len(v.connShown)))
	cols := fit(connCols, width)
	line(m.styles.TableHeader.Render(header(cols, width)))
	v.connList.height = nc
	from, to := v.connList.window(len(v.connShown))
	for i := from; i < to; i++ {
		r := &v.conns[v.connShown[i]]
		row := renderRow(cols, []string{orDash(r.name), orDash(r.role), age(m.now, r.createdAt), strconv.Itoa(r.streams), shortID(r.id, cols[4].width)}, width)
		line(m.rowStyleIn(v.pane == 0, i == v.connList.cursor, row))
	}
	blank(b, nc-(to-from))
}

func (v *sessionView) renderStreams(m *Model, width, ns int, paneTitle func(int, string), line func(string), b *strings.Builder) {
	paneTitle(1, fmt.Sprintf("streams[%d]", len(v.streamShown)))
	cols := fit(streamCols, width)
	line(m.styles.TableHeader.Render(header(cols, width)))
	v.streamList.height = ns
	from, to := v.streamList.window(len(v.streamShown))
	for i := from; i < to; i++ {
		r := &v.streams[v.streamShown[i]]
		row := renderRow(cols, []string{r.kind, orDash(r.name), orDash(r.publisher), age(m.now, r.createdAt), shortID(r.id, cols[4].width)}, width)
		line(m.rowStyleIn(v.pane == 1, i == v.streamList.cursor, row))
	}
	blank(b, ns-(to-from))
}

func (v *sessionView) renderTail(m *Model, width, nt int, paneTitle func(int, string), line func(string), b *strings.Builder) {
	paneTitle(2, fmt.Sprintf("events[%d]", v.tail.len()))
	cols := fit(tailCols, width)
	line(m.styles.TableHeader.Render(header(cols, width)))
	v.tailList.height = nt
	from, to := v.tailList.window(v.tail.len())
	for i := from; i < to; i++ {
		l := v.tail.at(i)
		row := renderRow(cols, []string{l.At.Local().Format("15:04:05"), orDash(l.Name), l.Text, shortID(l.Subject, cols[3].width)}, width)
		line(m.rowStyleIn(v.pane == 2, i == v.tailList.cursor, row))
	}
	blank(b, nt-(to-from))
}

func blank(b *strings.Builder, n int) {
	for range max(n, 0) {
		b.WriteByte('\n')
	}
}

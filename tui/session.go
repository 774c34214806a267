package tui

import (
	"fmt"
	"slices"
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
	conn                      string // its connection's id, "" if unattributed
	createdAt                 int64
	muted                     bool
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
	pane        sessionPane // the pane with the cursor
	filter      string

	tail     *ring[EventLine]
	tailList listState

	// Marks (space) choose the rows a bulk action takes, by id: they
	// survive rebuilds and filters (a bulk prompt counts the hidden ones).
	markConns, markStreams map[string]struct{}

	// seen is the first connection of the last session value built from:
	// the feed hands on the same value while a session is unchanged.
	seen  *events.ConnectionState
	seenN int
}

func newSessionView(id string) sessionView {
	return sessionView{id: id, tail: newRing[EventLine](sessionTailLines), markConns: map[string]struct{}{}, markStreams: map[string]struct{}{}}
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
	if v.found && first == v.seen && len(s.Connections) == v.seenN && len(s.Streams) == len(v.s.Streams) && s.Counts == v.s.Counts && !mutesChanged(&v.s, &s) {
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
			muted: x.Muted, conn: x.ConnectionID, publisher: streamPublisher(&x, byConn)}
		v.streams = append(v.streams, r)
	}
	v.pruneMarks()
	v.refilter()
}

// mutesChanged: a mute changes no count, so the quick "same session"
// test must look at the streams' flags too (few: streams, not viewers).
func mutesChanged(a, b *events.Session) bool {
	if a.MuteAll != b.MuteAll || len(a.Streams) != len(b.Streams) {
		return true
	}
	for i := range a.Streams {
		if a.Streams[i].Muted != b.Streams[i].Muted || a.Streams[i].ID != b.Streams[i].ID {
			return true
		}
	}
	return false
}

// pruneMarks forgets marks of connections and streams that have left.
func (v *sessionView) pruneMarks() {
	pruneSet(v.markConns, len(v.conns), func(i int) string { return v.conns[i].id })
	pruneSet(v.markStreams, len(v.streams), func(i int) string { return v.streams[i].id })
}

// pruneSet keeps in set only the ids of the n rows.
func pruneSet(set map[string]struct{}, n int, id func(int) string) {
	if len(set) == 0 {
		return
	}
	live := make(map[string]struct{}, n)
	for i := range n {
		live[id(i)] = struct{}{}
	}
	for k := range set {
		if _, ok := live[k]; !ok {
			delete(set, k)
		}
	}
}

// toggleMark marks or unmarks the selected connection or stream and moves
// down, so space space space marks a run.
func (v *sessionView) toggleMark() {
	var id string
	var set map[string]struct{}
	switch v.pane {
	case paneConnections:
		if r, ok := v.selectedConn(); ok {
			id, set = r.id, v.markConns
		}
	case paneStreams:
		if r, ok := v.selectedStream(); ok {
			id, set = r.id, v.markStreams
		}
	}
	if set == nil {
		return
	}
	if _, ok := set[id]; ok {
		delete(set, id)
	} else {
		set[id] = struct{}{}
	}
	l, n := v.list()
	l.move(1, n)
}

func (v *sessionView) clearMarks() {
	clear(v.markConns)
	clear(v.markStreams)
}

// marked returns the marked ids of a pane and how many of them the
// filter hides.
func marked[R any](set map[string]struct{}, rows []R, shown []int, id func(*R) string) (ids []string, hidden int) {
	if len(set) == 0 {
		return nil, 0
	}
	visible := 0
	for _, i := range shown {
		if _, ok := set[id(&rows[i])]; ok {
			visible++
		}
	}
	for _, r := range rows {
		if _, ok := set[id(&r)]; ok {
			ids = append(ids, id(&r))
		}
	}
	return ids, len(ids) - visible
}

func (v *sessionView) markedConns() ([]string, int) {
	return marked(v.markConns, v.conns, v.connShown, func(r *connRow) string { return r.id })
}

func (v *sessionView) markedStreams() ([]string, int) {
	return marked(v.markStreams, v.streams, v.streamShown, func(r *streamRow) string { return r.id })
}

// selectedConn is the connection under the cursor of the connections
// pane, or the publisher of the stream under the streams pane's cursor.
func (v *sessionView) selectedConn() (*connRow, bool) {
	switch v.pane {
	case paneConnections:
		if c := v.connList.cursor; c >= 0 && c < len(v.connShown) {
			return &v.conns[v.connShown[c]], true
		}
	case paneStreams:
		if r, ok := v.selectedStream(); ok && r.conn != "" {
			for i := range v.conns {
				if v.conns[i].id == r.conn {
					return &v.conns[i], true
				}
			}
		}
	}
	return nil, false
}

func (v *sessionView) selectedStream() (*streamRow, bool) {
	if v.pane != paneStreams {
		return nil, false
	}
	if c := v.streamList.cursor; c >= 0 && c < len(v.streamShown) {
		return &v.streams[v.streamShown[c]], true
	}
	return nil, false
}

// streamsOf lists the streams the given connections publish.
func (v *sessionView) streamsOf(conns []string) []string {
	var ids []string
	for i := range v.streams {
		if v.streams[i].conn != "" && slices.Contains(conns, v.streams[i].conn) {
			ids = append(ids, v.streams[i].id)
		}
	}
	return ids
}

// selectedStreams is what m mutes without marks: the selected stream, or
// every stream of the selected connection.
func (v *sessionView) selectedStreams() ([]string, string) {
	if r, ok := v.selectedStream(); ok {
		return []string{r.id}, streamName(r)
	}
	if v.pane != paneConnections {
		return nil, ""
	}
	c, ok := v.selectedConn()
	if !ok {
		return nil, ""
	}
	var ids []string
	for i := range v.streams {
		if v.streams[i].conn == c.id {
			ids = append(ids, v.streams[i].id)
		}
	}
	if len(ids) == 1 {
		return ids, "the stream of " + connName(c)
	}
	return ids, plural(len(ids), "stream") + " of " + connName(c)
}

// unpublishTarget is one stream: the selected one, or the selected
// connection's only stream.
func (v *sessionView) unpublishTarget() (*streamRow, bool) {
	if r, ok := v.selectedStream(); ok {
		return r, true
	}
	c, ok := v.selectedConn()
	if !ok || v.pane != paneConnections {
		return nil, false
	}
	var found *streamRow
	for i := range v.streams {
		if v.streams[i].conn == c.id {
			if found != nil {
				return nil, false // several: the moderator picks one
			}
			found = &v.streams[i]
		}
	}
	return found, found != nil
}

// selectedID is what y copies in this view: the selected connection's or
// stream's id, else the session's.
func (v *sessionView) selectedID() (id, what string) {
	switch v.pane {
	case paneConnections:
		if r, ok := v.selectedConn(); ok {
			return r.id, "connection id"
		}
	case paneStreams:
		if r, ok := v.selectedStream(); ok {
			return r.id, "stream id"
		}
	}
	return v.id, "session id"
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
	dropped := v.tail.dropped
	for _, l := range lines {
		if l.Session == v.id {
			v.tail.push(l)
		}
	}
	if follow {
		v.tailList.cursor = v.tail.len() - 1
	} else if d := int(v.tail.dropped - dropped); d > 0 {
		// Scrolled back: stay on the same line as old ones leave.
		v.tailList.cursor = max(v.tailList.cursor-d, 0)
		v.tailList.top = max(v.tailList.top-d, 0)
	}
	v.tailList.clamp(v.tail.len())
}

// list is the focused pane's cursor and its row count.
func (v *sessionView) list() (*listState, int) {
	switch v.pane {
	case paneStreams:
		return &v.streamList, len(v.streamShown)
	case paneEvents:
		return &v.tailList, v.tail.len()
	}
	return &v.connList, len(v.connShown)
}

// move moves the focused pane's cursor.
func (v *sessionView) move(d int) {
	l, n := v.list()
	l.move(d, n)
}

// filterText is the filter over both the connections and streams panes.
func (v *sessionView) filterText() string { return v.filter }

func (v *sessionView) setFilter(f string) {
	v.filter = f
	v.refilter()
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
	{title: "TYPE", width: 8},
	{title: "AUDIO", width: 5},
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

func (v *sessionView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	line := func(s string) { b.WriteString(s); b.WriteByte('\n') }
	if limit := rc.capOf(v.s.ID); overLimit(v.s.Counts.Connections, limit) != "" {
		// The flag first, in the warning style, so a narrow screen keeps it.
		flag := "⚑ over the limit of " + strconv.Itoa(limit)
		flag = Clip(flag, width)
		rest := Clip(" · "+v.summary(width), width-ansi.StringWidth(flag))
		line(rc.styles.Warning.Render(flag) + rc.styles.Muted.Render(rest))
	} else {
		line(rc.styles.Muted.Render(Clip(v.summary(width), width)))
	}
	height--
	nc, ns, nt, show := sessionPanes(height, v.pane)
	paneTitle := func(p sessionPane, s string) {
		mark := "  "
		st := rc.styles.Muted
		if v.pane == p {
			mark, st = "▸ ", rc.styles.Title
		}
		line(st.Render(Clip(mark+s, width)))
	}

	if show[paneConnections] {
		v.renderConns(rc, width, nc, paneTitle, b)
	}
	if show[paneStreams] {
		v.renderStreams(rc, width, ns, paneTitle, b)
	}
	if show[paneEvents] {
		v.renderTail(rc, width, nt, paneTitle, b)
	}
}

// renderConns, renderStreams and renderTail draw a pane: its title line,
// then its table: a header and nc (ns, nt) rows. An empty pane's table says
// nothing: its title's count is 0.
func (v *sessionView) renderConns(rc *renderCtx, width, nc int, paneTitle func(sessionPane, string), b *strings.Builder) {
	paneTitle(paneConnections, fmt.Sprintf("connections[%d]", len(v.connShown))+markedNote(len(v.markConns)))
	cols := fit(connCols, width)
	rc.table(b, cols, width, nc+1, &v.connList, len(v.connShown), "", "", func(i int, selected bool) {
		r := &v.conns[v.connShown[i]]
		name := orDash(r.name)
		if in := rc.intentOn(v.s.ID, r.id); in != "" {
			name += "  ⧗ " + in // another moderator's open question or command
		}
		row := renderRow(cols, []string{markCell(v.markConns, r.id, name), orDash(r.role), age(rc.now, r.createdAt), strconv.Itoa(r.streams), shortID(r.id, cols[4].width)}, width)
		b.WriteString(rc.rowStyleIn(v.pane == paneConnections, selected, row))
	})
}

func (v *sessionView) renderStreams(rc *renderCtx, width, ns int, paneTitle func(sessionPane, string), b *strings.Builder) {
	t := fmt.Sprintf("streams[%d]", len(v.streamShown)) + markedNote(len(v.markStreams))
	if v.s.MuteAll {
		t += " · MUTE-ALL on (new streams join muted)"
	}
	paneTitle(paneStreams, t)
	cols := fit(streamCols, width)
	rc.table(b, cols, width, ns+1, &v.streamList, len(v.streamShown), "", "", func(i int, selected bool) {
		r := &v.streams[v.streamShown[i]]
		audio := ""
		if r.muted {
			audio = "muted"
		}
		row := renderRow(cols, []string{markCell(v.markStreams, r.id, r.kind), audio, orDash(r.name), orDash(r.publisher), age(rc.now, r.createdAt), shortID(r.id, cols[5].width)}, width)
		b.WriteString(rc.rowStyleIn(v.pane == paneStreams, selected, row))
	})
}

func (v *sessionView) renderTail(rc *renderCtx, width, nt int, paneTitle func(sessionPane, string), b *strings.Builder) {
	paneTitle(paneEvents, fmt.Sprintf("events[%d]", v.tail.len()))
	cols := fit(tailCols, width)
	rc.table(b, cols, width, nt+1, &v.tailList, v.tail.len(), "", "", func(i int, selected bool) {
		l := v.tail.at(i)
		row := renderRow(cols, []string{l.At.Local().Format("15:04:05"), orDash(l.Name), l.Text, shortID(l.Subject, cols[3].width)}, width)
		b.WriteString(rc.rowStyleIn(v.pane == paneEvents, selected, row))
	})
}

// markCell prefixes a marked row's first cell with ✓ (visible under
// NO_COLOR).
func markCell(set map[string]struct{}, id, cell string) string {
	if _, ok := set[id]; ok {
		return "✓ " + cell
	}
	return cell
}

func markedNote(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(" · %d marked", n)
}

// focusRow focuses a pane (connections or streams) and puts its cursor
// on the row with id, clearing a filter that hides it.
func (v *sessionView) focusRow(pane sessionPane, id string) {
	find := func() bool {
		shown, list, key := v.connShown, &v.connList, func(i int) string { return v.conns[i].id }
		if pane == paneStreams {
			shown, list, key = v.streamShown, &v.streamList, func(i int) string { return v.streams[i].id }
		}
		for i, ix := range shown {
			if key(ix) == id {
				list.cursor = i
				list.clamp(len(shown))
				return true
			}
		}
		return false
	}
	if !find() && v.filter != "" {
		v.filter = ""
		v.refilter()
		find()
	}
	v.pane = pane
}

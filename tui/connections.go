package tui

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/gavelhq/gavel/events"
)

// presenceRow is one live connection of the :connections view. Rows are
// pointers, carried from batch to batch while their connection is the
// same: a batch copies 10,000 pointers, not 10,000 rows.
type presenceRow struct {
	sess           *sessionTag
	id, name, role string
	data           string // as the state has it: what a rebuild compares
	createdAt      int64
	streams        int
	search         string // built on the first filter that needs it
}

// sessionTag is what the rows of one session share.
type sessionTag struct{ id, label, lower string }

func (r *presenceRow) rowKey() string { return r.id }

// rowSearch matches names fuzzily and ids (the session's too) as
// substrings (see fuzzy); not the host's name, or typing it would list
// the host's whole audience. Built when first asked and kept with the
// row, so a batch without a filter builds no search texts.
func (r *presenceRow) rowSearch() string {
	if r.search == "" {
		r.search = strings.ToLower(r.name+" "+r.role) + "\x00" + strings.ToLower(r.id) + " " + r.sess.lower
	}
	return r.search
}

// connectionsView is every live connection of every session: who is
// where. Filtering it by a name finds that person in whichever session
// they are. Rows are grouped by session (in id order), each session's
// by join time, as the state gives them: no sort per batch.
type connectionsView struct {
	stickyRows[*presenceRow]
	segs     segCache[*presenceRow]
	sessions int // sessions with at least one connection
}

func (v *connectionsView) set(all []events.Session, names *nameCache) {
	v.rows = v.rows[:0]
	v.sessions = 0
	v.segs.begin()
	for i := range all {
		s := &all[i]
		if len(s.Connections) == 0 {
			continue
		}
		v.sessions++
		v.rows = append(v.rows, v.segs.rows(s, func(s *events.Session, old []*presenceRow) []*presenceRow {
			return presenceRows(s, names, old)
		})...)
	}
	v.segs.end()
	v.refilter()
}

// presenceRows are one session's connections, named as the session view
// names them. A busy town hall changes every batch, but only a few of its
// 10,000 people do: the row of a connection whose id, join time and data
// are its old row's is the old row (search text and all), its stream
// count and session brought up to date. Nothing reads the old rows but
// this batch's build, so they are updated in place.
func presenceRows(s *events.Session, names *nameCache, old []*presenceRow) []*presenceRow {
	sid := Sanitize(s.ID)
	tag := &sessionTag{id: sid, label: sessionLabel(s, names), lower: strings.ToLower(sid)}
	rows := make([]*presenceRow, len(s.Connections))
	j := 0
	for i, c := range s.Connections {
		// Old and new are both by join time, then id (the state's order):
		// walk them together.
		for j < len(old) && (old[j].createdAt < c.CreatedAt || old[j].createdAt == c.CreatedAt && old[j].id < c.ID) {
			j++
		}
		if j < len(old) && old[j].id == c.ID && old[j].createdAt == c.CreatedAt && old[j].data == c.Data {
			r := old[j]
			r.streams, r.sess = c.Streams, tag
			rows[i] = r
			continue
		}
		p := names.get(c.Data)
		rows[i] = &presenceRow{sess: tag, id: Sanitize(c.ID), name: p.name, role: p.role, data: c.Data,
			createdAt: c.CreatedAt, streams: c.Streams}
	}
	return rows
}

// selectedSession: enter opens the connection's session (selectedRow then
// puts the cursor on the connection).
func (v *connectionsView) selectedSession() (string, bool) {
	if r, ok := v.current(); ok {
		return r.sess.id, true
	}
	return "", false
}

func (v *connectionsView) selectedRow() (sessionPane, string, bool) {
	if r, ok := v.current(); ok {
		return paneConnections, r.id, true
	}
	return paneConnections, "", false
}

var connectionsCols = []column{
	{title: "NAME", width: 12, flex: true, maxw: 40},
	{title: "ROLE", width: 9, flex: true, maxw: 14},
	{title: "SESSION", width: 10, flex: true, maxw: 34},
	{title: "HOST", width: 8, flex: true, maxw: 32},
	{title: "JOINED", width: 6, right: true},
	{title: "STRMS", width: 5, right: true},
	{title: "CONNECTION", width: 12, flex: true, maxw: 40},
}

func (v *connectionsView) title() string {
	t := v.titled("connections")
	return t + fmt.Sprintf(" in %d sessions", v.sessions)
}

func (v *connectionsView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(connectionsCols, width)
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  no live connections", v.filter, func(i int, selected bool) {
		r := v.rows[v.shown[i]]
		row := renderRow(cols, []string{
			orDash(r.name), orDash(r.role), shortID(r.sess.id, cols[2].width), orDash(r.sess.label),
			age(rc.now, r.createdAt), strconv.Itoa(r.streams), shortID(r.id, cols[6].width),
		}, width)
		b.WriteString(rc.rowStyle(selected, row))
	})
}

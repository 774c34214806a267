package tui

import "strings"

// view is what the Model asks of whichever view is on top of the stack:
// the keys and screen parts every view has (title, body, cursor, filter)
// go through it, so a new view is one type and one case in Model.view,
// not an arm in every switch of app.go. Keys only one view has stay in
// Model.viewKey; what enter does is the optional opener.
type view interface {
	// title is the line above the body: the view's name, counts, filter.
	title() string
	// render writes the body, exactly height lines of width cells.
	render(rc *renderCtx, width, height int, b *strings.Builder)
	// move moves the cursor d rows (clamped), with what the view ties to
	// it: a table remembers the row it is on, a log follows at the end.
	move(d int)
	// filterText is the view's filter ("" for none); setFilter replaces
	// it and refilters.
	filterText() string
	setFilter(f string)
}

// opener is a view whose rows belong to a session: enter drills into it.
// The session view has none (enter there opens nothing).
type opener interface {
	// selectedSession is the session of the row under the cursor, and
	// whether enter opens it: not with no rows (the sessions, archives,
	// events and audit views also refuse a row whose session id is "").
	selectedSession() (id string, ok bool)
}

// rowFocuser is an opener whose rows are rows of the session view too (a
// connection or a stream): once it is open, the cursor goes to that row.
type rowFocuser interface {
	// selectedRow is the pane and id of the row under the cursor, which
	// the Model focuses in the session view it opens.
	selectedRow() (pane sessionPane, id string, ok bool)
}

// view is the view of a kind. It hands out pointers into m, taken anew on
// every call: the Model is a value that Bubble Tea copies on every
// Update, so a pointer kept from an older copy (in a map built by
// NewModel, say) would change a Model nobody shows any more.
func (m *Model) view(k viewKind) view {
	switch k {
	case viewSessions:
		return &m.sessions
	case viewSession:
		return &m.session
	case viewAudit:
		return &m.audit
	case viewArchives:
		return &m.archives
	case viewConnections:
		return &m.conns
	case viewStreams:
		return &m.streams
	case viewBans:
		return &m.bans
	case viewAlerts:
		return &m.alerts
	case viewRules:
		return &m.rulesView
	case viewWho:
		return &m.who
	}
	return &m.events // viewEvents, the one kind left
}

// top is the view on top of the stack: the one on screen.
func (m *Model) top() view { return m.view(m.current()) }

// Enter finds openers by a type assertion, which a misspelt method would
// fail silently; these make it a compile error instead.
var (
	_ opener     = (*sessionsView)(nil)
	_ opener     = (*eventsView)(nil)
	_ opener     = (*auditView)(nil)
	_ opener     = (*archivesView)(nil)
	_ opener     = (*connectionsView)(nil)
	_ opener     = (*streamsView)(nil)
	_ opener     = (*bansView)(nil)
	_ opener     = (*alertsView)(nil)
	_ opener     = (*rulesView)(nil)
	_ opener     = (*whoView)(nil)
	_ rowFocuser = (*connectionsView)(nil)
	_ rowFocuser = (*streamsView)(nil)
)

// Package tui is gavel's console: a Bubble Tea program that shows every
// live session a relay knows of, lets a moderator drill into one, and
// tails the events. It reads state from the relay (events/relayclient)
// and never calls the Video API itself.
//
// Relay frames never reach Update one by one: a feed goroutine folds them
// into a Mirror and a coalescer hands the UI at most one StateMsg per
// 50 ms, so a 10,000-person town hall costs ≤ 20 renders a second, and
// every table renders only its visible window.
package tui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// StateMsg is one batch from the feed: the whole picture (immutable: the
// UI never changes it), the event lines that came since the last batch,
// and the link's state.
type StateMsg struct {
	// Sessions is the whole picture, in every batch (sorted by id, as
	// State.Sessions gives them); a session whose value is unchanged may
	// be the same value as last time, which the session view relies on
	// to skip rebuilding a 10,000-row table.
	Sessions []events.Session
	Events   []EventLine // new since the last batch, oldest first
	// EventsDropped counts lines the feed let go before the UI took them
	// (it keeps at most one event log's worth between batches).
	EventsDropped uint64
	// Audits are the moderation actions since the last batch, oldest
	// first; AuditsDropped counts those the feed let go, like EventsDropped.
	Audits        []AuditLine
	AuditsDropped uint64
	Link          relayclient.Status
	Seq           uint64
	// Results are the relay's answers to this console's commands since
	// the last batch; Role is what the relay's hello said the token may do.
	Results []events.Result
	Role    events.Role
	// Drops counts the times the link went down after being live: a
	// drop and a reconnect between two batches still loses the answers
	// to what was in flight.
	Drops uint64
	// Bans are the bans in force, and Alerts the recent alerts (newest
	// first), in every batch (short lists).
	Bans   []events.Ban
	Alerts []events.Alert
	// Rules are the relay's rules in force (nil: none in its log yet);
	// their caps are flagged when console.max_connections says nothing.
	Rules *events.RulesInForce
	// Presence is the relay's picture of who is on, when it changed since
	// the last batch (nil: as before); Self the name the relay's hello
	// gave this console.
	Presence *events.PresenceFrame
	Self     string
}

// tickMsg moves the clock the ages and the STALE badge are measured by.
type tickMsg time.Time

type viewKind int

const (
	viewSessions viewKind = iota
	viewSession
	viewEvents
	viewAudit
	viewArchives
	viewConnections
	viewStreams
	viewBans
	viewAlerts
	viewRules
	viewWho
)

func (k viewKind) String() string {
	return [...]string{"sessions", "session", "events", "audit", "archives", "connections", "streams", "bans", "alerts", "rules", "who"}[k]
}

// Model is the console's root: it routes keys (to the open overlay on
// top, if any, else the view's and the global actions), keeps the view
// stack that the breadcrumbs show, and composes header, view and footer.
type Model struct {
	opts Options
	// keys, styles and help are most of a Model's bytes, and Bubble Tea
	// copies the Model at every Update and View: behind pointers they are
	// shared by the copies, and replaced, never changed in place, so a
	// copy keeps the ones it was made with.
	keys   *KeyMap
	styles *Styles
	isDark bool
	help   *help.Model

	width, height int
	now           time.Time

	link    relayclient.Status
	hasLink bool // a relay is configured (else nothing to be stale about)
	seq     uint64

	all      []events.Session
	names    *nameCache
	footers  *footerCache
	hist     *connHistory // connection counts sampled for the sessions table's sparkline
	stack    []viewKind
	sessions sessionsView
	session  sessionView
	events   eventsView
	audit    auditView
	archives archivesView
	// rules are the relay's rules in force (StateMsg.Rules).
	rules *events.RulesInForce
	bans  bansView
	// rulesView is :rules (m.rules is what its batch said).
	rulesView rulesView
	// who is :who; pres the relay's picture of who is on, and this
	// console's side of it; selfUser the name the relay knows it by.
	who      whoView
	pres     *presenceState
	rp       *pastView // the session view's trip into the past
	selfUser string
	alerts   alertsView
	conns    connectionsView
	streams  streamsView

	// overlay is what is open over the view, in one order for keys,
	// body and footer (overlay.go).
	overlay    overlays
	flash      string
	quitting   bool
	syncOutput bool

	// Moderation: where commands go, the jobs in progress, an open
	// question, the token's role, and the clock (a field, for tests).
	cmdr  Commander
	drops uint64 // the feed's count of link drops, as last seen
	mod   *moderation
	role  events.Role
	clock func() time.Time
}

type footerCache struct{ m map[string]string }

// NewModel returns the console's model, at the sessions view, with no
// data until a StateMsg arrives. Keys that Validate refuses leave the
// default keys, and the flash line says why.
func NewModel(opts Options) Model {
	keys, keysErr := opts.keyMap()
	m := Model{
		opts: opts, keys: &keys, isDark: opts.Theme != ThemeLight,
		width: 80, height: 24, now: time.Now(),
		hasLink: opts.hasRelay(),
		names:   newNameCache(opts.Aliases),
		footers: &footerCache{},
		hist:    &connHistory{},
		stack:   []viewKind{viewSessions},
		events:  newEventsView(DefaultEventLines),
		audit:   newAuditView(DefaultAuditLines),
		mod:     newModeration(),
		pres:    newPresenceState(),
		rp:      &pastView{},
		clock:   time.Now,
	}
	m.link = relayclient.Status{State: relayclient.Connecting, Since: m.now}
	m.setStyles()
	m.applyRole()
	if keysErr != nil {
		m.flash = keysErr.Error()
	}
	return m
}

func (m *Model) setStyles() {
	st := NewStyles(m.isDark)
	m.styles = &st
	h := help.New()
	if m.help != nil {
		h = *m.help
	}
	h.Styles = st.Help
	m.help = &h
}

func tick() tea.Cmd {
	return tea.Tick(time.Second, func(t time.Time) tea.Msg { return tickMsg(t) })
}

// Init asks the terminal's background (unless the theme is forced) and
// starts the clock.
func (m Model) Init() tea.Cmd {
	cmds := []tea.Cmd{tick()}
	if m.opts.Theme.auto() {
		cmds = append(cmds, tea.RequestBackgroundColor)
	}
	if m.syncOutput {
		cmds = append(cmds, syncOutputOptIn)
	}
	return tea.Batch(cmds...)
}

// syncOutputOptIn turns on synchronized output (mode 2026), which Bubble
// Tea v2.0.10 does not probe for under SSH, where a frame drawn in pieces
// is most visible. Terminals without the mode ignore it.
func syncOutputOptIn() tea.Msg {
	return tea.ModeReportMsg{Mode: ansi.ModeSynchronizedOutput, Value: ansi.ModeReset}
}

// wantSyncOutput: over SSH, unless GAVEL_SYNC_OUTPUT=off.
func wantSyncOutput(getenv func(string) string) bool {
	switch getenv("GAVEL_SYNC_OUTPUT") {
	case "off", "0", "false":
		return false
	case "on", "1", "true":
		return true
	}
	return getenv("SSH_TTY") != "" || getenv("SSH_CONNECTION") != ""
}

func (m Model) current() viewKind { return m.stack[len(m.stack)-1] }

// Update handles one message; it does no I/O.
func (m Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	tm, cmd := m.update(msg)
	if mm, ok := tm.(Model); ok {
		mm.layout()
		if where := mm.tellWhere(); where != nil {
			cmd = tea.Batch(cmd, where)
		}
		return mm, cmd
	}
	return tm, cmd
}

// layout gives every list the height Render will draw it at. View works
// on a copy of the Model, so heights set while rendering are lost; a
// cursor moved against a stale height would scroll the window at every
// step instead of only when it leaves the window.
func (m *Model) layout() {
	body := m.height - 4
	rows := max(body-1, 1) // a table's header line
	m.sessions.list.height = rows
	m.events.list.height = rows
	m.audit.list.height = rows
	m.archives.list.height = rows
	m.bans.list.height = rows
	m.alerts.list.height = rows
	m.rulesView.list.height = max(rows-rulesSummaryLines, 1)
	m.who.list.height = rows
	m.conns.list.height = rows
	m.streams.list.height = rows
	nc, ns, nt, _ := sessionPanes(body-1, m.session.pane)
	m.session.connList.height, m.session.streamList.height, m.session.tailList.height = nc, ns, nt
}

func (m Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case StateMsg:
		// Answers first: one that came just before a drop still counts.
		cmd := m.results(msg.Results)
		m.applyState(msg)
		return m, cmd
	case tickMsg:
		m.now = time.Time(msg)
		m.watchUnpublish()
		return m, tick()
	case sendTickMsg:
		m.mod.ticking = false
		return m, m.pump()
	case sentMsg:
		return m, m.sent(msg)
	case tea.PasteMsg:
		if _, ok := m.overlay.top().(*openForm); ok {
			return m.formKey(msg)
		}
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		h := *m.help
		h.SetWidth(msg.Width)
		m.help = &h
	case tea.BackgroundColorMsg:
		if m.opts.Theme.auto() { // a forced theme outranks the terminal's report
			m.isDark = msg.IsDark()
			m.setStyles()
		}
	case tea.KeyPressMsg:
		return m.key(msg)
	}
	return m, nil
}

func (m *Model) applyState(msg StateMsg) {
	m.all = msg.Sessions
	m.link, m.seq = msg.Link, msg.Seq
	if msg.Drops != m.drops {
		m.drops = msg.Drops
		m.linkLost()
		m.pres.whereSent, m.pres.rehold = "", true // a new connection: the relay must be told again
	}
	if msg.Role != "" && msg.Role != m.role {
		m.role = msg.Role
		m.applyRole()
	}
	m.hist.observe(msg.Sessions, m.now, !m.dimmed())
	m.sessions.set(msg.Sessions, m.names)
	if m.rp.on && !m.replaying() {
		m.rp.on, m.rp.pending, m.rp.queued = false, "", 0 // the view was left: the past with it
		m.restoreLiveTail()
	}
	switch {
	case m.replaying():
		m.liveLines(msg.Events)
	case m.session.id != "":
		m.session.set(msg.Sessions, m.names)
		m.session.addEvents(msg.Events)
	}
	m.events.add(msg.Events, msg.EventsDropped)
	m.audit.add(msg.Audits, msg.AuditsDropped)
	m.archives.set(msg.Sessions, m.names)
	m.bans.set(msg.Bans)
	m.rules = msg.Rules
	if msg.Self != "" {
		m.selfUser = msg.Self
	}
	if msg.Presence != nil { // only when it changed: :who's rows are rebuilt for it
		m.pres.frame = *msg.Presence
		m.who.set(m.pres.frame.Consoles)
	}
	m.rulesView.set(msg.Rules, msg.Sessions, m.names)
	m.flashAlerts(m.alerts.set(msg.Alerts))
	m.watchUnpublish()
	m.conns.set(msg.Sessions, m.names)
	m.streams.set(msg.Sessions, m.names)
}

// applyRole takes the moderation keys away from a console that may not
// use them — --read-only, or a viewer token — so they are gone from
// handling, the footer and the help alike; minting tokens is the admin's.
func (m *Model) applyRole() {
	watchOnly := m.opts.ReadOnly || m.role == events.RoleViewer
	keys := *m.keys
	m.keys = &keys
	for _, a := range m.keys.Actions() {
		if a.Dangerous {
			a.SetEnabled(!watchOnly)
		}
	}
	// Marks only choose targets for actions: nothing to mark them for.
	m.keys.Mark.SetEnabled(!watchOnly)
	if m.role != "" && m.role != events.RoleAdmin {
		m.keys.Token.SetEnabled(false)
	}
}

// watchOnly is true when this console may not act.
func (m *Model) watchOnly() bool { return m.opts.ReadOnly || m.role == events.RoleViewer }

// dimmed is true while the picture may be out of date.
func (m *Model) dimmed() bool {
	return m.hasLink && m.link.State != relayclient.Live
}

// Render is the whole screen as a string, exactly height lines.
func (m *Model) Render() string {
	if m.width < 40 || m.height < 10 {
		return Clip(fmt.Sprintf("gavel: terminal too small (%dx%d); need 40x10", m.width, m.height), m.width)
	}
	var b strings.Builder
	b.Grow(m.width * m.height * 2)
	b.WriteString(m.headerLine())
	b.WriteByte('\n')
	b.WriteString(m.crumbs())
	b.WriteByte('\n')
	b.WriteString(m.styles.Title.Render(Clip(m.top().title(), m.width)))
	b.WriteByte('\n')
	body := m.height - 4
	if !m.overlay.body(m, m.width, body, &b) {
		m.top().render(m.renderCtx(), m.width, body, &b)
	}
	b.WriteString(m.footer())
	return b.String()
}

// View renders the screen; the alt screen keeps the terminal's scrollback.
func (m Model) View() tea.View {
	v := tea.NewView("")
	if !m.quitting {
		v.SetContent(m.Render())
	}
	v.AltScreen = true
	v.WindowTitle = "gavel"
	return v
}

// Run runs the console until the user quits or ctx ends. The relay link
// is never a reason to stop: while it is down the console keeps the last
// picture, dimmed, and says so in the header.
func Run(ctx context.Context, opts Options) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := NewProgram(ctx, opts)
	if err != nil {
		return err
	}
	_, err = p.Run()
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return nil // the caller ended it
	}
	return err
}

// NewProgram builds the console as a Bubble Tea program with popts (the
// SSH console's input, output and environment) and starts its relay link,
// which runs until ctx ends: run the program, and end ctx once it returns.
func NewProgram(ctx context.Context, opts Options, popts ...tea.ProgramOption) (*tea.Program, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	m := NewModel(opts)
	m.syncOutput = wantSyncOutput(getenv)
	var f *feed
	if opts.hasRelay() {
		f = newFeed(opts)
		m.cmdr = f.client
	}
	p := tea.NewProgram(m, append([]tea.ProgramOption{tea.WithContext(ctx)}, popts...)...)
	if f != nil {
		go f.run(ctx)
		go f.pump(ctx, batchInterval, p.Send)
	}
	return p, nil
}

// hasRelay reports whether the console has a relay to follow.

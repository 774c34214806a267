package tui

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/relayclient"
)

// Presence in the console: it tells the relay where it is looking (the
// where action, each time that changes), and shows who else is on — in
// the header, and in :who — and the questions other moderators have open
// on a target's row. A question this console opens about a destructive
// action holds its targets at the relay (intend) until it is answered:
// another moderator's question or command on them is refused, and if
// someone else holds them already, the question closes at once saying so.

// presenceState is shared by the Model's copies (a pointer), like the
// moderation outbox.
type presenceState struct {
	frame     events.PresenceFrame
	whereSent string // the where last told the relay; "" after a drop
	// rehold: the link dropped, and with it the relay let go of what an
	// open question held; hold it again once live.
	rehold bool
	next   int
	holds  map[string]*ask // intend command id → the question it holds for
}

func newPresenceState() *presenceState { return &presenceState{holds: map[string]*ask{}} }

// maxHolds bounds the targets one question holds: holds count against the
// console token's command rate (5 a second, bursts of 20), which the
// command itself needs next; "disconnect everyone" asks without holding.
const maxHolds = 5

// quietSend sends a presence command; its answer matters only for holds.
func quietSend(c Commander, cmd events.Command) tea.Cmd {
	return func() tea.Msg {
		if c != nil {
			_ = c.Send(cmd)
		}
		return nil
	}
}

func (p *presenceState) id(prefix string) string {
	p.next++
	return prefix + strconv.Itoa(p.next)
}

// where is what this console tells the relay: its view, and the session
// it has open.
func (m *Model) where() (view, session string) {
	v := m.current()
	if v == viewSession {
		return v.String(), m.session.id
	}
	return v.String(), ""
}

// tellWhere says where the console is when that changed, or the link came
// back (the relay forgets a console that left).
func (m *Model) tellWhere() tea.Cmd {
	if m.link.State != relayclient.Live {
		m.pres.whereSent = ""
		return nil
	}
	var sends []tea.Cmd
	if m.pres.rehold {
		m.pres.rehold = false
		if a := m.overlay.ask(); a != nil {
			for i := range a.holds {
				delete(m.pres.holds, a.holds[i].ID)
				a.holds[i].ID = m.pres.id("h")
				m.pres.holds[a.holds[i].ID] = a
				sends = append(sends, quietSend(m.cmdr, a.holds[i]))
			}
		}
	}
	view, session := m.where()
	key := view + "\x00" + session
	if key != m.pres.whereSent {
		m.pres.whereSent = key
		params, _ := json.Marshal(map[string]string{"view": view})
		sends = append(sends, quietSend(m.cmdr, events.Command{Type: events.FrameCommand, ID: m.pres.id("w"), Action: events.ActionWhere, Session: session, Params: params}))
	}
	return tea.Batch(sends...)
}

// confirmHolding asks like confirm and, while the question is open,
// holds at the relay the targets of cmds (the commands y would send).
func (m *Model) confirmHolding(question string, cmds []events.Command, run func(m *Model) tea.Cmd) tea.Cmd {
	a := &ask{question: question, options: []askOption{{key: "y", label: "yes", run: run}}, opened: m.clock()}
	m.overlay.open(a)
	if len(cmds) > maxHolds || m.watchOnly() {
		return nil
	}
	var sends []tea.Cmd
	for _, c := range cmds {
		in := intentOf(c)
		in.ID = m.pres.id("h")
		m.pres.holds[in.ID] = a
		a.holds = append(a.holds, in)
		sends = append(sends, quietSend(m.cmdr, in))
	}
	return tea.Batch(sends...)
}

// intentOf is the intend command for cmd: its target, and its action as
// params.intent.
func intentOf(cmd events.Command) events.Command {
	p := map[string]any{}
	if len(cmd.Params) > 0 {
		_ = json.Unmarshal(cmd.Params, &p)
	}
	p["intent"] = cmd.Action
	delete(p, "except") // what mute-all spares does not name its target
	params, _ := json.Marshal(p)
	return events.Command{Type: events.FrameCommand, Action: events.ActionIntend, Session: cmd.Session, Connection: cmd.Connection, Stream: cmd.Stream, Params: params}
}

// releaseHolds lets go of a question's targets (it was answered no).
func (m *Model) releaseHolds(a *ask) tea.Cmd {
	var sends []tea.Cmd
	for _, in := range a.holds {
		delete(m.pres.holds, in.ID)
		rel := in
		rel.ID, rel.Action = m.pres.id("r"), events.ActionRelease
		sends = append(sends, quietSend(m.cmdr, rel))
	}
	a.holds = nil
	return tea.Batch(sends...)
}

// heldResult takes the answer to a hold: refused, the question closes
// and says who holds the target. It reports whether r was a hold's.
func (m *Model) heldResult(r events.Result) bool {
	a, ok := m.pres.holds[r.ID]
	if !ok {
		return false
	}
	delete(m.pres.holds, r.ID)
	if r.OK || r.Error == nil || r.Error.Status != 409 {
		return true // held, or the relay keeps no claims: the command decides
	}
	if m.overlay.ask() == a {
		m.overlay.close(rankAsk)
		m.say(noticeFailed, "✗ "+Sanitize(r.Error.Message))
	}
	return true
}

// onLine is the header's word on who is on: "3 on: ana (moderator), ben,
// chen (viewer)", this console's user included; people, not consoles.
func (m *Model) onLine(room int) string {
	people := map[string]events.Role{}
	for _, c := range m.pres.frame.Consoles {
		if r, ok := people[c.Name]; !ok || roleRank(c.Role) < roleRank(r) {
			people[c.Name] = c.Role
		}
	}
	if len(people) == 0 {
		return ""
	}
	names := make([]string, 0, len(people))
	for n := range people {
		names = append(names, n)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := roleRank(people[a]) - roleRank(people[b]); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(Sanitize(n))
		if i == len(names)-1 || people[names[i+1]] != people[n] {
			b.WriteString(" (" + string(people[n]) + ")")
		}
	}
	full := fmt.Sprintf("%d on: %s", len(names), b.String())
	if len([]rune(full)) <= room {
		return full
	}
	return fmt.Sprintf("%d on", len(names))
}

func roleRank(r events.Role) int {
	switch r {
	case events.RoleAdmin:
		return 0
	case events.RoleModerator:
		return 1
	}
	return 2
}

// intentOn is what someone else's open question or command says on a
// target's row ("ana is disconnecting…"), or "".
func (m *Model) intentOn(session, target string) string {
	for _, in := range m.pres.frame.Intents {
		if in.Session == session && in.Target == target && in.Name != m.selfName() {
			return Sanitize(in.Name) + " is " + events.Doing(in.Action) + "…"
		}
	}
	return ""
}

// intentOnSession is another moderator's question or command on a
// session as a whole (mute all, a recording), or "".
func (m *Model) intentOnSession(session string) string {
	for _, in := range m.pres.frame.Intents {
		switch in.Action {
		case events.ActionMuteAll, events.ActionMuteAllOff, events.ActionArchiveStart, events.ActionArchiveStop:
			if in.Session == session && in.Name != m.selfName() {
				return Sanitize(in.Name) + " is " + events.Doing(in.Action) + "…"
			}
		}
	}
	return ""
}

// selfName is this console's user, as the relay's hello said.
func (m *Model) selfName() string { return m.selfUser }

// whoRow is one console in :who.
type whoRow struct {
	p      events.Presence
	search string
}

func (r whoRow) rowKey() string    { return r.p.ID }
func (r whoRow) rowSearch() string { return r.search }

// whoView is :who — every console connected to the fleet: who, with what
// role, how they came in, to which relay, since when, and where they are.
type whoView struct{ stickyRows[whoRow] }

func (v *whoView) set(ps []events.Presence) {
	v.rows = v.rows[:0]
	for _, p := range ps {
		r := whoRow{p: p}
		r.search = strings.ToLower(p.Name + " " + string(p.Role) + " " + p.Via + " " + p.Relay + " " + p.View + " " + p.Session)
		v.rows = append(v.rows, r)
	}
	v.refilter()
}

var whoCols = []column{
	{title: "WHO", width: 10, flex: true, maxw: 32},
	{title: "ROLE", width: 9},
	{title: "VIA", width: 9},
	{title: "RELAY", width: 8, flex: true, maxw: 24},
	{title: "SINCE", width: 6, right: true},
	{title: "WHERE", width: 12, flex: true, maxw: 60},
}

func (v *whoView) title() string { return v.titled("who") }

// selectedSession: enter opens the session someone is looking at.
func (v *whoView) selectedSession() (string, bool) {
	r, ok := v.current()
	return r.p.Session, ok && r.p.Session != ""
}

func (v *whoView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(whoCols, width)
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  nobody has said where they are yet", v.filter, func(i int, selected bool) {
		r := &v.rows[v.shown[i]]
		where := Sanitize(r.p.View)
		if r.p.Session != "" {
			where += " " + shortID(Sanitize(r.p.Session), max(cols[5].width-len(where)-1, 8))
		}
		since := "—"
		if !r.p.Since.IsZero() {
			since = compactDuration(rc.now.Sub(r.p.Since).Truncate(time.Second))
		}
		row := renderRow(cols, []string{Sanitize(r.p.Name), string(r.p.Role), Sanitize(r.p.Via), Sanitize(r.p.Relay), since, orDash(where)}, width)
		b.WriteString(rc.rowStyle(selected, row))
	})
}

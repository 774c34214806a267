package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
)

// banRow is one ban's line.
type banRow struct {
	id, identity, session, by, reason string
	expires                           time.Time
	search                            string
}

func (r banRow) rowKey() string    { return r.id }
func (r banRow) rowSearch() string { return r.search }

// bansView is :bans — the bans in force, soonest to expire first, as the
// relay keeps them: who, where, for how long, by whom and why. x lifts
// the selected one (moderators).
type bansView struct {
	stickyRows[banRow]
}

func (v *bansView) set(bans []events.Ban) {
	v.rows = v.rows[:0]
	for _, b := range bans {
		r := banRow{id: Sanitize(b.ID), identity: Sanitize(b.Identity), session: Sanitize(b.Session), by: Sanitize(b.By),
			reason: Sanitize(b.Reason), expires: b.Expires}
		r.search = strings.ToLower(r.id + " " + r.identity + " " + r.session + " " + r.by + " " + r.reason)
		v.rows = append(v.rows, r)
	}
	v.refilter()
}

var banCols = []column{
	{title: "WHO", width: 10, flex: true, maxw: 32},
	{title: "WHERE", width: 13, flex: true, maxw: 34},
	{title: "LEFT", width: 7, right: true},
	{title: "BY", width: 8, flex: true, maxw: 20},
	{title: "REASON", width: 10, flex: true, maxw: 60},
}

func (v *bansView) title() string {
	t := v.titled("bans")
	return t
}

// selectedSession: enter opens the session a ban is scoped to.
func (v *bansView) selectedSession() (string, bool) {
	r, ok := v.current()
	return r.session, ok && r.session != ""
}

func (v *bansView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(banCols, width)
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  no bans in force", v.filter, func(i int, selected bool) {
		r := &v.rows[v.shown[i]]
		where := "every session"
		if r.session != "" {
			where = shortID(r.session, cols[1].width)
		}
		row := renderRow(cols, []string{orDash(r.identity), where, timeLeft(rc.now, r.expires), orDash(r.by), orDash(r.reason)}, width)
		b.WriteString(rc.rowStyle(selected, row))
	})
}

// timeLeft is how long until t, as "23h", "59m", "40s" ("0s" once past).
func timeLeft(now, t time.Time) string {
	d := t.Sub(now)
	switch {
	case d <= 0:
		return "0s"
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}

// Field order of the ban form.
const (
	banFieldScope = iota
	banFieldFor
	banFieldReason
)

// The ban form's scopes.
const (
	banScopeSession = "this session"
	banScopeAll     = "every session"
)

// newBanForm is the form of the ban action.
func newBanForm(title string) *form {
	return newForm(title,
		formField{Label: "where", Value: banScopeSession, Choices: []string{banScopeSession, banScopeAll},
			Hint: "every session: wherever this identity connects"},
		formField{Label: "for", Value: "24h", Hint: "how long: 30m, 24h, 168h (7 days); at most 720h (30 days)"},
		formField{Label: "reason", MaxBytes: 200, Hint: "for the audit trail, and the app's gavel-banned signal"},
	)
}

// banParams are the ban command's params: {"all","for","reason"}.
func banParams(values []string) (params []byte, all bool, d time.Duration, err error) {
	if err := wantValues("ban", values, 3); err != nil {
		return nil, false, 0, err
	}
	text := strings.TrimSpace(values[banFieldFor])
	d, perr := time.ParseDuration(text)
	switch {
	case text == "":
		return nil, false, 0, &fieldError{Field: banFieldFor, Label: "for", Rule: "is required: a duration like 30m or 24h"}
	case perr != nil:
		return nil, false, 0, &fieldError{Field: banFieldFor, Label: "for", Rule: fmt.Sprintf("a duration like 30m or 24h; days are written in hours (got %q)", text)}
	case d <= 0 || d > events.MaxBanFor:
		return nil, false, 0, &fieldError{Field: banFieldFor, Label: "for", Rule: fmt.Sprintf("more than 0 and at most 720h (got %s)", text)}
	}
	all = values[banFieldScope] == banScopeAll
	params, err = marshalParams(events.CommandParams{All: all, For: text, Reason: values[banFieldReason]})
	return params, all, d, err
}

// ban bans the selected connection's person: a form (where, how long,
// why), then a question naming them. The relay reads their identity from
// the connection's data and removes them now and whenever they return.
func (m *Model) ban() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		return nil
	}
	r, ok := m.session.selectedConn()
	if !ok {
		m.say(noticeInfo, "select a connection to ban its person")
		return nil
	}
	who, conn := connName(r), r.id
	if !m.ready("ban") {
		return nil
	}
	m.overlay.open(&openForm{f: newBanForm("Ban " + who), submit: func(m *Model, values []string) (tea.Cmd, error) {
		params, all, d, err := banParams(values)
		if err != nil {
			return nil, err
		}
		where := "from " + t.name()
		if all {
			where = "from every session"
		}
		cmd := events.Command{Action: events.ActionBan, Session: t.id, Connection: conn, Params: params}
		return m.confirmHolding(fmt.Sprintf("Ban %s %s for %s? They are disconnected now and whenever they come back.", who, where, d), []events.Command{cmd}, func(m *Model) tea.Cmd {
			if !m.ready("ban") {
				return nil
			}
			return m.start(&job{words: wordsBan, what: who}, cmd)
		}), nil
	}})
	return nil
}

// lift lifts the selected ban, after asking.
func (m *Model) lift() tea.Cmd {
	r, ok := m.bans.current()
	if !ok {
		m.say(noticeInfo, "no ban selected")
		return nil
	}
	if !m.ready("lift a ban") {
		return nil
	}
	id, who := r.id, orDash(r.identity)
	m.confirm("Lift the ban on "+who+"? They may come back at once.", func(m *Model) tea.Cmd {
		params, _ := marshalParams(events.CommandParams{Ban: id})
		return m.start(&job{words: wordsLift, what: who}, events.Command{Action: events.ActionUnban, Params: params})
	})
	return nil
}

package tui

import (
	"fmt"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
)

// alertRow is one alert's line.
type alertRow struct {
	id, kind, session, text, ackedBy string
	at                               time.Time
	search                           string
}

func (r alertRow) rowKey() string    { return r.id }
func (r alertRow) rowSearch() string { return r.search }

// alertsView is :alerts — what the relay raised for a person to look at,
// newest first; `a` acknowledges the selected one (moderators), and every
// console then shows who did.
type alertsView struct {
	stickyRows[alertRow]
	open     int             // not acknowledged
	seen     map[string]bool // ids flashed already
	sessions map[string]bool // sessions with an open alert
}

// set replaces the rows and returns the alerts not seen before that are
// still open: the console flashes them.
func (v *alertsView) set(alerts []events.Alert) []events.Alert {
	if v.seen == nil {
		v.seen = map[string]bool{}
	}
	var fresh []events.Alert
	v.rows, v.open, v.sessions = v.rows[:0], 0, map[string]bool{}
	for _, al := range alerts {
		r := alertRow{id: Sanitize(al.ID), kind: Sanitize(al.Kind), session: Sanitize(al.Session), text: Sanitize(al.Text),
			ackedBy: Sanitize(al.AckedBy), at: al.At}
		r.search = strings.ToLower(r.kind + " " + r.session + " " + r.text + " " + r.ackedBy)
		v.rows = append(v.rows, r)
		if al.AckedBy == "" {
			v.open++
			if al.Session != "" {
				v.sessions[Sanitize(al.Session)] = true
			}
			if !v.seen[al.ID] {
				fresh = append(fresh, al)
			}
		}
		v.seen[al.ID] = true
	}
	v.refilter()
	return fresh
}

var alertCols = []column{
	{title: "WHEN", width: 7, right: true},
	{title: "KIND", width: 20}, // ⚠credentials_refused
	{title: "SESSION", width: 10, flex: true, maxw: 34},
	{title: "WHAT", width: 20, flex: true, maxw: 80},
	{title: "ACKED BY", width: 8, flex: true, maxw: 20},
}

func (v *alertsView) title() string {
	t := v.titled("alerts")
	if v.open > 0 {
		t += fmt.Sprintf(" ⚠%d open", v.open)
	}
	return t
}

// selectedSession: enter opens the alert's session.
func (v *alertsView) selectedSession() (string, bool) {
	r, ok := v.current()
	return r.session, ok && r.session != ""
}

func (v *alertsView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(alertCols, width)
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  no alerts", v.filter, func(i int, selected bool) {
		r := &v.rows[v.shown[i]]
		kind := r.kind
		if r.ackedBy == "" {
			kind = "⚠" + kind // visible under NO_COLOR too
		}
		row := renderRow(cols, []string{age(rc.now, r.at.UnixMilli()), kind, shortID(r.session, cols[2].width), r.text, orDash(r.ackedBy)}, width)
		b.WriteString(rc.rowStyle(selected, row))
	})
}

// ackAlert acknowledges the selected alert; it asks nothing (nothing is
// undone by it) but says what it did.
func (m *Model) ackAlert() tea.Cmd {
	r, ok := m.alerts.current()
	switch {
	case !ok:
		m.say(noticeInfo, "no alert selected")
		return nil
	case r.ackedBy != "":
		m.say(noticeInfo, "acknowledged already, by "+r.ackedBy)
		return nil
	case !m.ready("acknowledge"):
		return nil
	}
	params, _ := marshalParams(events.CommandParams{Alert: r.id})
	return m.start(&job{words: wordsAck, what: "the alert " + r.kind}, events.Command{Action: events.ActionAck, Params: params})
}

// flashAlerts says, in the footer, what the relay just raised.
func (m *Model) flashAlerts(fresh []events.Alert) {
	switch len(fresh) {
	case 0:
	case 1:
		m.say(noticeFailed, "⚠ alert: "+Sanitize(fresh[0].Text)+" — :alerts")
	default:
		m.say(noticeFailed, fmt.Sprintf("⚠ %d alerts, the latest: %s — :alerts", len(fresh), Sanitize(fresh[0].Text)))
	}
}

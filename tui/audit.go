package tui

import (
	"strings"
	"time"

	"github.com/gavelhq/gavel/events"
)

// AuditLine is one moderation action as the console shows it: who did
// what to whom, and how it ended. Its strings are already sanitized.
type AuditLine struct {
	Seq     uint64
	At      time.Time
	Actor   string
	Role    string
	Action  string
	Session string
	Target  string
	OK      bool
	Error   string
	Detail  string // why a rule acted (events.Audit.Detail)
}

// NewAuditLine describes one audit entry.
func NewAuditLine(seq uint64, a events.Audit) AuditLine {
	return AuditLine{Seq: seq, At: a.At, Actor: Sanitize(a.Actor), Role: Sanitize(string(a.Role)),
		Action: Sanitize(a.Action), Session: Sanitize(a.Session), Target: Sanitize(a.Target), OK: a.OK, Error: Sanitize(a.Error), Detail: Sanitize(a.Detail)}
}

// Outcome is "ok" (with why, for a rule's action), or "failed: <error>".
func (l AuditLine) Outcome() string {
	switch {
	case l.OK && l.Detail != "":
		return "ok: " + l.Detail
	case l.OK:
		return "ok"
	case l.Error == "":
		return "failed"
	}
	return "failed: " + l.Error
}

// DefaultAuditLines is how many lines the audit log keeps.
const DefaultAuditLines = 2000

// auditView is the moderation log: newest at the bottom, following new
// lines until the user moves up, like the events view.
type auditView struct{ tailLog[AuditLine] }

func newAuditView(capacity int) auditView {
	return auditView{newTailLog(capacity, func(l AuditLine) string {
		return strings.ToLower(l.Actor + " " + l.Role + " " + l.Action + " " + l.Session + " " + l.Target + " " + l.Outcome())
	})}
}

var auditCols = []column{
	{title: "TIME", width: 8},
	{title: "ACTOR", width: 9, flex: true, maxw: 32},
	{title: "ROLE", width: 9},
	{title: "ACTION", width: 9, flex: true, maxw: 20},
	{title: "SESSION", width: 8, flex: true, maxw: 34},
	{title: "TARGET", width: 8, flex: true, maxw: 34},
	{title: "OUTCOME", width: 23, flex: true},
}

func (v *auditView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(auditCols, width)
	outcomeAt := cellStart(cols, len(cols)-1)
	rc.table(b, cols, width, height, &v.list, v.count(), "  no moderation actions yet", v.filter, func(i int, selected bool) {
		l := v.line(i)
		row := renderRow(cols, []string{
			l.At.Local().Format("15:04:05"), orDash(l.Actor), orDash(l.Role), orDash(l.Action),
			orDash(shortID(l.Session, cols[4].width)), orDash(shortID(l.Target, cols[5].width)), l.Outcome(),
		}, width)
		if !l.OK && !selected { // the outcome in the error style
			rc.flaggedRow(b, row, outcomeAt, -1, rc.styles.Error)
		} else {
			b.WriteString(rc.rowStyle(selected, row))
		}
	})
}

// cellStart is the cell offset at which column i of a fitted table begins.
func cellStart(cols []column, i int) int {
	at := 0
	for _, c := range cols[:i] {
		at += c.width + 1
	}
	return at
}

func (v *auditView) title() string { return v.titled("audit") }

// selectedSession: enter opens the session the action was taken in.
func (v *auditView) selectedSession() (string, bool) {
	l, ok := v.current()
	return l.Session, ok && l.Session != ""
}

package tui

import (
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"
)

// renderCtx is what a view renders with: the styles, the clock, whether
// the picture is stale, the limits it flags. Views get it instead of the
// Model, so a view draws from its own rows and this, and never reaches
// into another view or the Model's state. Model.renderCtx makes one per
// frame.
type renderCtx struct {
	styles *Styles
	now    time.Time
	// dimmed is true while the picture may be out of date: rows are faint.
	dimmed bool
	// capOf is a session's connection cap, flagged (⚑) when exceeded; 0
	// is none. widestCap is the largest, which sizes the LIMIT column
	// (0: no session has a cap, no column).
	capOf     func(sessionID string) int
	widestCap int
	// spark is a session's connection-count sparkline, width runes.
	spark func(sessionID string, width int) string
	// alerted is the sessions with an open alert (⚠ by their name).
	alerted map[string]bool
	// intentOn says another moderator's question or command on a target
	// ("ana is disconnecting…"), or "".
	intentOn func(session, target string) string
	// intentOnSession says the same of a session as a whole.
	intentOnSession func(session string) string
}

// renderCtx is the context views render the current frame with.
func (m *Model) renderCtx() *renderCtx {
	return &renderCtx{styles: m.styles, now: m.now, dimmed: m.dimmed(), capOf: m.capOf, widestCap: m.widestCap(),
		spark:   func(id string, width int) string { return m.hist.sparkline(id, m.now, width) },
		alerted: m.alerts.sessions, intentOn: m.intentOn, intentOnSession: m.intentOnSession}
}

// table writes a table in exactly height lines (its header's
// included): the header, the rows in l's window over n rows, then blank
// lines to the bottom. Only the window's rows are asked for, so a
// 10,000-row table costs what the rows on screen cost. row writes row i,
// without the newline, styled as the cursor's row if selected. A table
// with no rows says none on its first line (or, with a filter, that the
// filter matched nothing); none "" leaves it blank. l.height becomes the
// rows drawn, so the next move scrolls the window that is on screen.
func (rc *renderCtx) table(b *strings.Builder, cols []column, width, height int, l *listState, n int, none, filter string, row func(i int, selected bool)) {
	rc.styles.TableHeader.write(b, header(cols, width))
	b.WriteByte('\n')
	l.height = max(height-1, 1)
	from, to := l.window(n)
	lines := to - from
	if n == 0 && none != "" {
		if filter != "" {
			none = "  nothing matches /" + filter
		}
		rc.styles.Muted.write(b, none)
		b.WriteByte('\n')
		lines = 1
	}
	for i := from; i < to; i++ {
		row(i, i == l.cursor)
		b.WriteByte('\n')
	}
	blank(b, l.height-lines)
}

// flaggedRow writes a row the cursor is not on whose cells from up
// to to (to < 0: to the end of the row) carry a flag, in st, the rest as
// rowStyle would style it: the flag stands out in colour, and its words
// say it under NO_COLOR. On the cursor's row the selection style wins.
func (rc *renderCtx) flaggedRow(b *strings.Builder, row string, from, to int, st Paint) {
	b.WriteString(rc.rowStyle(false, ansi.Truncate(row, from, "")))
	if to < 0 {
		b.WriteString(st.Render(ansi.TruncateLeft(row, from, "")))
		return
	}
	b.WriteString(st.Render(ansi.Cut(row, from, to)))
	b.WriteString(rc.rowStyle(false, ansi.TruncateLeft(row, to, "")))
}

// rowStyle styles one table row: reversed and bold when selected (visible
// under NO_COLOR), faint while the link is down.
func (rc *renderCtx) rowStyle(selected bool, row string) string {
	return rc.rowStyleIn(true, selected, row)
}

func (rc *renderCtx) rowStyleIn(focused, selected bool, row string) string {
	dim := rc.dimmed
	switch {
	case selected && focused && dim:
		return rc.styles.SelectedDim.Render(row)
	case selected && focused:
		return rc.styles.Selected.Render(row)
	case selected:
		return rc.styles.Prompt.Render(row) // bold: where the cursor of an unfocused pane is
	case dim:
		return rc.styles.Dim.Render(row)
	}
	return row
}

// sessionRow lays out a sessions table row: renderRow, or, when withSpark
// fitted the table with the sparkline column (after AGE, at
// len(sessionCols)), the cells with the session's sparkline put in there.
func (rc *renderCtx) sessionRow(cols []column, hasSpark bool, id string, cells []string, width int) string {
	if !hasSpark {
		return renderRow(cols, cells, width)
	}
	at := len(sessionCols)
	var buf [12]string
	c := append(append(append(buf[:0], cells[:at]...), rc.spark(id, cols[at].width)), cells[at:]...)
	return sparkRow(cols, c, at, width)
}

// capOf is the cap the console flags for a session:
// console.max_connections, else the relay's own (its rules in force: the
// session's cap, else every session's), else none.
func (m *Model) capOf(sessionID string) int {
	if m.opts.MaxConnections > 0 {
		return m.opts.MaxConnections
	}
	if m.rules == nil {
		return 0
	}
	return m.rules.Rules.CapOf(sessionID)
}

// widestCap is the largest cap capOf may answer, 0 for none.
func (m *Model) widestCap() int {
	if m.opts.MaxConnections > 0 {
		return m.opts.MaxConnections
	}
	if m.rules == nil {
		return 0
	}
	n := m.rules.Rules.MaxConnections
	for _, c := range m.rules.Rules.SessionCaps {
		n = max(n, c)
	}
	return n
}

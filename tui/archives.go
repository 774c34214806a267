package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/gavelhq/gavel/events"
)

// archiveRow is one archive's line, built once per batch.
type archiveRow struct {
	id, session, label, name, status, mode string
	createdAt, updatedAt                   int64
	recording                              bool
	search                                 string
}

// archivesView is every archive of every session the console knows,
// most recently changed first.
type archivesView struct {
	stickyRows[archiveRow]
	recording int // archives started or paused
}

func (r archiveRow) rowKey() string    { return r.id }
func (r archiveRow) rowSearch() string { return r.search }

func (v *archivesView) set(all []events.Session, names *nameCache) {
	v.rows = v.rows[:0]
	v.recording = 0
	for i := range all {
		s := &all[i]
		if len(s.Archives) == 0 {
			continue
		}
		sid, label := Sanitize(s.ID), sessionLabel(s, names)
		for _, a := range s.Archives {
			r := archiveRow{id: Sanitize(a.ID), session: sid, label: label, name: Sanitize(a.Name),
				status: Sanitize(a.Status), mode: Sanitize(a.OutputMode), createdAt: a.CreatedAt, updatedAt: a.UpdatedAt,
				recording: a.Status == "started" || a.Status == "paused"}
			r.search = strings.ToLower(r.id + " " + r.session + " " + r.label + " " + r.name + " " + r.status + " " + r.mode)
			if r.recording {
				v.recording++
			}
			v.rows = append(v.rows, r)
		}
	}
	slices.SortFunc(v.rows, func(a, b archiveRow) int {
		return cmp.Or(cmp.Compare(b.updatedAt, a.updatedAt), cmp.Compare(a.id, b.id))
	})
	v.refilter()
}

var archiveCols = []column{
	{title: "ARCHIVE", width: 8, flex: true, maxw: 40},
	{title: "SESSION", width: 10, flex: true, maxw: 34},
	{title: "HOST", width: 8, flex: true, maxw: 32},
	{title: "NAME", width: 8, flex: true, maxw: 40},
	{title: "STATUS", width: 9},
	{title: "MODE", width: 10},
	{title: "CREATED", width: 7, right: true},
	{title: "UPDATED", width: 7, right: true},
}

func (v *archivesView) title() string {
	t := v.titled("archives")
	if v.recording > 0 {
		t += fmt.Sprintf(" ●%d recording", v.recording)
	}
	return t
}

// selectedSession: enter opens the archive's session.
func (v *archivesView) selectedSession() (string, bool) {
	r, ok := v.current()
	return r.session, ok && r.session != ""
}

func (v *archivesView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols := fit(archiveCols, width)
	statusAt, modeAt := cellStart(cols, 4), cellStart(cols, 5)
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  no archives yet", v.filter, func(i int, selected bool) {
		r := &v.rows[v.shown[i]]
		status := orDash(r.status)
		if r.recording {
			status = "●" + status // visible under NO_COLOR too
		}
		row := renderRow(cols, []string{
			shortID(r.id, cols[0].width), shortID(r.session, cols[1].width), orDash(r.label), orDash(r.name),
			status, orDash(r.mode), age(rc.now, r.createdAt), age(rc.now, r.updatedAt),
		}, width)
		if r.recording && !selected { // the status cell in the recording style
			rc.flaggedRow(b, row, statusAt, modeAt, rc.styles.Recording)
		} else {
			b.WriteString(rc.rowStyle(selected, row))
		}
	})
}

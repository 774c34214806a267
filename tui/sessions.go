package tui

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/gavelhq/gavel/events"
)

// sortKey orders the sessions table; ties break by id so rows never jump.
type sortKey int

const (
	sortSize    sortKey = iota // most connections first
	sortViewers                // most viewers first
	sortAge                    // oldest first
	sortID
	nSortKeys
)

func (k sortKey) String() string {
	return [...]string{"size", "viewers", "age", "id"}[k]
}

// sessionRow is one session's line, built once per batch.
type sessionRow struct {
	id, label                     string
	conns, pubs, streams, viewers int
	recording, broadcasting, live bool
	startedAt                     int64 // ms; earliest live connection, else last event
	search                        string
}

type sessionsView struct {
	stickyRows[sessionRow]
	sort    sortKey
	showAll bool // ended sessions too
	total   int  // live (or all) sessions before the filter
}

func (r sessionRow) rowKey() string    { return r.id }
func (r sessionRow) rowSearch() string { return r.search }

// labelScan bounds how many connections are read for a session's label:
// the host is normally among the first to join.
const labelScan = 64

// sessionLabel is what the console calls a session: its alias from the
// config, else the name of its host (the first connection whose data says
// role host or moderator, else the first with a name).
func sessionLabel(s *events.Session, names *nameCache) string {
	if a := names.aliases[s.ID]; a != "" {
		return a
	}
	first := ""
	for i, c := range s.Connections {
		if i >= labelScan {
			break
		}
		p := names.get(c.Data)
		if p.name == "" {
			continue
		}
		switch strings.ToLower(p.role) {
		case "host", "moderator", "presenter", "owner":
			return p.name
		}
		if first == "" {
			first = p.name
		}
	}
	return first
}

func (v *sessionsView) set(all []events.Session, names *nameCache) {
	v.rows = v.rows[:0]
	for i := range all {
		s := &all[i]
		if !s.Live && !v.showAll {
			continue
		}
		r := sessionRow{id: Sanitize(s.ID), label: sessionLabel(s, names), conns: s.Counts.Connections,
			pubs: s.Counts.Publishers, streams: s.Counts.Streams, viewers: s.Counts.Viewers,
			recording: s.Counts.Recording, broadcasting: s.Counts.Broadcasting, live: s.Live, startedAt: s.LastEventAt}
		if len(s.Connections) > 0 {
			r.startedAt = s.Connections[0].CreatedAt
		}
		r.search = strings.ToLower(r.id + " " + r.label)
		v.rows = append(v.rows, r)
	}
	v.total = len(v.rows)
	v.sortRows()
	v.refilter()
}

func (v *sessionsView) sortRows() {
	slices.SortFunc(v.rows, func(a, b sessionRow) int {
		var c int
		switch v.sort {
		case sortSize:
			c = cmp.Compare(b.conns, a.conns)
		case sortViewers:
			c = cmp.Compare(b.viewers, a.viewers)
		case sortAge:
			c = cmp.Compare(a.startedAt, b.startedAt)
		}
		return cmp.Or(c, cmp.Compare(a.id, b.id))
	})
}

// nextSort is o: the next sort key, the cursor staying on its session.
func (v *sessionsView) nextSort() {
	v.sort = (v.sort + 1) % nSortKeys
	v.sortRows()
	v.refilter()
}

var sessionCols = []column{
	{title: "SESSION", width: 14, flex: true, maxw: 34},
	{title: "HOST", width: 12, flex: true, maxw: 40},
	{title: "CONNS", width: 6, right: true},
	{title: "PUBS", width: 5, right: true},
	{title: "STRMS", width: 5, right: true},
	{title: "VIEWERS", width: 7, right: true},
	{title: "REC", width: 4},
	{title: "AGE", width: 6, right: true},
}

func (v *sessionsView) title() string {
	scope := "live"
	if v.showAll {
		scope = "all"
	}
	t := fmt.Sprintf("sessions(%s)[%d]", scope, v.total)
	if v.filter != "" {
		t += fmt.Sprintf(" </%s> %d/%d", v.filter, len(v.shown), v.total)
	}
	return t + " ⇅" + v.sort.String()
}

// selectedSession: enter opens the session under the cursor.
func (v *sessionsView) selectedSession() (string, bool) {
	r, ok := v.current()
	return r.id, ok && r.id != ""
}

// overLimit is the flag of a session with more connections than the
// per-session cap (0: no cap), else "".
func overLimit(conns, limit int) string {
	if limit <= 0 || conns <= limit {
		return ""
	}
	return "⚑ over " + strconv.Itoa(limit)
}

// tableCols are the sessions table's columns: with a connection cap, a
// LIMIT column at the end flags the sessions over it.
func (v *sessionsView) tableCols(limit int) []column {
	if limit <= 0 {
		return sessionCols
	}
	w := ansi.StringWidth(overLimit(limit+1, limit))
	return append(sessionCols[:len(sessionCols):len(sessionCols)], column{title: "LIMIT", width: w})
}

func (v *sessionsView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	cols, hasSpark := withSpark(v.tableCols(rc.widestCap), len(sessionCols), width)
	limitAt := cellStart(cols, len(cols)-1) // LIMIT is the last column when there is one
	rc.table(b, cols, width, height, &v.list, len(v.shown), "  no live sessions yet", v.filter, func(i int, selected bool) {
		r := &v.rows[v.shown[i]]
		badge := ""
		switch {
		case r.recording && r.broadcasting:
			badge = "●REC+B"
		case r.recording:
			badge = "●REC"
		case r.broadcasting:
			badge = "BCST"
		case !r.live:
			badge = "ended"
		}
		flag := overLimit(r.conns, rc.capOf(r.id))
		label := orDash(r.label)
		if rc.alerted[r.id] {
			label = "⚠ " + label // an open alert: :alerts says what
		}
		if in := rc.intentOnSession(r.id); in != "" {
			label += "  ⧗ " + in // another moderator's question on the whole session
		}
		row := rc.sessionRow(cols, hasSpark, r.id, []string{
			shortID(r.id, cols[0].width), label, strconv.Itoa(r.conns), strconv.Itoa(r.pubs),
			strconv.Itoa(r.streams), strconv.Itoa(r.viewers), badge, age(rc.now, r.startedAt), flag,
		}, width)
		if flag != "" && !selected { // the LIMIT flag in the warning style
			rc.flaggedRow(b, row, limitAt, -1, rc.styles.Warning)
		} else {
			b.WriteString(rc.rowStyle(selected, row))
		}
	})
}

// age is how long ago ms was, compactly: 45s, 12m, 3h05m, 2d.
func age(now time.Time, ms int64) string {
	if ms <= 0 {
		return "—"
	}
	return compactDuration(now.Sub(time.UnixMilli(ms)))
}

func compactDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// nameCache remembers what each connection data string says, so a batch
// of a 10,000-connection session does not parse 10,000 JSON objects, and
// holds the config's session aliases.
type nameCache struct {
	m map[string]parsedData
	// aliases label sessions by id ([console.aliases]), sanitised once:
	// a config file is text from elsewhere too.
	aliases map[string]string
}

func newNameCache(aliases map[string]string) *nameCache {
	c := &nameCache{}
	for id, label := range aliases {
		if label = Sanitize(label); label != "" {
			if c.aliases == nil {
				c.aliases = make(map[string]string, len(aliases))
			}
			c.aliases[id] = label
		}
	}
	return c
}

type parsedData struct{ name, role string }

const nameCacheMax = 200_000

func (c *nameCache) get(data string) parsedData {
	if data == "" {
		return parsedData{}
	}
	if p, ok := c.m[data]; ok {
		return p
	}
	if c.m == nil || len(c.m) >= nameCacheMax {
		c.m = make(map[string]parsedData)
	}
	n, r := parseData(data)
	p := parsedData{name: n, role: r}
	c.m[data] = p
	return p
}

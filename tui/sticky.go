package tui

import "fmt"

// stickyRow is a table row that knows its identity and its search text.
type stickyRow interface {
	rowKey() string    // stays the same while the row is rebuilt or moves
	rowSearch() string // lower-case text the filter matches
}

// stickyRows is a table's rows, the ones its filter shows, and a cursor
// that stays on the same row (by key) when rows are rebuilt or reordered.
// The sessions and archives views are both one.
type stickyRows[R stickyRow] struct {
	rows     []R
	shown    []int // indexes into rows that match the filter
	list     listState
	filter   string
	selected string // key of the row under the cursor
}

// refilter recomputes the rows shown and puts the cursor back on the
// selected row wherever it went.
func (v *stickyRows[R]) refilter() {
	v.shown = filterIndex(len(v.rows), v.filter, func(i int) string { return v.rows[i].rowSearch() })
	if v.selected != "" {
		for i, ix := range v.shown {
			if v.rows[ix].rowKey() == v.selected {
				v.list.cursor = i
				break
			}
		}
	}
	v.list.clamp(len(v.shown))
	v.remember()
}

func (v *stickyRows[R]) remember() {
	if r, ok := v.current(); ok {
		v.selected = r.rowKey()
	}
}

func (v *stickyRows[R]) current() (R, bool) {
	if v.list.cursor < 0 || v.list.cursor >= len(v.shown) {
		var zero R
		return zero, false
	}
	return v.rows[v.shown[v.list.cursor]], true
}

// move moves the cursor and remembers the row it lands on, so the next
// batch finds it wherever the row went.
func (v *stickyRows[R]) move(d int) {
	v.list.move(d, len(v.shown))
	v.remember()
}

func (v *stickyRows[R]) filterText() string { return v.filter }

func (v *stickyRows[R]) setFilter(f string) {
	v.filter = f
	v.refilter()
}

// titled is a table's title: its name, row count and the filter's match.
func (v *stickyRows[R]) titled(name string) string {
	t := fmt.Sprintf("%s[%d]", name, len(v.rows))
	if v.filter != "" {
		t += fmt.Sprintf(" </%s> %d/%d", v.filter, len(v.shown), len(v.rows))
	}
	return t
}

package tui

import (
	"strings"

	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// listState is a cursor over n rows of which height show: only the window
// [top, top+height) is ever rendered, so a 10,000-row table costs what a
// 40-row one does.
type listState struct {
	cursor, top, height int
}

func (l *listState) clamp(n int) {
	if l.height < 1 {
		l.height = 1
	}
	l.cursor = min(max(l.cursor, 0), max(n-1, 0))
	l.top = min(l.top, l.cursor)
	l.top = max(l.top, l.cursor-l.height+1)
	l.top = max(0, min(l.top, n-l.height))
}

func (l *listState) move(d, n int) {
	l.cursor += d
	l.clamp(n)
}

func (l *listState) window(n int) (from, to int) {
	l.clamp(n)
	return l.top, min(l.top+l.height, n)
}

// column is one column of a table; flex columns share the width left.
type column struct {
	title string
	width int
	right bool
	flex  bool
	maxw  int // a flex column's widest (0: no limit)
}

// fit gives the flex columns the width the fixed ones leave (a cell gap
// of one space between columns), each up to its maxw; what is left then
// goes to the first column without a limit, else stays at the right.
func fit(cols []column, total int) []column {
	out := append([]column(nil), cols...)
	used, flex := len(out)-1, 0
	for _, c := range out {
		if c.flex {
			flex++
		}
		used += c.width
	}
	for flex > 0 && used < total {
		share := max((total-used)/flex, 1)
		grown := false
		for i := range out {
			c := &out[i]
			if !c.flex || c.maxw > 0 && c.width >= c.maxw || used >= total {
				continue
			}
			add := min(share, total-used)
			if c.maxw > 0 {
				add = min(add, c.maxw-c.width)
			}
			c.width += add
			used += add
			grown = grown || add > 0
		}
		if !grown {
			break
		}
	}
	return out
}

// renderRow lays safe cells out in the columns, padded to exactly width.
func renderRow(cols []column, cells []string, width int) string {
	var b strings.Builder
	b.Grow(width + 16)
	used := 0 // pad makes every cell exactly its column's width
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
			used++
		}
		v := ""
		if i < len(cells) {
			v = cells[i]
		}
		b.WriteString(pad(v, c.width, c.right))
		used += max(c.width, 0)
	}
	if used > width {
		return ansi.Truncate(b.String(), width, "")
	}
	b.WriteString(strings.Repeat(" ", width-used))
	return b.String()
}

// blank writes n empty lines (none if n < 1).
func blank(b *strings.Builder, n int) {
	for range max(n, 0) {
		b.WriteByte('\n')
	}
}

func header(cols []column, width int) string {
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = c.title
	}
	return renderRow(cols, cells, width)
}

// fuzzy reports whether the runes of needle (lower case) appear in order
// in hay (lower case): "alc" matches "alice". Text after a NUL in hay
// matches only as a substring: that is where a view puts its ids, which,
// long and random, would match almost any short name fuzzily.
func fuzzy(hay, needle string) bool {
	if needle == "" {
		return true
	}
	hay, exact, _ := strings.Cut(hay, "\x00")
	if exact != "" && strings.Contains(exact, needle) {
		return true
	}
	for _, r := range needle {
		i := strings.IndexRune(hay, r)
		if i < 0 {
			return false
		}
		hay = hay[i+utf8.RuneLen(r):]
	}
	return true
}

// filterIndex lists the rows whose search text matches the filter: every
// space-separated term of it, fuzzily — except a term that starts with !,
// which the row must not contain (as plain text: a fuzzy "not" would hide
// almost everything), so "!viewer" hides the audience and "ana !host"
// finds the Anas who are not hosts.
func filterIndex(n int, filter string, search func(int) string) []int {
	out := make([]int, 0, n)
	var want, not []string
	for _, t := range strings.Fields(strings.ToLower(filter)) {
		if rest, ok := strings.CutPrefix(t, "!"); ok {
			if rest != "" {
				not = append(not, rest)
			}
			continue
		}
		want = append(want, t)
	}
	if len(want) == 0 && len(not) == 0 {
		for i := range n {
			out = append(out, i)
		}
		return out
	}
next:
	for i := range n {
		hay := search(i)
		for _, t := range want {
			if !fuzzy(hay, t) {
				continue next
			}
		}
		for _, t := range not {
			if strings.Contains(strings.Replace(hay, "\x00", " ", 1), t) {
				continue next
			}
		}
		out = append(out, i)
	}
	return out
}

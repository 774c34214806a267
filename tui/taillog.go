package tui

import (
	"fmt"
	"slices"
)

// tailLog is a bounded log shown newest at the bottom, following new lines
// until the user moves up, with a filter over each line's search text. The
// events and audit views are both one; they differ in columns and rendering.
type tailLog[T any] struct {
	lines    *ring[T]
	shown    []int // with a filter: indexes into lines that match
	filter   string
	list     listState
	follow   bool
	upstream uint64         // lines the feed dropped before they reached the UI
	text     func(T) string // a line's lower-case search text
}

func newTailLog[T any](capacity int, text func(T) string) tailLog[T] {
	return tailLog[T]{lines: newRing[T](capacity), follow: true, text: text}
}

func (v *tailLog[T]) add(lines []T, upstreamDropped uint64) {
	if len(lines) == 0 && upstreamDropped == v.upstream {
		return
	}
	// Paused, the cursor stays on its line as the full log lets old lines
	// go (else it would drift a line forward with every new one): remember
	// the line by its position in everything ever pushed.
	held, at, cursor := false, uint64(0), v.list.cursor
	if !v.follow && v.count() > 0 {
		i := cursor
		if v.filter != "" {
			i = v.shown[i]
		}
		held, at = true, v.lines.dropped+uint64(i)
	}
	for _, l := range lines {
		v.lines.push(l)
	}
	v.upstream = upstreamDropped
	v.refilter()
	if held {
		pos := 0 // the line itself has gone: the oldest left
		if at >= v.lines.dropped {
			i := int(at - v.lines.dropped)
			pos = i
			if v.filter != "" {
				pos, _ = slices.BinarySearch(v.shown, i)
			}
		}
		v.list.top = max(v.list.top-(cursor-pos), 0)
		v.list.cursor = pos
		v.list.clamp(v.count())
	}
}

func (v *tailLog[T]) dropped() uint64 { return v.lines.dropped + v.upstream }

func (v *tailLog[T]) count() int {
	if v.filter == "" {
		return v.lines.len()
	}
	return len(v.shown)
}

func (v *tailLog[T]) line(i int) T {
	if v.filter == "" {
		return v.lines.at(i)
	}
	return v.lines.at(v.shown[i])
}

// move moves the cursor; the log follows again once it is on the newest
// line, and stops following when it leaves it.
func (v *tailLog[T]) move(d int) {
	v.list.move(d, v.count())
	v.follow = v.list.cursor >= v.count()-1
}

// toggleFollow is f: following jumps to the newest line at once, not at
// the next batch.
func (v *tailLog[T]) toggleFollow() {
	v.follow = !v.follow
	if v.follow {
		v.list.cursor = v.count() - 1
	}
}

func (v *tailLog[T]) filterText() string { return v.filter }

func (v *tailLog[T]) setFilter(f string) {
	v.filter = f
	v.refilter()
}

// current is the line under the cursor, if there are any.
func (v *tailLog[T]) current() (T, bool) {
	if v.count() == 0 {
		var zero T
		return zero, false
	}
	return v.line(v.list.cursor), true
}

func (v *tailLog[T]) refilter() {
	if v.filter == "" {
		v.shown = nil
	} else {
		v.shown = filterIndex(v.lines.len(), v.filter, func(i int) string { return v.text(v.lines.at(i)) })
	}
	if v.follow {
		v.list.cursor = v.count() - 1
	}
	v.list.clamp(v.count())
}

// titled is the view's title: name[lines], the filter and its matches,
// what was dropped, and whether it follows.
func (v *tailLog[T]) titled(name string) string {
	t := fmt.Sprintf("%s[%d]", name, v.lines.len())
	if v.filter != "" {
		t += fmt.Sprintf(" </%s> %d/%d", v.filter, len(v.shown), v.lines.len())
	}
	if d := v.dropped(); d > 0 {
		t += fmt.Sprintf(" dropped %d", d)
	}
	if v.follow {
		t += " following"
	}
	return t
}

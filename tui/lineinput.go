package tui

import (
	"strings"
	"unicode"

	"github.com/charmbracelet/x/ansi"
)

// lineInput is a one-line text editor for the forms. It stands in for
// bubbles' textinput, which imports github.com/atotto/clipboard, a module
// this one does not require: its readline keys are the same (ctrl+a/e/b/f,
// ctrl+u/k/w, alt+b/f), it has no clipboard key (a terminal paste arrives
// as tea.PasteMsg, which the form sanitises) and no blinking cursor (a
// timer the root would have to route; a reversed cell shows under
// NO_COLOR). Callers sanitise what they insert.
type lineInput struct {
	value   []rune
	pos     int // cursor, 0..len(value)
	offset  int // first rune shown when the value is wider than the field
	focused bool
}

func (in *lineInput) Value() string { return string(in.value) }

// SetValue replaces the value and puts the cursor at its end.
func (in *lineInput) SetValue(s string) {
	in.value = []rune(s)
	in.pos, in.offset = len(in.value), 0
}

// insert puts s at the cursor.
func (in *lineInput) insert(s string) {
	rs := []rune(s)
	v := make([]rune, 0, len(in.value)+len(rs))
	v = append(append(append(v, in.value[:in.pos]...), rs...), in.value[in.pos:]...)
	in.value = v
	in.pos += len(rs)
}

// deleteRange removes runes [from, to).
func (in *lineInput) deleteRange(from, to int) {
	in.value = append(in.value[:from:from], in.value[to:]...)
	in.pos = from
}

// wordLeft and wordRight are where alt+b and alt+f go: the start of the
// word before the cursor, the end of the word after it.
func (in *lineInput) wordLeft() int {
	i := in.pos
	for i > 0 && unicode.IsSpace(in.value[i-1]) {
		i--
	}
	for i > 0 && !unicode.IsSpace(in.value[i-1]) {
		i--
	}
	return i
}

func (in *lineInput) wordRight() int {
	i := in.pos
	for i < len(in.value) && unicode.IsSpace(in.value[i]) {
		i++
	}
	for i < len(in.value) && !unicode.IsSpace(in.value[i]) {
		i++
	}
	return i
}

// key edits the value; text is the key's text, already sanitised.
func (in *lineInput) key(k string, text string) {
	switch k {
	case "left", "ctrl+b":
		in.pos = max(in.pos-1, 0)
	case "right", "ctrl+f":
		in.pos = min(in.pos+1, len(in.value))
	case "home", "ctrl+a":
		in.pos = 0
	case "end", "ctrl+e":
		in.pos = len(in.value)
	case "alt+left", "ctrl+left", "alt+b":
		in.pos = in.wordLeft()
	case "alt+right", "ctrl+right", "alt+f":
		in.pos = in.wordRight()
	case "backspace", "ctrl+h":
		if in.pos > 0 {
			in.deleteRange(in.pos-1, in.pos)
		}
	case "delete", "ctrl+d":
		if in.pos < len(in.value) {
			in.deleteRange(in.pos, in.pos+1)
		}
	case "ctrl+u":
		in.deleteRange(0, in.pos)
	case "ctrl+k":
		in.deleteRange(in.pos, len(in.value))
	case "ctrl+w", "alt+backspace", "ctrl+backspace":
		in.deleteRange(in.wordLeft(), in.pos)
	case "alt+d", "alt+delete", "ctrl+delete":
		in.deleteRange(in.pos, in.wordRight())
	default:
		if text != "" {
			in.insert(text)
		}
	}
}

// View shows the value in w cells, scrolled so the cursor is in sight,
// the cursor's cell painted with cur while focused. The result is at most
// w cells wide. It keeps the scroll offset it chose, so the window does
// not jump while the cursor moves inside it.
func (in *lineInput) View(w int, cur Paint) string {
	if w < 2 {
		return ""
	}
	room := w - 1 // the cursor may sit after the last character
	// Scroll: keep offset ≤ pos, and the runes from offset to the cursor
	// within the room.
	in.offset = min(in.offset, in.pos)
	for in.offset < in.pos && runesWidth(in.value[in.offset:in.pos]) > room {
		in.offset++
	}
	var b strings.Builder
	used := 0
	for i := in.offset; i <= len(in.value); i++ {
		ch := " "
		if i < len(in.value) {
			ch = string(in.value[i])
		}
		cw := max(ansi.StringWidth(ch), 1)
		if used+cw > w || (i == len(in.value) && i != in.pos) {
			break
		}
		if i == in.pos && in.focused {
			b.WriteString(cur.Render(ch))
		} else {
			b.WriteString(ch)
		}
		used += cw
	}
	return b.String()
}

func runesWidth(rs []rune) int { return ansi.StringWidth(string(rs)) }

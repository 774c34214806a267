package tui

import (
	"fmt"
	"strings"
	"unicode/utf8"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// formOutcome is what a key did to a form.
type formOutcome int

const (
	// formEditing: the form stays open.
	formEditing formOutcome = iota
	// formSubmitted: the moderator asked to send. The form stays usable:
	// the caller validates Values and, if they are refused, calls Reject
	// (or SetError) and keeps the form open.
	formSubmitted
	// formCancelled: esc; nothing is to be sent.
	formCancelled
)

// Box sizes: the form is a modal, so it never grows past 80 columns (a
// wider box only spreads the labels from their values), and below 40 the
// console shows "terminal too small" instead.
const (
	formMaxWidth = 80
	formMinWidth = 40
	// formNarrowValue: with a value column narrower than this, hints wrap
	// over several lines each, so only the focused field's is shown and
	// the box stays short enough for a small terminal.
	formNarrowValue = 40
)

// formField describes one field of a form.
type formField struct {
	Label, Hint string
	// Choices makes a choice field, cycled with left/right/space; Value is
	// then the default choice (the first when Value is not among them). A
	// choice "" is shown as "default": the service's own, not sent.
	Choices []string
	// Value is a text field's initial text (a choice field's default, above).
	Value string
	// MaxBytes and MaxChars bound a text field (0: no bound). An edit that
	// would go past them is refused whole, with an error, never cut short:
	// a signal or connection data cut silently would be sent as something
	// the moderator did not write.
	MaxBytes, MaxChars int
}

// formEntry is a field and its state: the line editor of a text field,
// the selected index of a choice field.
type formEntry struct {
	formField
	input  lineInput
	choice int
}

func (e *formEntry) isChoice() bool { return len(e.Choices) > 0 }

func (e *formEntry) value() string {
	if e.isChoice() {
		return e.Choices[e.choice]
	}
	return e.input.Value()
}

// overLimit says which bound v breaks and how far v goes in that bound's
// unit ("at most 128 bytes", 130); rule is "" when none.
func (e *formEntry) overLimit(v string) (rule string, got int) {
	if e.MaxBytes > 0 && len(v) > e.MaxBytes {
		return fmt.Sprintf("at most %d bytes", e.MaxBytes), len(v)
	}
	if n := utf8.RuneCountInString(v); e.MaxChars > 0 && n > e.MaxChars {
		return fmt.Sprintf("at most %d characters", e.MaxChars), n
	}
	return "", 0
}

// counter is how much of the bound a text field uses, for its hint.
func (e *formEntry) counter() string {
	v := e.input.Value()
	switch {
	case e.MaxBytes > 0:
		return fmt.Sprintf("%d/%d bytes", len(v), e.MaxBytes)
	case e.MaxChars > 0:
		return fmt.Sprintf("%d/%d characters", utf8.RuneCountInString(v), e.MaxChars)
	}
	return ""
}

// form is a small modal form: text and choice fields, one focused; the
// root model routes keys and pastes to it while it is open.
type form struct {
	title   string
	entries []formEntry
	focus   int
	err     string
}

// newForm builds a form with the first field focused.
func newForm(title string, fields ...formField) *form {
	f := &form{title: title, entries: make([]formEntry, len(fields))}
	for i, fd := range fields {
		e := &f.entries[i]
		e.formField = fd
		if e.isChoice() {
			for j, c := range fd.Choices {
				if c == fd.Value {
					e.choice = j
				}
			}
			continue
		}
		e.input.SetValue(Sanitize(fd.Value))
	}
	f.focusField(0)
	return f
}

func (f *form) focusField(i int) {
	f.entries[f.focus].input.focused = false
	f.focus = i
	f.entries[i].input.focused = true
}

func (f *form) last() bool { return f.focus == len(f.entries)-1 }

// Update handles one message while the form is open. Keys: tab/down and
// shift+tab/up move between fields (tab wraps round, the arrows stop at the
// ends), enter moves on and submits from the last field, ctrl+s submits
// from anywhere, esc cancels; left/right/space cycle a choice; the rest
// edits the focused text field. It returns no command today (nothing in a
// form is asynchronous); the tea.Cmd keeps the usual shape for the root.
func (f *form) Update(msg tea.Msg) (formOutcome, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.KeyPressMsg:
		return f.key(msg)
	case tea.PasteMsg:
		f.paste(msg.Content)
	}
	return formEditing, nil
}

func (f *form) key(msg tea.KeyPressMsg) (formOutcome, tea.Cmd) {
	n := len(f.entries)
	e := &f.entries[f.focus]
	switch msg.String() {
	case "esc":
		return formCancelled, nil
	case "ctrl+s":
		return formSubmitted, nil
	case "enter":
		if f.last() {
			return formSubmitted, nil
		}
		f.focusField(f.focus + 1)
		return formEditing, nil
	case "tab":
		f.focusField((f.focus + 1) % n)
		return formEditing, nil
	case "shift+tab":
		f.focusField((f.focus + n - 1) % n)
		return formEditing, nil
	case "down":
		f.focusField(min(f.focus+1, n-1))
		return formEditing, nil
	case "up":
		f.focusField(max(f.focus-1, 0))
		return formEditing, nil
	}
	if e.isChoice() {
		switch msg.String() {
		case "right", "space":
			e.choice = (e.choice + 1) % len(e.Choices)
			f.err = ""
		case "left":
			e.choice = (e.choice + len(e.Choices) - 1) % len(e.Choices)
			f.err = ""
		}
		return formEditing, nil
	}
	// Typed text is untrusted too: a terminal can deliver escape
	// sequences or control characters as a key's text.
	before := e.input.Value()
	saved := e.input // edits build new slices, so this copy stays intact
	e.input.key(msg.String(), Sanitize(msg.Text))
	after := e.input.Value()
	if after == before {
		return formEditing, nil
	}
	if rule, _ := e.overLimit(after); rule != "" && len(after) > len(before) {
		e.input = saved
		f.err = e.Label + ": " + rule
		return formEditing, nil
	}
	f.err = ""
	return formEditing, nil
}

// paste inserts a terminal paste into the focused text field, sanitised;
// a paste that would take the field past its bound is refused whole.
func (f *form) paste(content string) {
	e := &f.entries[f.focus]
	if e.isChoice() {
		return
	}
	clean := Sanitize(content)
	if clean == "" {
		return
	}
	if rule, got := e.overLimit(e.input.Value() + clean); rule != "" {
		f.err = fmt.Sprintf("%s: %s; nothing was pasted (it would make %d)", e.Label, rule, got)
		return
	}
	e.input.insert(clean)
	f.err = ""
}

// Values are the fields' values, in the order they were given.
func (f *form) Values() []string {
	vs := make([]string, len(f.entries))
	for i := range f.entries {
		vs[i] = f.entries[i].value()
	}
	return vs
}

// SetError shows msg under the fields ("" clears it). The message names the
// field, as the params functions' errors do ("ttl: at most 30 days …").
func (f *form) SetError(msg string) { f.err = msg }

// Reject shows why the values were refused and, when the error names one
// of the form's fields (a *fieldError), moves the focus there.
func (f *form) Reject(err error) {
	if err == nil {
		f.SetError("")
		return
	}
	if fe, ok := err.(*fieldError); ok && fe.Field >= 0 && fe.Field < len(f.entries) {
		f.focusField(fe.Field)
	}
	f.SetError(err.Error())
}

// fieldError is a value refused before sending: the field, by its index
// in the form and its label, and the rule it broke.
type fieldError struct {
	Field       int
	Label, Rule string
}

func (e *fieldError) Error() string { return e.Label + ": " + e.Rule }

// View renders the form as a bordered box min(width, 80) columns wide
// (never under 40): the title, each field with its hint (in a narrow box,
// only the focused field's), the error, and the keys. The focused field is marked with "›" and a bold label, so it
// shows without colour.
func (f *form) View(width int, st *Styles) string {
	w := min(max(width, formMinWidth), formMaxWidth)
	inner := w - 4 // border and one column of padding on each side
	labelW := 0
	for i := range f.entries {
		labelW = max(labelW, ansi.StringWidth(f.entries[i].Label))
	}
	indent := 2 + labelW + 2 // "› " + label + gap
	valueW := inner - indent
	pad := strings.Repeat(" ", indent)

	lines := []string{st.Title.Render(Clip(f.title, inner)), ""}
	for i := range f.entries {
		e := &f.entries[i]
		focused := i == f.focus
		mark, label := "  ", Clip(e.Label, labelW)
		label += strings.Repeat(" ", labelW-ansi.StringWidth(label))
		if focused {
			mark, label = st.Prompt.Render("› "), st.Prompt.Render(label)
		}
		var values []string
		if e.isChoice() {
			values = choiceLines(e, focused, valueW, st)
		} else {
			values = []string{e.input.View(valueW, st.Selected)}
		}
		for j, v := range values {
			if j == 0 {
				lines = append(lines, mark+label+"  "+v)
			} else {
				lines = append(lines, pad+v)
			}
		}
		if !focused && valueW < formNarrowValue {
			continue
		}
		hint := e.Hint
		if c := e.counter(); !e.isChoice() && c != "" {
			hint = strings.TrimSpace(hint + " (" + c + ")")
		}
		for _, h := range wrapLines(hint, valueW) {
			lines = append(lines, pad+st.Muted.Render(h))
		}
	}
	if f.err != "" {
		lines = append(lines, "")
		for _, l := range wrapLines("✗ "+Sanitize(f.err), inner) {
			lines = append(lines, st.Error.Render(l))
		}
	}
	lines = append(lines, "", st.Muted.Render(f.keyHints(inner)))
	box := lipgloss.NewStyle().Border(lipgloss.RoundedBorder()).Padding(0, 1).Width(w)
	return box.Render(strings.Join(lines, "\n"))
}

// choiceLines lays the choices out in the value column, wrapped, the
// selected one in brackets (and reversed while focused): every choice is
// in sight without cycling through them.
func choiceLines(e *formEntry, focused bool, w int, st *Styles) []string {
	var lines []string
	var cur strings.Builder
	curW := 0
	for j, c := range e.Choices {
		text := c
		if text == "" {
			text = "default"
		}
		var tw int
		if j == e.choice {
			text = "[" + Clip(text, w-2) + "]"
			tw = ansi.StringWidth(text)
			if focused {
				text = st.Selected.Render(text)
			}
		} else {
			text = Clip(text, w)
			tw = ansi.StringWidth(text)
		}
		if curW > 0 && curW+1+tw > w {
			lines = append(lines, cur.String())
			cur.Reset()
			curW = 0
		}
		if curW > 0 {
			cur.WriteByte(' ')
			curW++
		}
		cur.WriteString(text)
		curW += tw
	}
	return append(lines, cur.String())
}

// wrapLines word-wraps plain text to w cells (a word longer than a line
// is broken).
func wrapLines(s string, w int) []string {
	if s == "" || w <= 0 {
		return nil
	}
	return strings.Split(ansi.Wrap(s, w, " "), "\n")
}

// keyHints is the form's key line, for the focused field: what does not
// fit is left out, least useful first, never cut mid-word.
func (f *form) keyHints(w int) string {
	type hint struct {
		text string
		rank int // lower is kept longer
	}
	var hs []hint
	if f.entries[f.focus].isChoice() {
		hs = append(hs, hint{"←/→ choose", 3})
	}
	if f.last() {
		hs = append(hs, hint{"enter send", 0})
		if len(f.entries) > 1 {
			hs = append(hs, hint{"tab next field", 4})
		}
	} else {
		hs = append(hs, hint{"enter next field", 0}, hint{"ctrl+s send", 2})
	}
	hs = append(hs, hint{"esc cancel", 1})
	for {
		texts := make([]string, len(hs))
		for i, h := range hs {
			texts[i] = h.text
		}
		line := strings.Join(texts, " · ")
		if ansi.StringWidth(line) <= w || len(hs) == 1 {
			return ansi.Truncate(line, w, "…")
		}
		drop := 0
		for i, h := range hs {
			if h.rank > hs[drop].rank {
				drop = i
			}
		}
		hs = append(hs[:drop], hs[drop+1:]...)
	}
}

package tui

import (
	"slices"
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// An overlay is something open over the view: the help, the filter or
// command prompt, a value to copy, a form, a question. Several can be open
// at once (a question about an unpublish that timed out, over the help; a
// minted token that arrived while another form was being filled in), and
// one order decides between them everywhere: the highest-ranked open
// overlay gets the keys, and the body and the footer come from the
// highest that draws one. So nothing is hidden behind something that
// takes its keys: a token that arrives over the help is on screen, and
// the esc that closes it closes only it.
type overlay interface {
	rank() overlayRank
	// key handles a key press while the overlay is on top.
	key(m Model, msg tea.KeyPressMsg) (tea.Model, tea.Cmd)
	// body draws exactly height lines in place of the view's body, or
	// reports false to leave the body to what is beneath.
	body(m *Model, width, height int, b *strings.Builder) bool
	// footer is the footer line, or "" to leave it to what is beneath.
	footer(m *Model) string
}

// overlayRank orders overlays, lowest first.
type overlayRank int

const (
	// rankHelp is lowest: whatever opens while it is up goes over it.
	rankHelp overlayRank = iota
	rankPrompt
	// rankShown is above the prompt and the help, which may be open when
	// the token it shows arrives, and below a form, whose typing it must
	// not take: it waits under the form and shows when the form closes.
	rankShown
	rankForm
	// rankAsk is highest: a question is answered before anything else.
	rankAsk
)

// overlays are the open overlays, lowest rank first, one of each rank.
// The slice is replaced, never changed in place: Model is a value that
// Bubble Tea copies, and copies must not share an array that changes.
type overlays []overlay

// top is the overlay that gets the keys, or nil.
func (o overlays) top() overlay {
	if len(o) == 0 {
		return nil
	}
	return o[len(o)-1]
}

// open adds x, replacing an open overlay of its rank.
func (o *overlays) open(x overlay) {
	next := slices.DeleteFunc(slices.Clone(*o), func(y overlay) bool { return y.rank() == x.rank() })
	i, _ := slices.BinarySearchFunc(next, x.rank(), func(y overlay, r overlayRank) int { return int(y.rank() - r) })
	*o = slices.Insert(next, i, x)
}

// close removes the overlay of rank r, if open.
func (o *overlays) close(r overlayRank) {
	*o = slices.DeleteFunc(slices.Clone(*o), func(y overlay) bool { return y.rank() == r })
}

// busy is true while the moderator is answering or typing into
// something: an overlay other than the help is open.
func (o overlays) busy() bool { return len(o) > 0 && o.top().rank() != rankHelp }

func overlayOf[T overlay](o overlays) T {
	for _, x := range o {
		if t, ok := x.(T); ok {
			return t
		}
	}
	var zero T
	return zero
}

func (o overlays) ask() *ask       { return overlayOf[*ask](o) }
func (o overlays) form() *openForm { return overlayOf[*openForm](o) }

// body draws the highest overlay's body that has one; false: none has.
func (o overlays) body(m *Model, width, height int, b *strings.Builder) bool {
	for i := len(o) - 1; i >= 0; i-- {
		if o[i].body(m, width, height, b) {
			return true
		}
	}
	return false
}

// footer is the highest overlay's footer line, or "".
func (o overlays) footer(m *Model) string {
	for i := len(o) - 1; i >= 0; i-- {
		if s := o[i].footer(m); s != "" {
			return s
		}
	}
	return ""
}

// writeLines writes lines into exactly height lines.
func writeLines(b *strings.Builder, lines []string, height int) {
	for i := range height {
		if i < len(lines) {
			b.WriteString(lines[i])
		}
		b.WriteByte('\n')
	}
}

// ---- the overlays ----

func (*ask) rank() overlayRank                                     { return rankAsk }
func (*ask) key(m Model, msg tea.KeyPressMsg) (tea.Model, tea.Cmd) { return m.askKey(msg) }
func (*ask) body(*Model, int, int, *strings.Builder) bool          { return false }
func (a *ask) footer(m *Model) string                              { return m.styles.Confirm.Render(Clip(a.line(), m.width)) }
func (*openForm) rank() overlayRank                                { return rankForm }
func (*openForm) key(m Model, msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	return m.formKey(msg)
}
func (f *openForm) body(m *Model, width, height int, b *strings.Builder) bool {
	writeLines(b, strings.Split(f.f.View(width, m.styles), "\n"), height)
	return true
}
func (*openForm) footer(*Model) string { return "" }

// shown is a value put on screen whole for the moderator to copy (a
// client token), for terminals that drop OSC 52.
type shown struct {
	title, value string
}

func (*shown) rank() overlayRank { return rankShown }

func (*shown) key(m Model, msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch msg.String() {
	case "esc", "enter", "q":
		m.overlay.close(rankShown)
	}
	return m, nil
}

func (s *shown) body(m *Model, width, height int, b *strings.Builder) bool {
	lines := []string{m.styles.Title.Render(Clip(s.title, width)), ""}
	v := Sanitize(s.value)
	for len(v) > 0 {
		cut := ansi.Truncate(v, width, "")
		if cut == "" {
			break
		}
		lines = append(lines, cut)
		v = v[len(cut):]
	}
	lines = append(lines, "", m.styles.Muted.Render("esc or enter to close"))
	writeLines(b, lines, height)
	return true
}

func (*shown) footer(*Model) string { return "" }

// helpScreen is the full help: every key of the view, and how the
// figures are counted.
type helpScreen struct{}

func (*helpScreen) rank() overlayRank { return rankHelp }

func (*helpScreen) key(m Model, msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	m.flash = ""
	switch k := m.keys; {
	case k.Quit.Matches(msg):
		m.quitting = true
		return m, tea.Quit
	case k.Help.Matches(msg) || k.Back.Matches(msg):
		m.overlay.close(rankHelp)
	}
	return m, nil
}

func (*helpScreen) body(m *Model, width, height int, b *strings.Builder) bool {
	m.help.ShowAll = true
	// Two rows of columns: at 80 wide, five columns side by side
	// would push the last ones off the screen.
	groups := m.helpKeys().FullHelp()
	split := min(3, len(groups))
	h := m.help.FullHelpView(groups[:split])
	if split < len(groups) {
		h += "\n\n" + m.help.FullHelpView(groups[split:])
	}
	m.help.ShowAll = false
	lines := []string{"Keys (? or esc to close)"}
	lines = append(lines, strings.Split(h, "\n")...)
	lines = append(append(lines, ""), countingLegend...)
	for i := range lines[1:] {
		lines[i+1] = ansi.Truncate(lines[i+1], width, "…")
	}
	writeLines(b, lines, height)
	return true
}

func (*helpScreen) footer(*Model) string { return "" }

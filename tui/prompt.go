package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// promptLine is the filter (/) or command (:) line being typed in the
// footer. The filter applies as it is typed; enter keeps it, esc clears
// it. A command runs on enter.
type promptLine struct {
	filter bool // the filter; else the command line
	text   string
}

func (*promptLine) rank() overlayRank                            { return rankPrompt }
func (*promptLine) body(*Model, int, int, *strings.Builder) bool { return false }

func (p *promptLine) footer(m *Model) string {
	if p.filter {
		line := Clip("/"+p.text+"▏", m.width)
		hint := "  letters in order match · !word hides · enter keeps · esc clears"
		if room := m.width - ansi.StringWidth(line); room > 10 {
			return m.styles.Prompt.Render(line) + m.styles.Muted.Render(Clip(hint, room))
		}
		return m.styles.Prompt.Render(line)
	}
	// The list of views gets what the prompt leaves: it outgrew 40 columns.
	line := Clip(":"+p.text+"▏", m.width)
	return m.styles.Prompt.Render(line) + m.styles.Muted.Render(Clip("  "+strings.Join(viewNames(), " · "), m.width-ansi.StringWidth(line)))
}

func (p *promptLine) key(m Model, msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	m.flash = ""
	text := p.text
	switch msg.String() {
	case "esc":
		if p.filter {
			m.top().setFilter("")
		}
		m.overlay.close(rankPrompt)
		return m, nil
	case "enter":
		m.overlay.close(rankPrompt)
		if !p.filter {
			return m.command(text)
		}
		return m, nil
	case "backspace":
		if r := []rune(text); len(r) > 0 {
			text = string(r[:len(r)-1])
		}
	case "ctrl+u":
		text = ""
	case "space":
		text += " "
	default:
		if msg.Text == "" || len([]rune(text)) >= 64 {
			return m, nil
		}
		text += Sanitize(msg.Text)
	}
	// A new line, not p changed: an older copy of the Model keeps its own.
	m.overlay.open(&promptLine{filter: p.filter, text: text})
	if p.filter {
		m.top().setFilter(text)
	}
	return m, nil
}

func (m Model) command(text string) (tea.Model, tea.Cmd) {
	cmd := strings.ToLower(strings.TrimSpace(text))
	switch cmd {
	case "":
		return m, nil
	case "q", "quit", "q!":
		m.quitting = true
		return m, tea.Quit
	case "live":
		if !m.replaying() {
			m.flash = "already live"
			return m, nil
		}
		m.leaveReplay()
		return m, nil
	}
	if strings.HasPrefix(cmd, "at ") {
		// The moment as typed: RFC 3339 wants its T and Z upper-case.
		return m, m.replayAt(strings.TrimSpace(strings.TrimSpace(text)[len("at "):]))
	}
	if v, ok := lookupView(cmd); ok {
		m.stack = []viewKind{v.kind}
		return m, nil
	}
	m.flash = "unknown view :" + cmd + " — try :" + strings.Join(viewNames(), " :")
	return m, nil
}

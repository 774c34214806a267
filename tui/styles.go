package tui

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"
)

// Theme is the console's colours by meaning, as light/dark pairs.
// Components never name a colour; they use Styles.
type Theme struct {
	Accent, Muted, OK, Warn, Bad, Demo color.Color
}

// NewTheme picks the pair for the terminal's background.
func NewTheme(isDark bool) Theme {
	ld := lipgloss.LightDark(isDark)
	return Theme{
		Accent: ld(lipgloss.Color("#005f87"), lipgloss.Color("#87d7ff")),
		Muted:  ld(lipgloss.Color("#6c6c6c"), lipgloss.Color("#8a8a8a")),
		OK:     ld(lipgloss.Color("#005f00"), lipgloss.Color("#5fd75f")),
		Warn:   ld(lipgloss.Color("#875f00"), lipgloss.Color("#ffd75f")),
		Bad:    ld(lipgloss.Color("#af0000"), lipgloss.Color("#ff5f5f")),
		Demo:   ld(lipgloss.Color("#5f00af"), lipgloss.Color("#d7afff")),
	}
}

// ThemeMode chooses the palette: auto follows the background the terminal
// reports; dark and light hold whatever it reports (a terminal that
// answers wrongly, or not at all, over SSH or tmux).
type ThemeMode string

// The theme modes; the zero value is auto.
const (
	ThemeAuto  ThemeMode = "auto"
	ThemeDark  ThemeMode = "dark"
	ThemeLight ThemeMode = "light"
)

// ParseThemeMode reads a config value or flag; "" is auto. The error says
// what is allowed; the caller names the key or flag.
func ParseThemeMode(s string) (ThemeMode, error) {
	switch m := ThemeMode(s); m {
	case "", ThemeAuto:
		return ThemeAuto, nil
	case ThemeDark, ThemeLight:
		return m, nil
	}
	return "", fmt.Errorf("expected auto, dark or light, got %q", s)
}

// auto: the terminal's report decides.
func (t ThemeMode) auto() bool { return t == "" || t == ThemeAuto }

// Paint is a style for one line of plain text, reduced to the escape
// sequences around it: Lip Gloss's Render measures and splits the text
// every time, which is most of a frame's cost; this is a concatenation.
type Paint struct{ pre, post string }

func paint(st lipgloss.Style) Paint {
	r := st.Render("X")
	i := strings.IndexByte(r, 'X')
	if i < 0 {
		return Paint{}
	}
	return Paint{pre: r[:i], post: r[i+1:]}
}

// Render wraps one line of text (no newline, no escape sequences of its
// own) in the style.
func (p Paint) Render(s string) string {
	if p.pre == "" {
		return s
	}
	return p.pre + s + p.post
}

// write is Render straight into b: a line that goes into a frame as it
// is needs no string of its own (a table's header, once per table per
// frame).
func (p Paint) write(b *strings.Builder, s string) {
	b.WriteString(p.pre)
	b.WriteString(s)
	b.WriteString(p.post)
}

// Styles is every style the views use, built once per theme. Whatever
// must stay visible under NO_COLOR (the ASCII profile drops colours but
// keeps bold, reverse, underline) carries one of those attributes too:
// the selected row is reversed, badges are bold or reversed.
type Styles struct {
	Title, Crumbs, Muted, Dim          Paint
	TableHeader, Selected, SelectedDim Paint
	Live, Reconnecting, Stale, Demo    Paint
	Recording, Broadcasting, Ended     Paint
	Prompt, Flash, Error, Warning      Paint
	Confirm                            Paint // an open (y/N) question
	Help                               help.Styles
}

// NewStyles builds the styles of a theme.
func NewStyles(isDark bool) Styles {
	t := NewTheme(isDark)
	s := func() lipgloss.Style { return lipgloss.NewStyle() }
	return Styles{
		Title:        paint(s().Bold(true).Foreground(t.Accent)),
		Crumbs:       paint(s().Foreground(t.Muted)),
		Muted:        paint(s().Foreground(t.Muted)),
		Dim:          paint(s().Faint(true)),
		TableHeader:  paint(s().Bold(true).Underline(true)),
		Selected:     paint(s().Reverse(true).Bold(true).Foreground(t.Accent)),
		SelectedDim:  paint(s().Reverse(true).Faint(true)),
		Live:         paint(s().Bold(true).Foreground(t.OK)),
		Reconnecting: paint(s().Bold(true).Reverse(true).Foreground(t.Warn)),
		Stale:        paint(s().Bold(true).Reverse(true).Foreground(t.Bad)),
		Demo:         paint(s().Bold(true).Reverse(true).Foreground(t.Demo)),
		Recording:    paint(s().Bold(true).Foreground(t.Bad)),
		Broadcasting: paint(s().Bold(true).Foreground(t.Warn)),
		Ended:        paint(s().Faint(true)),
		Prompt:       paint(s().Bold(true)),
		Flash:        paint(s().Foreground(t.Warn)),
		Error:        paint(s().Bold(true).Foreground(t.Bad)),
		Warning:      paint(s().Bold(true).Foreground(t.Warn)),
		Confirm:      paint(s().Bold(true).Reverse(true).Foreground(t.Warn)),
		Help:         help.DefaultStyles(isDark),
	}
}

package tui

import (
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/gavelhq/gavel/events/relayclient"
)

// The screen's frame around the view: the header (title, badges, the
// link), the breadcrumbs, and the footer (an overlay's line, a flash, a
// moderation notice, or the key hints).

// LinkBadge is the header's word for the relay link.
func LinkBadge(s relayclient.Status, now time.Time) string {
	switch s.State {
	case relayclient.Live:
		return "● LIVE"
	case relayclient.Connecting:
		if s.Attempt > 0 {
			return fmt.Sprintf("CONNECTING (attempt %d)", s.Attempt)
		}
		return "CONNECTING"
	case relayclient.Reconnecting:
		return fmt.Sprintf("RECONNECTING (attempt %d)", max(s.Attempt, 1))
	case relayclient.Stale:
		return "STALE for " + compactDuration(now.Sub(s.Since).Truncate(time.Second))
	}
	return s.State.String()
}

func (m *Model) linkBadge() string {
	if !m.hasLink {
		return m.styles.Muted.Render("no relay")
	}
	text := LinkBadge(m.link, m.now)
	switch m.link.State {
	case relayclient.Live:
		return m.styles.Live.Render(text)
	case relayclient.Stale:
		return m.styles.Stale.Render(" " + text + " ")
	}
	return m.styles.Reconnecting.Render(" " + text + " ")
}

func (m *Model) headerLine() string {
	left := m.styles.Title.Render("gavel")
	right := m.linkBadge()
	if b := m.replayBadge(); b != "" {
		right = b + " " + right
	}
	if m.watchOnly() {
		word := "READ-ONLY"
		if !m.opts.ReadOnly {
			word = "VIEWER"
		}
		right = m.styles.Warning.Render("🔒 "+word) + " " + right
	}
	if m.opts.Demo {
		right = m.styles.Demo.Render(" DEMO ") + " " + right
	}
	// Who is on, before the title: a moderator should know who else acts.
	if on := m.onLine(m.width - lipgloss.Width(left) - lipgloss.Width(right) - 20); on != "" {
		right = m.styles.Muted.Render(on) + "  " + right
	}
	if m.opts.Title != "" {
		// The title gets what the badges leave (it may be a URL to copy).
		room := m.width - lipgloss.Width(left) - lipgloss.Width(right) - 2
		left += " " + m.styles.Muted.Render(Clip(m.opts.Title, max(room, 8)))
	}
	gap := m.width - lipgloss.Width(left) - lipgloss.Width(right)
	if gap < 1 {
		return ansi.Truncate(left+" "+right, m.width, "")
	}
	return left + strings.Repeat(" ", gap) + right
}

func (m *Model) crumbs() string {
	parts := make([]string, 0, len(m.stack))
	for _, v := range m.stack {
		switch v {
		case viewSession:
			label := shortID(m.session.id, 16)
			if l := sessionLabel(&m.session.s, m.names); l != "" {
				label += " (" + l + ")"
			}
			parts = append(parts, label)
		default:
			parts = append(parts, v.String())
		}
	}
	left := m.styles.Crumbs.Render(Clip(strings.Join(parts, " › "), m.width))
	if !m.hasLink || m.link.Err == nil || m.link.State == relayclient.Live {
		return left
	}
	// Why the link is down, at the right, in what room is left.
	room := m.width - lipgloss.Width(left) - 2
	if room < 12 {
		return left
	}
	why := Clip("relay: "+m.link.Err.Error(), room)
	return left + strings.Repeat(" ", m.width-lipgloss.Width(left)-ansi.StringWidth(why)) + m.styles.Error.Render(why)
}

func (m *Model) footer() string {
	if s := m.overlay.footer(m); s != "" {
		return s
	}
	if m.flash != "" {
		return m.styles.Flash.Render(Clip(m.flash, m.width))
	}
	if text, kind := m.notice(); text != "" {
		st := m.styles.Flash
		switch kind {
		case noticeDone:
			st = m.styles.Live
		case noticeFailed:
			st = m.styles.Error
		case noticePending:
			st = m.styles.Prompt
		}
		return st.Render(Clip(text, m.width))
	}
	return m.shortHelp()
}

// shortHelp is the footer of hints, rendered once per view, width and
// set of enabled keys.
func (m *Model) shortHelp() string {
	h := m.helpKeys()
	var k strings.Builder
	fmt.Fprintf(&k, "%d/%v/%d/%v/", h.kind, h.root, m.width, m.isDark)
	for _, a := range m.keys.Actions() {
		if a.Enabled() {
			k.WriteByte('1')
		} else {
			k.WriteByte('0')
		}
	}
	if s, ok := m.footers.m[k.String()]; ok {
		return s
	}
	s := ansi.Truncate(m.help.ShortHelpView(h.ShortHelp()), m.width, "…")
	if m.footers.m == nil || len(m.footers.m) > 64 {
		m.footers.m = map[string]string{}
	}
	m.footers.m[k.String()] = s
	return s
}

func (m *Model) helpKeys() viewHelp {
	return viewHelp{km: m.keys, kind: m.current(), root: len(m.stack) == 1}
}

// countingLegend says how the figures are derived: none is reported by
// the service as such.
var countingLegend = []string{
	"How figures are counted (from the callbacks; Vonage reports none of them):",
	"  publishers  connections with at least one live stream",
	"  viewers     connections that publish nothing (the audience)",
	"  streams     camera + screen + custom + audio-only",
	"  ●REC        an archive is started or paused; BCST a broadcast is live",
	"  muted       force-muted by a moderator (no callback says if it unmuted since)",
}

package tui

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
	"github.com/gavelhq/gavel/events"
)

// Sanitize makes untrusted text (participant names, connection data, stream
// names) safe to put in a cell: escape sequences are removed, then every
// control character (C0, C1, DEL) and bidi override, and line breaks and
// tabs become spaces; invalid UTF-8 becomes U+FFFD. ansi.Strip alone keeps
// C0 controls such as BEL, CR and BS.
func Sanitize(s string) string {
	if isPlain(s) {
		return s
	}
	s = ansi.Strip(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case unicode.IsControl(r), unicode.Is(unicode.Bidi_Control, r), r == utf8.RuneError:
			if r == utf8.RuneError {
				b.WriteRune(utf8.RuneError)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isPlain reports whether s is printable ASCII, the common case, which
// needs no work.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// Clip sanitizes s and truncates it to w cells, wide characters counted
// as two, with an ellipsis when it is cut.
func Clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	return ansi.Truncate(Sanitize(s), w, "…")
}

// pad truncates s (already safe) to exactly w cells, padding with spaces
// on the right, or on the left when right is set.
func pad(s string, w int, right bool) string {
	if w <= 0 {
		return ""
	}
	var n int
	if isPlain(s) { // the common case: one byte, one cell
		if len(s) > w {
			s = s[:w-1] + "…"
		}
		n = len(s)
		if n > w { // "…" is three bytes, one cell
			n = w
		}
	} else {
		s = ansi.Truncate(s, w, "…")
		n = ansi.StringWidth(s)
	}
	if n >= w {
		return s
	}
	if right {
		return strings.Repeat(" ", w-n) + s
	}
	return s + strings.Repeat(" ", w-n)
}

// DisplayName is the name a connection's data gives, sanitized: its
// "name" (or "username", "displayName") if the data is a JSON object, a
// name=… pair if it is a query string, else the data itself.
func DisplayName(data string) string {
	name, _ := parseData(data)
	return name
}

// parseData reads a connection's data: the display name and the role, if
// it says one ("host", "moderator", …), sanitized.
func parseData(data string) (name, role string) {
	c := events.ParseConnectionData(data)
	return Sanitize(c.Name), Sanitize(c.Role)
}

// shortID shortens a Video API id for a narrow column: session ids share
// a long prefix (1_MX4…), so the tail is what tells them apart.
func shortID(id string, w int) string {
	id = Sanitize(id)
	n := ansi.StringWidth(id)
	if n <= w || w < 4 {
		return ansi.Truncate(id, w, "")
	}
	return "…" + ansi.TruncateLeft(id, n-(w-1), "")
}

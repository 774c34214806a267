package tui

import (
	"fmt"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
)

// maxFlashValue bounds the value a copy flash shows. The flash is for
// copying by hand when the terminal drops OSC 52, so it shows the value
// whole; this bound only keeps a runaway value from filling the screen
// (a client token, the largest thing copied, is well under it).
const maxFlashValue = 4096

// copyCmd copies value to the moderator's clipboard with OSC 52, which
// travels in the terminal's own output and so works over SSH, where the
// machine gavel runs on has no clipboard of the moderator's. Not every
// terminal honours OSC 52 (tmux passes it on only with set-clipboard on),
// and none says whether it did, so the flash line it returns also shows
// the value to copy by hand:
//
//	copied token eyJhbGc… to the clipboard (OSC 52); value: eyJhbGciOi…
//
// Only values the moderator asked to see pass here (ids, a client token
// they minted), so showing them is what they want; nothing else secret
// may be given to it. The value is copied as it is and shown sanitised.
func copyCmd(label, value string) (tea.Cmd, string) {
	if value == "" {
		return nil, "nothing to copy: " + label + " is empty"
	}
	shown := Sanitize(value)
	short := ansi.Truncate(shown, 8, "…")
	full := ansi.Truncate(shown, maxFlashValue, "…")
	return tea.SetClipboard(value), fmt.Sprintf("copied %s %s to the clipboard (OSC 52); value: %s", label, short, full)
}

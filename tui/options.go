package tui

import (
	"context"
	"fmt"

	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/events/relayclient"
)

// Options configure the console.
type Options struct {
	// RelayURL is the relay's stream (ws(s)://host/v1/stream); Token the
	// console token sent to it.
	RelayURL, Token string
	// Connect, when set, attaches the console to a relay in the same
	// process instead of dialling RelayURL: the SSH console, which needs
	// no token and no socket.
	Connect func(ctx context.Context, cfg relayclient.Config) (relayclient.Link, error)
	// Getenv reads the console's environment (nil: the process's); the
	// SSH console passes the session's.
	Getenv func(string) string
	// Demo shows a DEMO badge: the data is simulated.
	Demo bool
	// Title names this console in the header (e.g. the relay or project).
	Title string
	// MaxConnections is the per-session connection cap (console
	// max_connections): a session with more connections is flagged. 0 is off.
	MaxConnections int
	// ReadOnly removes every moderation key (--read-only), whatever the
	// token's role; a viewer token does the same.
	ReadOnly bool
	// Record prefills the recording form (config [console.record]).
	Record config.RecordDefaults
	// Keys rebinds actions by name (config [console.keys]); see
	// KeyMap.Remap. Validate reports what it would refuse.
	Keys map[string][]string
	// Theme forces a palette; auto (or "") follows the terminal.
	Theme ThemeMode
	// Aliases label sessions by id (config [console.aliases]), over the
	// host's name from the connection data.
	Aliases map[string]string
}

// Validate reports what NewModel could not honour: keys that do not remap
// cleanly, an unknown theme. Callers check it before taking the terminal
// over, where an error can still be read.
func (o Options) Validate() error {
	if _, err := ParseThemeMode(string(o.Theme)); err != nil {
		return fmt.Errorf("theme: %w", err)
	}
	_, err := o.keyMap()
	return err
}

// keyMap is the default keymap with Keys applied, or unchanged and the
// reason when they do not apply.
func (o Options) keyMap() (KeyMap, error) {
	k := DefaultKeyMap()
	err := k.Remap(o.Keys)
	return k, err
}

func (o Options) hasRelay() bool { return o.RelayURL != "" || o.Connect != nil }

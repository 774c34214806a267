package tui

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// forceQuitKey always quits, from anywhere (a prompt, the help, a view):
// whatever a config does, a user can leave.
const forceQuitKey = "ctrl+c"

// keyNames are the named keys Bubble Tea v2 reports in KeyPressMsg.String()
// that a console binding may use (f1–f12 are checked apart).
var keyNames = []string{"enter", "esc", "tab", "space", "backspace", "delete", "up", "down", "left", "right",
	"home", "end", "pgup", "pgdown", "insert"}

// keyModifiers are the prefixes Bubble Tea writes, always in this order.
var keyModifiers = []string{"ctrl+", "alt+", "shift+"}

// Remap rebinds actions by name, as the config's [console.keys] says: each
// action named gets exactly the keys listed (an empty list unbinds it) and
// its help shows them. It refuses an unknown action, a string that is not
// a key name Bubble Tea reports, ctrl+c (force-quit keeps it, alone), and
// two actions left sharing a key in a view where both are handled. Errors
// name the config key; on error the KeyMap is unchanged.
func (k *KeyMap) Remap(bindings map[string][]string) error {
	if len(bindings) == 0 {
		return nil
	}
	next := *k
	acts := next.Actions()
	byName := make(map[string]*Action, len(acts))
	for _, a := range acts {
		byName[a.Name] = a
	}
	// Sorted, so the first mistake reported is the same on every run.
	for _, name := range slices.Sorted(maps.Keys(bindings)) {
		a, ok := byName[name]
		switch {
		case !ok:
			return fmt.Errorf("console.keys.%s: no such action; expected one of %s", name, strings.Join(next.remappable(), ", "))
		case a == &next.ForceQuit:
			return fmt.Errorf("console.keys.%s: %s always quits and cannot be remapped", name, forceQuitKey)
		}
		keys := make([]string, 0, len(bindings[name]))
		for _, s := range bindings[name] {
			if err := checkKeyName(s); err != nil {
				return fmt.Errorf("console.keys.%s: %w", name, err)
			}
			if s == forceQuitKey {
				return fmt.Errorf("console.keys.%s: %q always quits (force-quit); it cannot be bound to %s", name, s, name)
			}
			if !slices.Contains(keys, s) {
				keys = append(keys, s)
			}
		}
		if len(keys) == 0 {
			// Binding keeps nil keys as "disabled": off the footer and the help.
			a.SetKeys()
			a.SetEnabled(false)
			continue
		}
		a.SetKeys(keys...)
		a.SetHelp(keysHelp(keys), a.Help().Desc)
	}
	// The actions just remapped first, so a conflict names the one the
	// config moved before the one it collided with.
	ordered := slices.SortedStableFunc(slices.Values(acts), func(a, b *Action) int {
		_, ra := bindings[a.Name]
		_, rb := bindings[b.Name]
		switch {
		case ra && !rb:
			return -1
		case rb && !ra:
			return 1
		}
		return 0
	})
	if err := checkConflicts(ordered); err != nil {
		return fmt.Errorf("console.keys: %w", err)
	}
	*k = next
	return nil
}

// remappable names the actions a config may rebind: all but force-quit.
func (k *KeyMap) remappable() []string {
	var names []string
	for _, a := range k.Actions() {
		if a != &k.ForceQuit {
			names = append(names, a.Name)
		}
	}
	return names
}

// checkConflicts finds the first key two enabled actions share in a view
// that handles both: dispatch would give it to one of them only.
func checkConflicts(acts []*Action) error {
	for i, a := range acts {
		if !a.Enabled() {
			continue
		}
		for _, b := range acts[i+1:] {
			if !b.Enabled() {
				continue
			}
			views, ok := overlap(a.In, b.In)
			if !ok {
				continue
			}
			for _, s := range a.Keys() {
				if slices.Contains(b.Keys(), s) {
					return fmt.Errorf("%q is bound to both %s and %s %s", s, a.Name, b.Name, inViews(views))
				}
			}
		}
	}
	return nil
}

// overlap is the views two scopes share (nil: every view), and whether
// they share any.
func overlap(a, b []viewKind) ([]viewKind, bool) {
	switch {
	case len(a) == 0:
		return b, true
	case len(b) == 0:
		return a, true
	}
	var both []viewKind
	for _, v := range a {
		if slices.Contains(b, v) {
			both = append(both, v)
		}
	}
	return both, len(both) > 0
}

// inViews says where, in words: "in every view", "in the sessions view",
// "in the events and audit views".
func inViews(views []viewKind) string {
	if len(views) == 0 {
		return "in every view"
	}
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.String()
	}
	if len(names) == 1 {
		return "in the " + names[0] + " view"
	}
	return "in the " + strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1] + " views"
}

// checkKeyName accepts only what KeyPressMsg.String() can be, so a binding
// that could never match is an error at start rather than a dead key: a
// single printable character, or ctrl+, alt+, shift+ (in that order)
// before a character, a named key or f1–f12.
func checkKeyName(s string) error {
	if isKeyChar(s) {
		return nil
	}
	rest, mods := s, 0
	for _, m := range keyModifiers {
		if r, ok := strings.CutPrefix(rest, m); ok {
			rest, mods = r, mods+1
		}
	}
	switch {
	case slices.Contains(keyNames, rest) || isFunctionKey(rest):
		return nil
	case mods > 0 && isKeyChar(rest):
		if strings.HasPrefix(s, "shift+") {
			// A shifted character arrives as its text: shift+a is "A".
			return fmt.Errorf("%q is never reported: a shifted character is the character itself (\"A\", \"?\")", s)
		}
		return nil
	}
	return fmt.Errorf("%q is not a key name: expected a single character, or ctrl+, alt+, shift+ (in that order) before a character, f1–f12 or one of %s",
		s, strings.Join(keyNames, ", "))
}

// isKeyChar: one printable character, not a space (Bubble Tea calls that
// "space").
func isKeyChar(s string) bool {
	r, n := utf8.DecodeRuneInString(s)
	return n > 0 && n == len(s) && r != utf8.RuneError && unicode.IsPrint(r) && !unicode.IsSpace(r)
}

func isFunctionKey(s string) bool {
	for i := 1; i <= 12; i++ {
		if s == fmt.Sprintf("f%d", i) {
			return true
		}
	}
	return false
}

// keysHelp is a remapped action's key column in the footer and the help,
// in the default keymap's shorthand: ↑/k, pgdn/^d; "/ ^f" when a key is
// the slash itself.
func keysHelp(keys []string) string {
	sep := "/"
	if slices.ContainsFunc(keys, func(s string) bool { return strings.Contains(s, "/") }) {
		sep = " "
	}
	short := make([]string, len(keys))
	for i, s := range keys {
		switch s {
		case "up":
			s = "↑"
		case "down":
			s = "↓"
		case "left":
			s = "←"
		case "right":
			s = "→"
		case "pgdown":
			s = "pgdn"
		default:
			if c, ok := strings.CutPrefix(s, "ctrl+"); ok && isKeyChar(c) {
				s = "^" + c
			}
		}
		short[i] = s
	}
	return strings.Join(short, sep)
}

package tui

import (
	"context"
	"image/color"
	"reflect"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events/relayclient"
)

// The default keymap is valid as a config would be: every key is a name
// Bubble Tea reports, names are unique, and no two actions collide.
func TestDefaultKeyMapHasNoConflicts(t *testing.T) {
	km := DefaultKeyMap()
	if err := checkConflicts(km.Actions()); err != nil {
		t.Fatalf("default keymap: %v", err)
	}
	seen := map[string]bool{}
	for _, a := range km.Actions() {
		if a.Name == "" || seen[a.Name] {
			t.Errorf("action name %q empty or repeated", a.Name)
		}
		seen[a.Name] = true
		for _, k := range a.Keys() {
			if err := checkKeyName(k); err != nil {
				t.Errorf("%s: %v", a.Name, err)
			}
		}
	}
	// s is the session views' signal, and nothing else's.
	for _, a := range km.Actions() {
		for _, k := range a.Keys() {
			if k == "s" && a != &km.Signal {
				t.Errorf("%s takes s", a.Name)
			}
		}
	}
}

func TestRemapRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		keys map[string][]string
		want []string // all in the error
	}{
		{"unknown action", map[string][]string{"nope": {"x"}},
			[]string{"console.keys.nope:", "no such action", "expected one of up, down,", "sort", "help, quit"}},
		{"force-quit", map[string][]string{"force-quit": {"x"}},
			[]string{"console.keys.force-quit:", "ctrl+c always quits"}},
		{"ctrl+c elsewhere", map[string][]string{"quit": {"q", "ctrl+c"}},
			[]string{"console.keys.quit:", `"ctrl+c" always quits`}},
		{"not a key", map[string][]string{"filter": {"/", "ctrl+ff"}},
			[]string{`console.keys.filter: "ctrl+ff" is not a key name`, "expected a single character", "pgdown", "f1–f12"}},
		{"long name", map[string][]string{"back": {"escape"}},
			[]string{`console.keys.back: "escape" is not a key name`, "esc"}},
		{"modifier order", map[string][]string{"open": {"shift+ctrl+o"}},
			[]string{`console.keys.open: "shift+ctrl+o" is not a key name`, "in that order"}},
		{"literal space", map[string][]string{"open": {" "}},
			[]string{`console.keys.open: " " is not a key name`, "space"}},
		{"empty", map[string][]string{"open": {""}},
			[]string{`console.keys.open: "" is not a key name`}},
		{"shifted character", map[string][]string{"sort": {"shift+o"}},
			[]string{`console.keys.sort: "shift+o" is never reported`, `"A"`}},
		{"view key on a global key", map[string][]string{"sort": {"/"}},
			[]string{`console.keys: "/" is bound to both sort and filter in the sessions view`}},
		{"two views", map[string][]string{"follow": {"q"}},
			[]string{`console.keys: "q" is bound to both follow and quit in the events and audit views`}},
		{"two globals", map[string][]string{"help": {"k"}},
			[]string{`console.keys: "k" is bound to both help and up in every view`}},
		{"both remapped", map[string][]string{"sort": {"x"}, "show-ended": {"x"}},
			[]string{`console.keys: "x" is bound to both sort and show-ended in the sessions view`}},
		{"old key still taken", map[string][]string{"quit": {"j"}},
			[]string{`"j" is bound to both quit and down in every view`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			km := DefaultKeyMap()
			err := km.Remap(c.keys)
			if err == nil {
				t.Fatalf("Remap(%v) accepted", c.keys)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if !reflect.DeepEqual(km, DefaultKeyMap()) {
				t.Error("a refused Remap changed the keymap")
			}
			if c.name == "unknown action" && strings.Contains(err.Error(), "force-quit") {
				t.Errorf("error %q offers force-quit, which cannot be remapped", err)
			}
		})
	}
}

func TestRemapAccepts(t *testing.T) {
	for _, k := range []string{"ctrl+f", "alt+m", "M", "f5", "f12", "shift+tab", "ctrl+alt+shift+up",
		"space", "pgdown", "é", "+", "ctrl++", "insert", "delete", "alt+enter"} {
		if err := checkKeyName(k); err != nil {
			t.Errorf("%q: %v", k, err)
		}
	}
	km := DefaultKeyMap()
	if err := km.Remap(map[string][]string{"open": {"enter", "ctrl+o"}, "filter": {"/", "/"}}); err != nil {
		t.Fatal(err)
	}
	if got := km.Open.Keys(); !reflect.DeepEqual(got, []string{"enter", "ctrl+o"}) || km.Open.Help().Key != "enter/^o" {
		t.Errorf("open: keys %q, help %q", got, km.Open.Help().Key)
	}
	if got := km.Filter.Keys(); !reflect.DeepEqual(got, []string{"/"}) {
		t.Errorf("filter: a repeated key kept: %q", got)
	}
	// Views that share nothing may share a key: follow (events, audit),
	// sort (sessions) and pane (session) can all be o.
	km = DefaultKeyMap()
	if err := km.Remap(map[string][]string{"follow": {"o"}, "pane": {"o"}}); err != nil {
		t.Fatalf("disjoint views: %v", err)
	}
	// Moving a key frees it: sort leaves o, open takes it.
	km = DefaultKeyMap()
	if err := km.Remap(map[string][]string{"sort": {"S"}, "open": {"enter", "o"}}); err != nil {
		t.Fatalf("moved key: %v", err)
	}
	if err := km.Remap(nil); err != nil {
		t.Fatal(err)
	}
}

func ctrl(r rune) tea.KeyPressMsg { return tea.KeyPressMsg{Code: r, Mod: tea.ModCtrl} }

// A remapped action answers its new keys and no longer its old ones, and
// the footer and the ? help say so.
func TestRemappedKeysDriveUpdate(t *testing.T) {
	m := NewModel(Options{RelayURL: "ws://relay.test/v1/stream", Keys: map[string][]string{
		"filter": {"/", "ctrl+f"}, "quit": {"Q"}, "sort": {"S"}, "down": {"n"},
	}})
	m.now = epoch
	m = update(m, tea.WindowSizeMsg{Width: 100, Height: 24})
	m = update(m, fixture().msg(relayclient.Live))

	if _, cmd := m.Update(keyMsg("q")); isQuit(cmd) {
		t.Fatal("q still quits after quit = Q")
	}
	if _, cmd := m.Update(keyMsg("Q")); !isQuit(cmd) {
		t.Fatal("Q does not quit")
	}
	if _, cmd := m.Update(keyMsg("ctrl+c")); !isQuit(cmd) {
		t.Fatal("ctrl+c does not quit")
	}
	if got := press(m, "o"); got.sessions.sort != sortSize {
		t.Fatal("o still sorts after sort = S")
	}
	if got := press(m, "S"); got.sessions.sort != sortViewers {
		t.Fatalf("S: sort %v", got.sessions.sort)
	}
	if got := press(m, "j"); got.sessions.list.cursor != 0 {
		t.Fatal("j still moves after down = n")
	}
	if got := press(m, "n"); got.sessions.list.cursor != 1 {
		t.Fatal("n does not move down")
	}
	if got := update(m, ctrl('f')); got.overlay.prompt() == nil || !got.overlay.prompt().filter {
		t.Fatal("ctrl+f does not open the filter")
	}
	if got := press(m, "/"); got.overlay.prompt() == nil || !got.overlay.prompt().filter {
		t.Fatal("/ no longer opens the filter")
	}

	footer := lastLine(plain(m))
	for _, want := range []string{"/ ^f filter", "S sort", "Q quit"} {
		if !strings.Contains(footer, want) {
			t.Errorf("footer %q lacks %q", footer, want)
		}
	}
	if strings.Contains(footer, "o sort") || strings.Contains(footer, "q quit") {
		t.Errorf("footer %q still shows the old keys", footer)
	}
	help := plain(press(m, "?"))
	for _, want := range []string{"S     sort", "Q      quit", "n       down", "/ ^f  filter"} {
		if !strings.Contains(help, want) {
			t.Errorf("help lacks %q:\n%s", want, help)
		}
	}
}

func lastLine(s string) string { return s[strings.LastIndexByte(s, '\n')+1:] }

// An empty list unbinds an action: its key does nothing and it leaves the
// footer; ctrl+c still quits.
func TestRemapUnbinds(t *testing.T) {
	m := newTestModel(80, 24)
	keys := DefaultKeyMap()
	m.keys = &keys
	if err := m.keys.Remap(map[string][]string{"quit": {}}); err != nil {
		t.Fatal(err)
	}
	if _, cmd := m.Update(keyMsg("q")); isQuit(cmd) {
		t.Fatal("unbound quit still quits")
	}
	if strings.Contains(lastLine(plain(m)), "quit") {
		t.Errorf("footer still offers quit: %q", lastLine(plain(m)))
	}
	if _, cmd := m.Update(keyMsg("ctrl+c")); !isQuit(cmd) {
		t.Fatal("ctrl+c does not quit")
	}
}

// Keys that do not remap are refused by Validate and Run before a
// terminal is touched; a model built anyway keeps the defaults and says why.
func TestBadKeysRefusedBeforeStart(t *testing.T) {
	opts := Options{Keys: map[string][]string{"sort": {"/"}}}
	want := `console.keys: "/" is bound to both sort and filter in the sessions view`
	if err := opts.Validate(); err == nil || err.Error() != want {
		t.Fatalf("Validate: %v", err)
	}
	if err := Run(context.Background(), opts); err == nil || err.Error() != want {
		t.Fatalf("Run: %v", err)
	}
	m := NewModel(opts)
	if !reflect.DeepEqual(*m.keys, DefaultKeyMap()) || !strings.Contains(plain(m), "bound to both sort") {
		t.Fatalf("NewModel with bad keys:\n%s", plain(m))
	}
	if err := (Options{Theme: "sepia"}).Validate(); err == nil || !strings.Contains(err.Error(), "expected auto, dark or light") {
		t.Fatalf("Validate theme: %v", err)
	}
}

func TestParseThemeMode(t *testing.T) {
	for in, want := range map[string]ThemeMode{"": ThemeAuto, "auto": ThemeAuto, "dark": ThemeDark, "light": ThemeLight} {
		if got, err := ParseThemeMode(in); err != nil || got != want {
			t.Errorf("%q: %q, %v", in, got, err)
		}
	}
	if _, err := ParseThemeMode("Dark"); err == nil || err.Error() != `expected auto, dark or light, got "Dark"` {
		t.Errorf("Dark: %v", err)
	}
}

// A forced theme holds whatever background the terminal reports; auto
// follows it.
func TestForcedThemeIgnoresTerminal(t *testing.T) {
	black := tea.BackgroundColorMsg{Color: color.Black}
	white := tea.BackgroundColorMsg{Color: color.White}
	render := func(theme ThemeMode, reports ...tea.Msg) (string, bool) {
		m := NewModel(Options{Theme: theme})
		m.now = epoch
		m = update(m, fixture().msg(relayclient.Live))
		for _, r := range reports {
			m = update(m, r)
		}
		return m.View().Content, m.isDark
	}
	lightFrame, _ := render(ThemeLight)
	darkFrame, _ := render(ThemeDark)
	if lightFrame == darkFrame {
		t.Fatal("light and dark frames are the same: the test cannot tell them apart")
	}
	for _, c := range []struct {
		theme  ThemeMode
		report tea.Msg
		dark   bool
		frame  string
	}{
		{ThemeLight, black, false, lightFrame},
		{ThemeDark, white, true, darkFrame},
		{ThemeAuto, white, false, lightFrame},
		{ThemeAuto, black, true, darkFrame},
		{"", white, false, lightFrame},
	} {
		frame, dark := render(c.theme, c.report)
		if dark != c.dark || frame != c.frame {
			t.Errorf("theme %q, terminal %v: dark %v, want %v (frame matches: %v)", c.theme, c.report, dark, c.dark, frame == c.frame)
		}
	}
}

// An alias from the config names its session in the table, the crumbs and
// the filter, sanitised; other sessions keep their host's name.
func TestAliasNamesSession(t *testing.T) {
	m := NewModel(Options{RelayURL: "ws://relay.test/v1/stream", Aliases: map[string]string{
		townHall: "Town \x1b[31mhall\x1b]0;pwned\x07", "no-such-session": "ghost",
	}})
	m.now = epoch
	m = update(m, tea.WindowSizeMsg{Width: 80, Height: 24})
	m = update(m, fixture().msg(relayclient.Live))
	out := plain(m)
	if !strings.Contains(out, "Town hall") || strings.Contains(out, "Dana Okafor") || !strings.Contains(out, "Ana") {
		t.Fatalf("sessions view:\n%s", out)
	}
	if strings.Contains(m.View().Content, "pwned") || strings.Contains(m.View().Content, "\x1b[31m") {
		t.Fatalf("alias not sanitised: %q", m.View().Content)
	}
	if got := press(m, "enter"); !strings.Contains(plain(got), "townhall-7f3a9c (Town hall)") {
		t.Fatalf("crumbs:\n%s", plain(got))
	}
	got := typeText(press(m, "/"), "town h")
	if len(got.sessions.shown) != 1 || got.sessions.rows[got.sessions.shown[0]].id != townHall {
		t.Fatalf("filter by alias: %d rows", len(got.sessions.shown))
	}
}

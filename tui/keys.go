package tui

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Action is one named thing a key does. The same table drives dispatch,
// the footer, the ? help and (later) rebinding by name and read-only mode.
type Action struct {
	key.Binding
	// Name is the action's stable name, for configuration.
	Name string
	// Dangerous marks actions a read-only console must not offer.
	Dangerous bool
}

// Matches reports whether msg is one of the action's keys (and the
// action is enabled).
func (a Action) Matches(msg tea.KeyPressMsg) bool { return key.Matches(msg, a.Binding) }

// KeyMap is every action of the console.
type KeyMap struct {
	Up, Down, PageUp, PageDown, Top, Bottom Action
	Open, Back, Pane                        Action
	Filter, Command, Sort, ShowAll, Follow  Action
	Help, Quit, ForceQuit                   Action
}

func action(name string, keys []string, helpKey, desc string) Action {
	return Action{Name: name, Binding: key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc))}
}

// DefaultKeyMap is k9s's grammar: j/k, g/G, enter/esc, / filter, : views,
// ? help, q quit; ctrl+c always quits.
func DefaultKeyMap() KeyMap {
	return KeyMap{
		Up:        action("up", []string{"up", "k"}, "↑/k", "up"),
		Down:      action("down", []string{"down", "j"}, "↓/j", "down"),
		PageUp:    action("page-up", []string{"pgup", "ctrl+u"}, "pgup/^u", "page up"),
		PageDown:  action("page-down", []string{"pgdown", "ctrl+d"}, "pgdn/^d", "page down"),
		Top:       action("top", []string{"home", "g"}, "g", "top"),
		Bottom:    action("bottom", []string{"end", "G"}, "G", "bottom"),
		Open:      action("open", []string{"enter"}, "enter", "open"),
		Back:      action("back", []string{"esc"}, "esc", "back"),
		Pane:      action("pane", []string{"tab"}, "tab", "next pane"),
		Filter:    action("filter", []string{"/"}, "/", "filter"),
		Command:   action("command", []string{":"}, ":", "view"),
		Sort:      action("sort", []string{"s"}, "s", "sort"),
		ShowAll:   action("show-ended", []string{"a"}, "a", "show ended"),
		Follow:    action("follow", []string{"f"}, "f", "follow"),
		Help:      action("help", []string{"?"}, "?", "help"),
		Quit:      action("quit", []string{"q"}, "q", "quit"),
		ForceQuit: action("force-quit", []string{"ctrl+c"}, "ctrl+c", "quit"),
	}
}

// Actions lists every action, for lookups by name.
func (k *KeyMap) Actions() []*Action {
	return []*Action{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom, &k.Open, &k.Back, &k.Pane,
		&k.Filter, &k.Command, &k.Sort, &k.ShowAll, &k.Follow, &k.Help, &k.Quit, &k.ForceQuit}
}

// viewDef is one view : switches to. The command, its aliases, the
// prompt's list of views and the ? help all come from this one table.
type viewDef struct {
	kind    viewKind
	name    string
	aliases []string
	desc    string
	help    key.Binding // ":name  desc", for the ? screen
}

// viewRegistry is the console's view registry, in the order the : prompt and
// the help list them.
var viewRegistry = registerViews(
	// Descriptions are short so that the ? screen keeps the list at 80
	// columns, next to the movement, view and global keys.
	viewDef{kind: viewSessions, name: "sessions", aliases: []string{"session", "sess", "s"}, desc: "all live"},
	viewDef{kind: viewConnections, name: "connections", aliases: []string{"connection", "conns", "conn", "co", "people"}, desc: "who's where"},
	viewDef{kind: viewStreams, name: "streams", aliases: []string{"stream", "st", "strm"}, desc: "all streams"},
	viewDef{kind: viewEvents, name: "events", aliases: []string{"event", "ev", "e"}, desc: "event log"},
	viewDef{kind: viewArchives, name: "archives", aliases: []string{"archive", "ar", "recordings"}, desc: "recordings"},
	viewDef{kind: viewAudit, name: "audit", aliases: []string{"au", "moderation"}, desc: "moderation"},
)

var viewNameList []string

func registerViews(defs ...viewDef) []viewDef {
	for i := range defs {
		d := &defs[i]
		d.help = key.NewBinding(key.WithKeys(":"+d.name), key.WithHelp(":"+d.name, d.desc))
		viewNameList = append(viewNameList, d.name)
	}
	return defs
}

// viewNames are the registered views' names, in order.
func viewNames() []string { return viewNameList }

// lookupView finds the view a : command names, by name or alias.
func lookupView(cmd string) (viewDef, bool) {
	for _, d := range viewRegistry {
		if d.name == cmd || slices.Contains(d.aliases, cmd) {
			return d, true
		}
	}
	return viewDef{}, false
}

// viewHelp is the help.KeyMap of one view: the actions that mean
// something there, taken from the one KeyMap.
type viewHelp struct {
	km   *KeyMap
	kind viewKind
	root bool // at the root of the stack: esc does nothing
}

func (h viewHelp) bindings(as ...*Action) []key.Binding {
	out := make([]key.Binding, 0, len(as))
	for _, a := range as {
		if a.Enabled() {
			out = append(out, a.Binding)
		}
	}
	return out
}

// ShortHelp is the footer: what this view's main keys do.
func (h viewHelp) ShortHelp() []key.Binding {
	k := h.km
	switch h.kind {
	case viewSessions:
		return h.bindings(&k.Open, &k.Filter, &k.Sort, &k.Command, &k.Help, &k.Quit)
	case viewSession:
		return h.bindings(&k.Back, &k.Pane, &k.Filter, &k.Command, &k.Help, &k.Quit)
	case viewArchives, viewConnections, viewStreams:
		as := []*Action{&k.Open, &k.Filter, &k.Command, &k.Help, &k.Quit}
		if !h.root {
			as = append([]*Action{&k.Back}, as...)
		}
		return h.bindings(as...)
	default:
		as := []*Action{&k.Open, &k.Follow, &k.Filter, &k.Command, &k.Help, &k.Quit}
		if !h.root {
			as = append([]*Action{&k.Back}, as...)
		}
		return h.bindings(as...)
	}
}

// FullHelp is the ? screen: movement, this view's actions, global keys.
func (h viewHelp) FullHelp() [][]key.Binding {
	k := h.km
	move := h.bindings(&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom)
	var view []key.Binding
	switch h.kind {
	case viewSessions:
		view = h.bindings(&k.Open, &k.Filter, &k.Sort, &k.ShowAll)
	case viewSession:
		view = h.bindings(&k.Back, &k.Pane, &k.Filter)
	case viewArchives, viewConnections, viewStreams:
		view = h.bindings(&k.Open, &k.Back, &k.Filter)
	default:
		view = h.bindings(&k.Open, &k.Back, &k.Follow, &k.Filter)
	}
	global := h.bindings(&k.Command, &k.Help, &k.Quit, &k.ForceQuit)
	views := make([]key.Binding, 0, len(viewRegistry))
	if k.Command.Enabled() {
		for _, d := range viewRegistry {
			views = append(views, d.help)
		}
	}
	return [][]key.Binding{move, view, global, views}
}

package tui

import (
	"slices"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
)

// Action is one named thing a key does. The same table drives dispatch,
// the footer, the ? help, rebinding by name and read-only mode.
type Action struct {
	key.Binding
	// Name is the action's stable name, for configuration.
	Name string
	// Dangerous marks actions a read-only console must not offer.
	Dangerous bool
	// In lists the views the action is handled in; empty is every view.
	// Two actions may share a key only where no view has both (Remap
	// refuses the rest), so a view-scoped key never shadows another.
	In []viewKind
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
	// Moderation (issue 6): Dangerous ones are gone for a viewer or
	// --read-only.
	Signal, Mute, MuteAll, MuteAllOff, Unpublish Action
	Disconnect, Clear, Record, Token             Action
	Ban, Lift, Ack                               Action
	EditRules, CapSession, LiftCap               Action
	Copy, Mark                                   Action
	// Replay: the session view's past, from the relay's log.
	StepBack, StepForward, MinuteBack, MinuteForward Action
}

func action(name string, keys []string, helpKey, desc string, in ...viewKind) Action {
	return Action{Name: name, Binding: key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc)), In: in}
}

// DefaultKeyMap is k9s's grammar: j/k, g/G, enter/esc, / filter, : views,
// ? help, q quit; ctrl+c always quits. Sort is o, not k9s's shift-letters,
// leaving s free for the session views' signal.
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
		Pane:      action("pane", []string{"tab"}, "tab", "next pane", viewSession),
		Filter:    action("filter", []string{"/"}, "/", "filter"),
		Command:   action("command", []string{":"}, ":", "view"),
		Sort:      action("sort", []string{"o"}, "o", "sort", viewSessions),
		ShowAll:   action("show-ended", []string{"a"}, "a", "show ended", viewSessions),
		Follow:    action("follow", []string{"f"}, "f", "follow", viewEvents, viewAudit),
		Help:      action("help", []string{"?"}, "?", "help"),
		Quit:      action("quit", []string{"q"}, "q", "quit"),
		ForceQuit: action("force-quit", []string{"ctrl+c"}, "ctrl+c", "quit"),

		Signal:     dangerous(action("signal", []string{"s"}, "s", "signal", viewSessions, viewSession)),
		Mute:       dangerous(action("mute", []string{"m"}, "m", "mute", viewSession)),
		MuteAll:    dangerous(action("mute-all", []string{"M"}, "M", "mute all but marked", viewSessions, viewSession)),
		MuteAllOff: dangerous(action("mute-all-off", []string{"alt+m"}, "alt+m", "end mute-all", viewSessions, viewSession)),
		Unpublish:  dangerous(action("unpublish", []string{"u"}, "u", "unpublish", viewSession)),
		Disconnect: dangerous(action("disconnect", []string{"d"}, "d", "disconnect", viewSession)),
		Clear:      dangerous(action("clear-session", []string{"D"}, "D", "disconnect everyone", viewSessions, viewSession)),
		Record:     dangerous(action("record", []string{"r"}, "r", "record/stop", viewSessions, viewSession)),
		Token:      dangerous(action("token", []string{"t"}, "t", "token", viewSessions, viewSession)),
		Ban:        dangerous(action("ban", []string{"b"}, "b", "ban", viewSession)),
		Lift:       dangerous(action("lift-ban", []string{"x"}, "x", "lift ban", viewBans)),
		Ack:        dangerous(action("ack-alert", []string{"a"}, "a", "acknowledge", viewAlerts)),
		EditRules:  dangerous(action("edit-rules", []string{"e"}, "e", "edit rules", viewRules)),
		CapSession: dangerous(action("cap-session", []string{"C"}, "C", "cap session", viewSession)),
		LiftCap:    dangerous(action("lift-cap", []string{"x"}, "x", "lift cap", viewRules)),
		Copy:       action("copy-id", []string{"y"}, "y", "copy id", viewSessions, viewSession),
		Mark:       action("mark", []string{"space"}, "space", "mark", viewSession),

		StepBack:      action("step-back", []string{"["}, "[", "step back", viewSession),
		StepForward:   action("step-forward", []string{"]"}, "]", "step forward", viewSession),
		MinuteBack:    action("minute-back", []string{"{"}, "{", "minute back", viewSession),
		MinuteForward: action("minute-forward", []string{"}"}, "}", "minute forward", viewSession),
	}
}

func dangerous(a Action) Action {
	a.Dangerous = true
	return a
}

// Actions lists every action, for lookups by name: remapping, conflict
// checks and the footer's cache key all go through it, so an action added
// here is configurable with no other code.
func (k *KeyMap) Actions() []*Action {
	return []*Action{&k.Up, &k.Down, &k.PageUp, &k.PageDown, &k.Top, &k.Bottom, &k.Open, &k.Back, &k.Pane,
		&k.Filter, &k.Command, &k.Sort, &k.ShowAll, &k.Follow, &k.Help, &k.Quit, &k.ForceQuit,
		&k.Signal, &k.Mute, &k.MuteAll, &k.MuteAllOff, &k.Unpublish, &k.Disconnect, &k.Clear, &k.Record, &k.Token,
		&k.Ban, &k.Lift, &k.Ack, &k.EditRules, &k.CapSession, &k.LiftCap, &k.Copy, &k.Mark,
		&k.StepBack, &k.StepForward, &k.MinuteBack, &k.MinuteForward}
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
	viewDef{kind: viewBans, name: "bans", aliases: []string{"ban"}, desc: "bans in force"},
	viewDef{kind: viewAlerts, name: "alerts", aliases: []string{"alert", "al"}, desc: "alerts"},
	viewDef{kind: viewRules, name: "rules", aliases: []string{"rule", "caps", "cap"}, desc: "caps in force"},
	viewDef{kind: viewWho, name: "who", aliases: []string{"presence", "on"}, desc: "who is on"},
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
		return h.bindings(&k.Open, &k.Filter, &k.Sort, &k.Record, &k.Command, &k.Help, &k.Quit)
	case viewSession:
		return h.bindings(&k.Back, &k.Pane, &k.Mark, &k.Disconnect, &k.Mute, &k.Unpublish, &k.Signal, &k.Record, &k.Filter, &k.Help, &k.Quit)
	case viewBans, viewAlerts, viewRules:
		acts := map[viewKind][]*Action{viewBans: {&k.Lift}, viewAlerts: {&k.Ack}, viewRules: {&k.EditRules, &k.LiftCap}}[h.kind]
		as := append(acts, &k.Open, &k.Filter, &k.Command, &k.Help, &k.Quit)
		if !h.root {
			as = append([]*Action{&k.Back}, as...)
		}
		return h.bindings(as...)
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
	var view, moderate []key.Binding
	switch h.kind {
	case viewSessions:
		view = h.bindings(&k.Open, &k.Filter, &k.Sort, &k.ShowAll, &k.Copy)
		moderate = h.bindings(&k.Signal, &k.MuteAll, &k.MuteAllOff, &k.Clear, &k.Record, &k.Token)
	case viewSession:
		view = h.bindings(&k.Back, &k.Pane, &k.Filter, &k.Mark, &k.Copy, &k.StepBack, &k.StepForward, &k.MinuteBack, &k.MinuteForward)
		moderate = h.bindings(&k.Signal, &k.Mute, &k.MuteAll, &k.MuteAllOff, &k.Unpublish, &k.Disconnect, &k.Ban, &k.Clear, &k.Record, &k.Token, &k.CapSession)
	case viewBans:
		view = h.bindings(&k.Open, &k.Back, &k.Filter)
		moderate = h.bindings(&k.Lift)
	case viewAlerts:
		view = h.bindings(&k.Open, &k.Back, &k.Filter)
		moderate = h.bindings(&k.Ack)
	case viewRules:
		view = h.bindings(&k.Open, &k.Back, &k.Filter)
		moderate = h.bindings(&k.EditRules, &k.LiftCap)
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
	// The views in two columns: one would grow the screen a line a view.
	half := (len(views) + 1) / 2
	out := [][]key.Binding{move, view}
	if len(moderate) > 0 {
		out = append(out, moderate)
	}
	return append(out, global, views[:half], views[half:])
}

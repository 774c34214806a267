package tui

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/gavelhq/gavel/events"
)

// capRow is one session with a cap of its own.
type capRow struct {
	session, label string
	limit, conns   int
	live           bool
	search         string
}

func (r capRow) rowKey() string    { return r.session }
func (r capRow) rowSearch() string { return r.search }

// rulesView is :rules — what the relay enforces while nobody watches, as
// its log has it (every relay and console on it agrees): the cap on every
// session, how it is enforced, who it spares, who set it and when, and
// the sessions with a cap of their own. e edits the rules, x lifts the
// selected session's cap, C in the sessions views caps a session.
type rulesView struct {
	stickyRows[capRow]
	inForce *events.RulesInForce
}

// set takes the rules in force (nil: none in the log) and the sessions,
// for the per-session caps' labels and counts.
func (v *rulesView) set(in *events.RulesInForce, sessions []events.Session, names *nameCache) {
	v.inForce = in
	v.rows = v.rows[:0]
	if in != nil {
		for id, limit := range in.Rules.SessionCaps {
			r := capRow{session: Sanitize(id), limit: limit}
			if i, ok := findSession(sessions, id); ok {
				s := &sessions[i]
				r.label, r.conns, r.live = sessionLabel(s, names), s.Counts.Connections, s.Live
			}
			r.search = strings.ToLower(r.session + " " + r.label)
			v.rows = append(v.rows, r)
		}
		slices.SortFunc(v.rows, func(a, b capRow) int { return strings.Compare(a.session, b.session) })
	}
	v.refilter()
}

// rules are the rules a change starts from: those in force, else the
// defaults (no cap).
func (v *rulesView) rules() events.Rules {
	if v.inForce == nil {
		r := events.DefaultRules()
		r.SessionCaps = map[string]int{}
		return r
	}
	r := v.inForce.Rules
	// A change must not write into the batch's copy.
	r.SessionCaps, r.CapExempt = maps.Clone(r.SessionCaps), slices.Clone(r.CapExempt)
	if r.SessionCaps == nil {
		r.SessionCaps = map[string]int{}
	}
	return r
}

var capCols = []column{
	{title: "SESSION", width: 12, flex: true, maxw: 34},
	{title: "HOST", width: 10, flex: true, maxw: 40},
	{title: "CAP", width: 6, right: true},
	{title: "CONNS", width: 6, right: true},
	{title: "", width: 8},
}

func (v *rulesView) title() string { return v.titled("rules · session caps") }

// selectedSession: enter opens the capped session.
func (v *rulesView) selectedSession() (string, bool) {
	r, ok := v.current()
	return r.session, ok && r.live
}

// rulesSummaryLines is how many lines summary writes above the table.
const rulesSummaryLines = 5

// summary is what the lines above the table say.
func (v *rulesView) summary(now time.Time) []string {
	r := v.rules()
	var every string
	switch {
	case r.MaxConnections == 0:
		every = "every session: no cap"
	default:
		every = fmt.Sprintf("every session: at most %d connections", r.MaxConnections)
	}
	how := "over a cap: flagged only (⚑), nobody is removed"
	switch {
	case r.DryRun:
		how = "over a cap: dry-run — the trail says who would leave, nobody is removed"
	case r.EnforceCap && r.CapGrace() > 0:
		how = fmt.Sprintf("over a cap: the newest non-exempt get %s, and leave %s later", "gavel-room-full", r.CapGrace())
	case r.EnforceCap:
		how = "over a cap: the newest non-exempt leave at once"
	}
	exempt := "never removed: nobody (no roles exempt)"
	if len(r.CapExempt) > 0 {
		exempt = "never removed: connection-data roles " + Sanitize(strings.Join(r.CapExempt, ", "))
	}
	who := "none in the relay's log yet: its config's [relay.rules] apply"
	if v.inForce != nil {
		who = fmt.Sprintf("in force since %s (%s ago), set by %s", v.inForce.At.Local().Format("2006-01-02 15:04:05"),
			compactDuration(now.Sub(v.inForce.At)), Sanitize(v.inForce.By))
	}
	return []string{every, how, exempt, who, ""}
}

func (v *rulesView) render(rc *renderCtx, width, height int, b *strings.Builder) {
	lines := v.summary(rc.now)
	for i, l := range lines {
		if i >= height {
			return
		}
		b.WriteString(rc.styles.Muted.Render(Clip("  "+l, width)))
		b.WriteByte('\n')
	}
	cols := fit(capCols, width)
	rc.table(b, cols, width, height-len(lines), &v.list, len(v.shown), "  no session has a cap of its own (C on a session sets one)", v.filter, func(i int, selected bool) {
		r := &v.rows[v.shown[i]]
		state := ""
		switch {
		case !r.live:
			state = "not live"
		case r.conns > r.limit:
			state = "⚑ over"
		}
		row := renderRow(cols, []string{shortID(r.session, cols[0].width), orDash(r.label), strconv.Itoa(r.limit), strconv.Itoa(r.conns), state}, width)
		b.WriteString(rc.rowStyle(selected, row))
	})
}

// Field order of the rules form: rulesFromForm reads Values() by it.
const (
	rulesFieldCap = iota
	rulesFieldMode
	rulesFieldGrace
	rulesFieldExempt
)

// The rules form's modes.
const (
	modeFlag    = "flag only"
	modeEnforce = "enforce"
	modeDryRun  = "dry-run"
)

func newRulesForm(r events.Rules) *form {
	mode := modeFlag
	switch {
	case r.DryRun:
		mode = modeDryRun
	case r.EnforceCap:
		mode = modeEnforce
	}
	return newForm("Rules for every session",
		formField{Label: "cap", Value: strconv.Itoa(r.MaxConnections), Hint: "per session; 0: none (a session's own cap wins)"},
		formField{Label: "over the cap", Value: mode, Choices: []string{modeFlag, modeEnforce, modeDryRun},
			Hint: "enforce: the newest non-exempt are told, then disconnected"},
		formField{Label: "grace", Value: r.CapGrace().String(), Hint: "from the gavel-room-full signal to the disconnect: 0s–1m"},
		formField{Label: "exempt roles", Value: strings.Join(r.CapExempt, ", "), MaxBytes: 500,
			Hint: "roles the cap never removes, comma-separated"},
	)
}

// rulesFromForm is base with the form's values; errors name the field.
func rulesFromForm(base events.Rules, values []string) (events.Rules, error) {
	if err := wantValues("rules", values, 4); err != nil {
		return base, err
	}
	limit, err := strconv.Atoi(strings.TrimSpace(values[rulesFieldCap]))
	if err != nil || limit < 0 {
		return base, &fieldError{Field: rulesFieldCap, Label: "cap", Rule: fmt.Sprintf("a whole number, 0 for no cap (got %q)", values[rulesFieldCap])}
	}
	grace, err := time.ParseDuration(strings.TrimSpace(values[rulesFieldGrace]))
	if err != nil || grace < 0 || grace > time.Minute {
		return base, &fieldError{Field: rulesFieldGrace, Label: "grace", Rule: fmt.Sprintf("a duration from 0s to 1m, like 2s (got %q)", values[rulesFieldGrace])}
	}
	var exempt []string
	for _, role := range strings.Split(values[rulesFieldExempt], ",") {
		if role = strings.TrimSpace(role); role != "" {
			exempt = append(exempt, role)
		}
	}
	r := base
	r.MaxConnections, r.CapGraceMS, r.CapExempt = limit, grace.Milliseconds(), exempt
	r.EnforceCap = values[rulesFieldMode] == modeEnforce
	r.DryRun = values[rulesFieldMode] == modeDryRun
	r.Seed = ""
	return r, r.Check()
}

// wordsRules say a rules change in the footer.
var wordsRules = words{"set the rules", "setting the rules", "set the rules"}

// putRules asks, then puts r in force for every relay and console.
func (m *Model) putRules(question string, r events.Rules) {
	m.confirm(question, func(m *Model) tea.Cmd {
		if !m.ready("set the rules") {
			return nil
		}
		params, _ := marshalParams(events.CommandParams{Rules: &r})
		return m.start(&job{words: wordsRules, what: "(" + r.Summary() + ")"}, events.Command{Action: events.ActionRules, Params: params})
	})
}

// editRules opens the rules form (e in :rules).
func (m *Model) editRules() tea.Cmd {
	if !m.ready("set the rules") {
		return nil
	}
	base := m.rulesView.rules()
	m.overlay.open(&openForm{f: newRulesForm(base), submit: func(m *Model, values []string) (tea.Cmd, error) {
		r, err := rulesFromForm(base, values)
		if err != nil {
			return nil, err
		}
		m.putRules(fmt.Sprintf("Put these rules in force on every relay: %s?", r.Summary()), r)
		return nil, nil
	}})
	return nil
}

// capSession opens the form of a session's own cap (C on a session).
func (m *Model) capSession() tea.Cmd {
	t, ok := m.sessionTarget()
	if !ok {
		m.say(noticeInfo, "select a session to cap")
		return nil
	}
	if !m.ready("cap a session") {
		return nil
	}
	base := m.rulesView.rules()
	value := ""
	if n, ok := base.SessionCaps[t.id]; ok {
		value = strconv.Itoa(n)
	}
	f := newForm("Cap "+t.name(), formField{Label: "cap", Value: value,
		Hint: fmt.Sprintf("connections in this session (now %d); empty: lift its own cap", t.s.Counts.Connections)})
	m.overlay.open(&openForm{f: f, submit: func(m *Model, values []string) (tea.Cmd, error) {
		if err := wantValues("cap", values, 1); err != nil {
			return nil, err
		}
		r := base
		text := strings.TrimSpace(values[0])
		if text == "" {
			if _, had := r.SessionCaps[t.id]; !had {
				return nil, &fieldError{Field: 0, Label: "cap", Rule: "this session has no cap of its own to lift: give a number"}
			}
			delete(r.SessionCaps, t.id)
			m.putRules(fmt.Sprintf("Lift %s's own cap? %s", t.name(), everyCap(r)), r)
			return nil, nil
		}
		n, err := strconv.Atoi(text)
		if err != nil || n < 1 {
			return nil, &fieldError{Field: 0, Label: "cap", Rule: fmt.Sprintf("a whole number of connections, at least 1 (got %q)", text)}
		}
		r.SessionCaps[t.id] = n
		m.putRules(fmt.Sprintf("Cap %s at %d connections (%s)?", t.name(), n, enforcement(r)), r)
		return nil, nil
	}})
	return nil
}

// liftCap lifts the selected session's own cap (x in :rules), after asking.
func (m *Model) liftCap() tea.Cmd {
	row, ok := m.rulesView.current()
	if !ok {
		m.say(noticeInfo, "no session cap selected")
		return nil
	}
	if !m.ready("lift a cap") {
		return nil
	}
	r := m.rulesView.rules()
	delete(r.SessionCaps, row.session)
	m.putRules(fmt.Sprintf("Lift the cap of %d on %s? %s", row.limit, orDash(row.label)+" ("+shortID(row.session, 12)+")", everyCap(r)), r)
	return nil
}

// everyCap says what then applies to a session without a cap of its own.
func everyCap(r events.Rules) string {
	if r.MaxConnections == 0 {
		return "It then has no cap."
	}
	return fmt.Sprintf("It then has every session's cap, %d.", r.MaxConnections)
}

// enforcement says what a cap does under r.
func enforcement(r events.Rules) string {
	switch {
	case r.DryRun:
		return "dry-run: nobody is removed"
	case r.EnforceCap:
		return "enforced: the newest non-exempt leave"
	}
	return "flagged only: nobody is removed"
}

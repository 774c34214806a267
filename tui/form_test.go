package tui

import (
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/gavelhq/gavel/events/config"
)

// formKey is the key press a terminal sends for k, as Bubble Tea names it
// (the name is checked, so a test cannot press a key the form never sees).
func formKey(t *testing.T, k string) tea.KeyPressMsg {
	t.Helper()
	named := map[string]tea.KeyPressMsg{
		"enter":     {Code: tea.KeyEnter},
		"esc":       {Code: tea.KeyEscape},
		"tab":       {Code: tea.KeyTab},
		"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
		"up":        {Code: tea.KeyUp},
		"down":      {Code: tea.KeyDown},
		"left":      {Code: tea.KeyLeft},
		"right":     {Code: tea.KeyRight},
		"home":      {Code: tea.KeyHome},
		"space":     {Code: tea.KeySpace, Text: " "},
		"backspace": {Code: tea.KeyBackspace},
		"ctrl+s":    {Code: 's', Mod: tea.ModCtrl},
		"ctrl+u":    {Code: 'u', Mod: tea.ModCtrl},
		"ctrl+w":    {Code: 'w', Mod: tea.ModCtrl},
	}
	msg, ok := named[k]
	if !ok {
		r := []rune(k)
		if len(r) != 1 {
			t.Fatalf("formKey %q: not a key", k)
		}
		msg = tea.KeyPressMsg{Code: r[0], Text: k}
	}
	if msg.String() != k {
		t.Fatalf("formKey %q arrives as %q", k, msg.String())
	}
	return msg
}

// pressForm presses keys in order and returns the last outcome.
func pressForm(t *testing.T, f *form, keys ...string) formOutcome {
	t.Helper()
	out := formEditing
	for _, k := range keys {
		out, _ = f.Update(formKey(t, k))
	}
	return out
}

// typeForm types s into the focused field, one key per rune.
func typeForm(t *testing.T, f *form, s string) {
	t.Helper()
	for _, r := range s {
		k := string(r)
		if r == ' ' {
			k = "space"
		}
		if out := pressForm(t, f, k); out != formEditing {
			t.Fatalf("typing %q: outcome %v", k, out)
		}
	}
}

func TestFormTyping(t *testing.T) {
	f := newSignalForm("signal", "")
	typeForm(t, f, "hello world")
	if got := f.Values()[signalFieldType]; got != "hello world" {
		t.Fatalf("type = %q", got)
	}
	pressForm(t, f, "backspace", "backspace")
	if got := f.Values()[signalFieldType]; got != "hello wor" {
		t.Errorf("after two backspaces: %q", got)
	}
	pressForm(t, f, "ctrl+w")
	if got := f.Values()[signalFieldType]; got != "hello " {
		t.Errorf("after ctrl+w: %q", got)
	}
	pressForm(t, f, "home")
	typeForm(t, f, ">")
	if got := f.Values()[signalFieldType]; got != ">hello " {
		t.Errorf("typed at home: %q", got)
	}
	pressForm(t, f, "ctrl+u")
	if got := f.Values()[signalFieldType]; got != "hello " {
		t.Errorf("ctrl+u deletes before the cursor: %q", got)
	}
	// The default is where typing starts: at its end.
	g := newSignalForm("signal", "gavel")
	typeForm(t, g, "-x")
	if got := g.Values()[signalFieldType]; got != "gavel-x" {
		t.Errorf("typed after the default: %q", got)
	}
}

func TestFormFieldMoves(t *testing.T) {
	f := newTokenForm("token") // role, data, ttl
	steps := []struct {
		key  string
		want int
	}{
		{"tab", 1}, {"tab", 2}, {"tab", 0}, // tab wraps round
		{"shift+tab", 2}, {"shift+tab", 1},
		{"down", 2}, {"down", 2}, // the arrows stop at the ends
		{"up", 1}, {"up", 0}, {"up", 0},
		{"enter", 1}, {"enter", 2}, // enter moves on until the last field
	}
	for i, s := range steps {
		if out := pressForm(t, f, s.key); out != formEditing {
			t.Fatalf("step %d %s: outcome %v", i, s.key, out)
		}
		if f.focus != s.want {
			t.Fatalf("step %d %s: focus %d, want %d", i, s.key, f.focus, s.want)
		}
	}
	// Typing goes to the focused field only.
	pressForm(t, f, "tab") // ttl → role
	pressForm(t, f, "tab") // data
	typeForm(t, f, "x")
	if v := f.Values(); v[tokenFieldData] != "x" || v[tokenFieldTTL] != "24h" {
		t.Errorf("values %q", v)
	}
}

func TestFormChoiceCycling(t *testing.T) {
	f := newRecordForm("record", config.RecordDefaults{})
	pressForm(t, f, "tab") // output
	want := func(step, v string) {
		t.Helper()
		if got := f.Values()[recordFieldOutput]; got != v {
			t.Errorf("%s: output %q, want %q", step, got, v)
		}
	}
	want("default", "composed")
	pressForm(t, f, "right")
	want("right", "individual")
	pressForm(t, f, "right")
	want("right wraps", "composed")
	pressForm(t, f, "left")
	want("left wraps", "individual")
	pressForm(t, f, "space")
	want("space", "composed")
	typeForm(t, f, "i") // letters do nothing on a choice
	want("typed i", "composed")

	pressForm(t, f, "tab", "left") // resolution: from default back to the last
	if got := f.Values()[recordFieldResolution]; got != "1080x1920" {
		t.Errorf("resolution %q", got)
	}
	pressForm(t, f, "right") // and round to the service's default
	if got := f.Values()[recordFieldResolution]; got != "" {
		t.Errorf("resolution %q, want the default \"\"", got)
	}
}

func TestFormDefaultsNotOffered(t *testing.T) {
	// A default the form does not offer becomes the first choice, which
	// CheckRecordDefaults exists to catch at configuration time.
	f := newRecordForm("record", config.RecordDefaults{OutputMode: "mixed", Layout: "custom"})
	if v := f.Values(); v[recordFieldOutput] != "composed" || v[recordFieldLayout] != "bestFit" {
		t.Errorf("values %q", v)
	}
}

func TestFormSubmitOnlyFromLast(t *testing.T) {
	f := newSignalForm("signal", "")
	if out := pressForm(t, f, "enter"); out != formEditing || f.focus != signalFieldData {
		t.Fatalf("enter on the first field: outcome %v, focus %d", out, f.focus)
	}
	if out := pressForm(t, f, "enter"); out != formSubmitted {
		t.Fatalf("enter on the last field: outcome %v", out)
	}
	// ctrl+s sends from any field.
	g := newTokenForm("token")
	if out := pressForm(t, g, "ctrl+s"); out != formSubmitted || g.focus != 0 {
		t.Errorf("ctrl+s on the first field: outcome %v, focus %d", out, g.focus)
	}
	// The form stays usable after a submit the caller refused.
	typeForm(t, f, "more")
	if got := f.Values()[signalFieldData]; got != "more" {
		t.Errorf("data after a refused submit: %q", got)
	}
}

func TestFormEscCancels(t *testing.T) {
	for _, at := range []int{0, 1, 2} {
		f := newTokenForm("token")
		for range at {
			pressForm(t, f, "tab")
		}
		if out := pressForm(t, f, "esc"); out != formCancelled {
			t.Errorf("esc on field %d: outcome %v", at, out)
		}
	}
}

func TestFormPasteSanitised(t *testing.T) {
	f := newSignalForm("signal", "")
	pressForm(t, f, "tab") // data
	typeForm(t, f, "<")
	f.Update(tea.PasteMsg{Content: "\x1b[31mred\x1b[0m\tline\r\nnext\x07\x1b]52;c;aGk=\x07>"})
	if got := f.Values()[signalFieldData]; got != "<red line  next>" {
		t.Errorf("data %q", got)
	}
	// Typed text is sanitised too.
	f.Update(tea.KeyPressMsg{Code: 'x', Text: "x\x1b[2J\x08"})
	if got := f.Values()[signalFieldData]; got != "<red line  next>x" {
		t.Errorf("after a key with controls: %q", got)
	}
	// A paste on a choice field goes nowhere.
	r := newRecordForm("record", config.RecordDefaults{})
	pressForm(t, r, "tab")
	r.Update(tea.PasteMsg{Content: "individual"})
	if v := r.Values(); v[recordFieldName] != "" || v[recordFieldOutput] != "composed" {
		t.Errorf("values after a paste on a choice: %q", v)
	}
}

func TestFormLimitRefusesWhole(t *testing.T) {
	f := newSignalForm("signal", strings.Repeat("t", 127))
	typeForm(t, f, "u") // 128 bytes: the limit exactly
	typeForm(t, f, "v") // 129: refused
	if got := f.Values()[signalFieldType]; got != strings.Repeat("t", 127)+"u" {
		t.Errorf("type is %d bytes", len(got))
	}
	if f.err != "type: at most 128 bytes" {
		t.Errorf("error %q", f.err)
	}
	pressForm(t, f, "backspace") // an edit clears it
	if f.err != "" {
		t.Errorf("error after backspace: %q", f.err)
	}

	// A paste that does not fit is refused whole, not cut: the signal
	// would otherwise go out as something the moderator did not write.
	pressForm(t, f, "tab")
	f.Update(tea.PasteMsg{Content: strings.Repeat("d", 8000)})
	f.Update(tea.PasteMsg{Content: strings.Repeat("e", 500)})
	if got := f.Values()[signalFieldData]; got != strings.Repeat("d", 8000) {
		t.Errorf("data is %d bytes", len(got))
	}
	if want := "data: at most 8192 bytes; nothing was pasted (it would make 8500)"; f.err != want {
		t.Errorf("error %q, want %q", f.err, want)
	}

	// Characters, not bytes, for connection data.
	tk := newTokenForm("token")
	pressForm(t, tk, "tab")
	tk.Update(tea.PasteMsg{Content: strings.Repeat("é", 1000)})
	typeForm(t, tk, "é")
	if got := tk.Values()[tokenFieldData]; got != strings.Repeat("é", 1000) {
		t.Errorf("data is %d characters", len([]rune(got)))
	}
	if tk.err != "data: at most 1000 characters" {
		t.Errorf("error %q", tk.err)
	}
}

func TestFormRejectFocusesTheField(t *testing.T) {
	f := newTokenForm("token for session …abc123")
	pressForm(t, f, "tab", "tab", "ctrl+u")
	typeForm(t, f, "0")
	if out := pressForm(t, f, "enter"); out != formSubmitted {
		t.Fatalf("outcome %v", out)
	}
	pressForm(t, f, "up", "up") // the moderator wanders off
	_, err := tokenParams(f.Values())
	if err == nil {
		t.Fatal("ttl 0 accepted")
	}
	f.Reject(err)
	if f.focus != tokenFieldTTL {
		t.Errorf("focus %d, want the ttl field", f.focus)
	}
	st := NewStyles(true)
	if v := ansi.Strip(f.View(80, &st)); !strings.Contains(v, "✗ ttl: must be more than 0 (got 0)") {
		t.Errorf("the error is not shown:\n%s", v)
	}
	f.Reject(nil)
	if f.err != "" {
		t.Errorf("Reject(nil) left %q", f.err)
	}
}

func TestFormViewWidths(t *testing.T) {
	st := NewStyles(true)
	for _, w := range []int{20, 40, 57, 80, 200} {
		for _, f := range []*form{
			newSignalForm("signal every connection in session …"+strings.Repeat("x", 100), "gavel"),
			newRecordForm("record", config.RecordDefaults{}),
			newTokenForm("token"),
		} {
			f.Update(tea.PasteMsg{Content: strings.Repeat("wide 表 ", 200)})
			f.SetError("name: " + strings.Repeat("a long reason ", 20))
			want := min(max(w, formMinWidth), formMaxWidth)
			for i, l := range strings.Split(f.View(w, &st), "\n") {
				if got := ansi.StringWidth(l); got != want {
					t.Errorf("width %d: line %d is %d wide, want %d: %q", w, i, got, want, ansi.Strip(l))
				}
			}
		}
	}
}

func TestFormFocusMarkWithoutColour(t *testing.T) {
	st := NewStyles(true)
	f := newRecordForm("record", config.RecordDefaults{})
	pressForm(t, f, "tab", "tab")
	v := ansi.Strip(f.View(80, &st))
	if !strings.Contains(v, "› resolution") || strings.Contains(v, "› name") {
		t.Errorf("the focus mark is not on resolution:\n%s", v)
	}
	if !strings.Contains(v, "[default] 640x480") || !strings.Contains(v, "[composed] individual") {
		t.Errorf("the selected choices are not bracketed:\n%s", v)
	}
}

func TestLineInputScrolls(t *testing.T) {
	var in lineInput
	in.focused = true
	in.SetValue("abcdefghij")
	if got := in.View(5, Paint{}); got != "ghij " {
		t.Errorf("cursor at the end: %q", got)
	}
	in.pos = 0
	if got := in.View(5, Paint{}); got != "abcde" {
		t.Errorf("cursor at the start: %q", got)
	}
	in.SetValue("表表表")
	if got := in.View(5, Paint{}); ansi.StringWidth(got) > 5 || !strings.HasSuffix(got, "表 ") {
		t.Errorf("wide runes: %q", got)
	}
}

func TestGoldenForms(t *testing.T) {
	st := NewStyles(true)
	t.Run("signal", func(t *testing.T) {
		f := newSignalForm("signal Alice (conn …abc123)", "gavel")
		pressForm(t, f, "tab")
		typeForm(t, f, "Please unmute when you are ready")
		requireGolden(t, f.View(80, &st))
	})
	t.Run("signal_error", func(t *testing.T) {
		f := newSignalForm("signal 3 marked connections", "two words")
		pressForm(t, f, "tab")
		typeForm(t, f, "hi")
		_, err := signalParams(f.Values())
		f.Reject(err)
		requireGolden(t, f.View(80, &st))
	})
	t.Run("record", func(t *testing.T) {
		f := newRecordForm("record session …abc123 (Town hall)", config.RecordDefaults{})
		typeForm(t, f, "town hall 2026-03-02")
		pressForm(t, f, "tab", "right") // individual
		requireGolden(t, f.View(80, &st))
	})
	t.Run("record_narrow", func(t *testing.T) {
		f := newRecordForm("record session …abc123 (Town hall)", config.RecordDefaults{Resolution: "1280x720"})
		pressForm(t, f, "tab", "tab")
		requireGolden(t, f.View(40, &st))
	})
	t.Run("token", func(t *testing.T) {
		f := newTokenForm("token for session …abc123")
		pressForm(t, f, "right", "right") // moderator
		pressForm(t, f, "tab")
		typeForm(t, f, `{"name":"Bob"}`)
		requireGolden(t, f.View(80, &st))
	})
}

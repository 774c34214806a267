package tui

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/gavelhq/gavel/events/config"
	"github.com/gavelhq/gavel/opentok"
)

// The forms the moderation keys open, and the relay command params their
// values become. The params are exactly what the relay's gateway reads
// (events.CommandParams); every value is checked here,
// before anything is sent, by the opentok package's own rules
// (Signal.Validate, ArchiveOptions.Validate, TokenOptions.Validate), so a
// refusal names the field while the form is still open.

// Field order of the signal form: signalParams reads Values() by it.
const (
	signalFieldType = iota
	signalFieldData
)

// newSignalForm is the form of the signal action. title names the target
// ("signal Alice (conn …abc123)", "signal 3 marked connections"); typ is
// the default type ("" sends an untyped signal, which only the apps'
// catch-all signal handlers see).
func newSignalForm(title, typ string) *form {
	return newForm(title,
		formField{Label: "type", Value: typ, MaxBytes: opentok.MaxSignalTypeBytes,
			Hint: "what the app listens for: letters, digits, - _ ~"},
		formField{Label: "data", MaxBytes: opentok.MaxSignalDataBytes,
			Hint: "the message, delivered as typed"},
	)
}

// signalParams are the signal command's params: {"type","data"}.
func signalParams(values []string) (json.RawMessage, error) {
	if err := wantValues("signal", values, 2); err != nil {
		return nil, err
	}
	sig := opentok.Signal{Type: values[signalFieldType], Data: values[signalFieldData]}
	if sig.Data == "" {
		// The service answers an empty signal with 400 "Signal payload
		// 'data' must be set"; an empty data here is enter pressed early.
		return nil, &fieldError{Field: signalFieldData, Label: "data", Rule: "is required: the service refuses a signal without data"}
	}
	if err := sig.Validate(); err != nil {
		return nil, fieldFrom(err, map[string]fieldRef{
			"type": {signalFieldType, "type"},
			"data": {signalFieldData, "data"},
		})
	}
	return marshalParams(struct {
		Type string `json:"type"`
		Data string `json:"data"`
	}{sig.Type, sig.Data})
}

// Field order of the record (archive start) form.
const (
	recordFieldName = iota
	recordFieldOutput
	recordFieldResolution
	recordFieldLayout
)

// CheckRecordDefaults checks [console.record] (config.RecordDefaults) as
// a record form would check the values once sent (its errors start with
// the config key: "output_mode: …"), so a configuration can be refused
// when it is loaded rather than when a moderator starts recording. A
// default the form does not offer would otherwise become the form's first
// choice.
func CheckRecordDefaults(d config.RecordDefaults) error {
	if d.Name != "" && d.Name != Sanitize(d.Name) {
		return errors.New("name: no control characters")
	}
	if !hasChoice(recordOutputChoices, d.OutputMode) {
		return fmt.Errorf("output_mode: one of %s (got %q)", strings.Join(recordOutputChoices, ", "), d.OutputMode)
	}
	if !hasChoice(opentok.Resolutions, d.Resolution) {
		return fmt.Errorf("resolution: one of %s or empty (got %q)", strings.Join(opentok.Resolutions, ", "), d.Resolution)
	}
	if !hasChoice(recordLayoutChoices, d.Layout) {
		return fmt.Errorf("layout: one of %s (got %q)", strings.Join(recordLayoutChoices, ", "), d.Layout)
	}
	// The cross-field rules (individual takes no resolution or layout) are
	// opentok's, which checks a session id first: any well-formed one will
	// do, as no session is involved yet.
	const anySession = "defaults"
	values := []string{d.Name, or(d.OutputMode, string(opentok.OutputComposed)), d.Resolution, or(d.Layout, string(opentok.LayoutBestFit))}
	if _, err := recordParams(anySession, values); err != nil {
		// The form's field names ("output", "resolution") are the keys'.
		return fmt.Errorf("%s", strings.Replace(err.Error(), "output:", "output_mode:", 1))
	}
	return nil
}

// The record form's choices. Custom layouts need a stylesheet, which a
// one-line form cannot take; the service's default resolution is "".
var (
	recordOutputChoices = []string{string(opentok.OutputComposed), string(opentok.OutputIndividual)}
	recordLayoutChoices = []string{string(opentok.LayoutBestFit), string(opentok.LayoutPIP),
		string(opentok.LayoutVerticalPresentation), string(opentok.LayoutHorizontalPresentation)}
)

// maxArchiveNameChars bounds the archive name. The service documents no
// limit; this one keeps a stray paste from making a command larger than
// the relay reads from a console (64 KiB), which would cost the link.
const maxArchiveNameChars = 1000

// newRecordForm is the form of the record action (archive start).
func newRecordForm(title string, d config.RecordDefaults) *form {
	return newForm(title,
		formField{Label: "name", Value: d.Name, MaxChars: maxArchiveNameChars,
			Hint: "optional; the archive list shows it"},
		formField{Label: "output", Choices: recordOutputChoices, Value: d.OutputMode,
			Hint: "composed: one video of everyone; individual: a file per stream"},
		formField{Label: "resolution", Choices: append([]string{""}, opentok.Resolutions...), Value: d.Resolution,
			Hint: "composed only; default is the service's (640x480)"},
		formField{Label: "layout", Choices: recordLayoutChoices, Value: d.Layout,
			Hint: "composed only"},
	)
}

// recordParams are the archive_start command's params for session:
// {"name","output_mode","resolution","layout"}, empty ones left out. An
// individual archive has no layout: bestFit, the default, is then not
// sent, and any other layout is refused, as the service would.
func recordParams(session string, values []string) (json.RawMessage, error) {
	if err := wantValues("record", values, 4); err != nil {
		return nil, err
	}
	mode := values[recordFieldOutput]
	layout := values[recordFieldLayout]
	if mode == string(opentok.OutputIndividual) && layout == string(opentok.LayoutBestFit) {
		layout = ""
	}
	opts := opentok.ArchiveOptions{
		SessionID:  session,
		Name:       values[recordFieldName],
		OutputMode: opentok.OutputMode(mode),
		Resolution: values[recordFieldResolution],
	}
	if layout != "" {
		opts.Layout = &opentok.Layout{Type: opentok.LayoutType(layout)}
	}
	if n := len([]rune(opts.Name)); n > maxArchiveNameChars {
		return nil, &fieldError{Field: recordFieldName, Label: "name", Rule: fmt.Sprintf("at most %d characters (got %d)", maxArchiveNameChars, n)}
	}
	if err := opts.Validate(); err != nil {
		return nil, fieldFrom(err, map[string]fieldRef{
			"name":        {recordFieldName, "name"},
			"outputMode":  {recordFieldOutput, "output"},
			"resolution":  {recordFieldResolution, "resolution"},
			"layout":      {recordFieldLayout, "layout"},
			"layout.type": {recordFieldLayout, "layout"},
		})
	}
	return marshalParams(struct {
		Name       string `json:"name,omitempty"`
		OutputMode string `json:"output_mode"`
		Resolution string `json:"resolution,omitempty"`
		Layout     string `json:"layout,omitempty"`
	}{opts.Name, mode, opts.Resolution, layout})
}

// Field order of the token form.
const (
	tokenFieldRole = iota
	tokenFieldData
	tokenFieldTTL
)

// newTokenForm is the form of the token action: a client token for the
// session, which the console then shows and copies.
func newTokenForm(title string) *form {
	return newForm(title,
		formField{Label: "role", Value: string(opentok.RolePublisher), Choices: []string{
			string(opentok.RoleSubscriber), string(opentok.RolePublisher),
			string(opentok.RolePublisherOnly), string(opentok.RoleModerator)},
			Hint: "moderator may also force others out and mute them"},
		formField{Label: "data", MaxChars: opentok.MaxConnectionDataLength,
			Hint: `connection data; {"name":"Alice"} names it`},
		formField{Label: "ttl", Value: "24h",
			Hint: "lifetime: 30m, 24h, 168h (7 days); at most 720h (30 days)"},
	)
}

// tokenParams are the token command's params: {"role","data","ttl"}, the
// ttl a Go duration as the gateway parses it (time.ParseDuration).
func tokenParams(values []string) (json.RawMessage, error) {
	if err := wantValues("token", values, 3); err != nil {
		return nil, err
	}
	ttlText := strings.TrimSpace(values[tokenFieldTTL])
	ttlErr := func(rule string) error {
		return &fieldError{Field: tokenFieldTTL, Label: "ttl", Rule: rule}
	}
	if ttlText == "" {
		return nil, ttlErr("is required: a duration like 30m or 24h")
	}
	ttl, err := time.ParseDuration(ttlText)
	if err != nil {
		return nil, ttlErr(fmt.Sprintf("a duration like 30m or 24h; days are written in hours, 7 days = 168h (got %q)", ttlText))
	}
	if ttl <= 0 {
		// The gateway would read 0 as "unset" and mint a 24-hour token.
		return nil, ttlErr(fmt.Sprintf("must be more than 0 (got %s)", ttlText))
	}
	opts := opentok.TokenOptions{Role: opentok.Role(values[tokenFieldRole]), Data: values[tokenFieldData], TTL: ttl}
	if err := opts.Validate(); err != nil {
		return nil, fieldFrom(err, map[string]fieldRef{
			"role": {tokenFieldRole, "role"},
			"data": {tokenFieldData, "data"},
			"ttl":  {tokenFieldTTL, "ttl"},
		})
	}
	return marshalParams(struct {
		Role string `json:"role"`
		Data string `json:"data,omitempty"`
		TTL  string `json:"ttl"`
	}{string(opts.Role), opts.Data, ttlText})
}

// fieldRef is a form field an opentok field name maps to.
type fieldRef struct {
	index int
	label string
}

// fieldFrom turns an opentok validation error into the form's terms: the
// field by its label and the rule as opentok words it. An error on no
// field of the form (the session id) is returned as it is.
func fieldFrom(err error, fields map[string]fieldRef) error {
	var ve *opentok.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	ref, ok := fields[ve.Field]
	if !ok {
		return err
	}
	return &fieldError{Field: ref.index, Label: ref.label, Rule: ve.Rule}
}

// wantValues guards against a form and its params function disagreeing
// on the fields: a programming error, reported rather than sent.
func wantValues(form string, values []string, n int) error {
	if len(values) != n {
		return fmt.Errorf("%s form: %d values, want %d", form, len(values), n)
	}
	return nil
}

func marshalParams(v any) (json.RawMessage, error) {
	b, err := json.Marshal(v)
	return json.RawMessage(b), err
}

func hasChoice(choices []string, v string) bool {
	if v == "" {
		return true // the zero value picks the form's default
	}
	for _, c := range choices {
		if c == v {
			return true
		}
	}
	return false
}

func or(v, dflt string) string {
	if v == "" {
		return dflt
	}
	return v
}

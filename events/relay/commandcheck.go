package relay

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/opentok"
)

// Bounds on what a console's command may hold, checked before anything
// else the gateway does. They exist for the audit trail: an audit entry
// is built from the command's fields, appended to the durable log and
// fanned out to every console, and a viewer's refused commands are
// audited too, so without them any console could write tens of kilobytes
// into every console's trail with each command. A command over a bound is
// answered 400 and never audited: auditing it would be that flood.
const (
	// maxIDBytes bounds the command id, the action and every Video API id a
	// command names (session, connection, stream, archive, except). Session
	// ids may be up to 255 characters (opentok.MaxSessionIDLength; real ones
	// are about 70) and connection, stream and archive ids are 36-character
	// UUIDs, so 256 refuses no id the service can issue while keeping an
	// audit entry under a couple of kilobytes.
	maxIDBytes = 256
	// maxRuleEntries bounds a rules set's per-session caps and exempt
	// roles: a set rides on an audit entry every console receives.
	maxRuleEntries = 100
	// maxWordBytes bounds params that name one value from a short list
	// (output_mode, resolution, layout, role) or a duration (ttl): the
	// longest valid one is a dozen bytes.
	maxWordBytes = 64
	// maxNameBytes bounds an archive's name. The service documents no limit;
	// a name is a label for people, and 1000 is what it allows for the
	// other free text a moderator types (a token's connection data).
	maxNameBytes = opentok.MaxConnectionDataLength
	// maxParamsBytes bounds params as sent: room for signal data of
	// opentok.MaxSignalDataBytes even if every byte arrives JSON-escaped as
	// \u00XX (6 bytes; Go's encoder escapes <, > and & that way), plus its
	// type. A mute_all except list of about 1,300 stream ids fits too, and
	// its audit entry carries the list, so one can reach ~50 KB: that takes
	// a moderator's command the Video API carried out, under the token's
	// rate, where the bounded ids keep every other entry small.
	maxParamsBytes = 6*opentok.MaxSignalDataBytes + 2<<10
)

// checkCommand bounds every field of cmd and decodes its params. Its error
// is a malformed command's (a *commandError, 400, naming the field and the
// limit); the message never quotes an over-long value.
func checkCommand(cmd events.Command) (events.CommandParams, error) {
	var p events.CommandParams
	for _, f := range []struct{ name, value string }{
		{"id", cmd.ID}, {"action", cmd.Action}, {"session", cmd.Session}, {"connection", cmd.Connection}, {"stream", cmd.Stream},
	} {
		if err := bound(f.name, f.value, maxIDBytes); err != nil {
			return p, err
		}
	}
	if !knownAction(cmd.Action) {
		return p, malformed("unknown action %q", cmd.Action)
	}
	if n := len(cmd.Params); n > maxParamsBytes {
		return p, malformed("params: at most %d bytes (got %d)", maxParamsBytes, n)
	}
	if len(cmd.Params) > 0 && string(cmd.Params) != "null" {
		if err := json.Unmarshal(cmd.Params, &p); err != nil {
			return p, malformed("params: %v", err)
		}
	}
	if err := checkParams(cmd.Action, p); err != nil {
		return p, err
	}
	return p, checkRequired(cmd, p)
}

// checkParams bounds the params every action may carry. Signal's type and
// data get the Video API's own limits (opentok.Signal.Validate), so a
// signal the service would refuse is refused here, before the role check,
// and never audited.
func checkParams(action string, p events.CommandParams) error {
	if action == events.ActionSignal {
		var ve *opentok.ValidationError
		if err := (opentok.Signal{Type: p.Type, Data: p.Data}).Validate(); errors.As(err, &ve) {
			return malformed("params.%s: %s", ve.Field, ve.Rule)
		} else if err != nil {
			return malformed("params: %v", err)
		}
	}
	checks := []struct {
		name  string
		value string
		max   int
	}{
		{"params.type", p.Type, opentok.MaxSignalTypeBytes},
		{"params.data", p.Data, opentok.MaxSignalDataBytes},
		{"params.archive", p.Archive, maxIDBytes},
		{"params.name", p.Name, maxNameBytes},
		{"params.output_mode", p.OutputMode, maxWordBytes},
		{"params.resolution", p.Resolution, maxWordBytes},
		{"params.layout", p.Layout, maxWordBytes},
		{"params.role", p.Role, maxWordBytes},
		{"params.ttl", p.TTL, maxWordBytes},
		{"params.match", p.Match, maxNameBytes},
		{"params.for", p.For, maxWordBytes},
		{"params.reason", p.Reason, maxReasonBytes},
		{"params.ban", p.Ban, maxIDBytes},
		{"params.alert", p.Alert, 2 * maxIDBytes},
	}
	for _, c := range checks {
		if err := bound(c.name, c.value, c.max); err != nil {
			return err
		}
	}
	if r := p.Rules; r != nil {
		if len(r.SessionCaps) > maxRuleEntries || len(r.CapExempt) > maxRuleEntries {
			return malformed("params.rules: at most %d session caps and %d exempt roles", maxRuleEntries, maxRuleEntries)
		}
		for id := range r.SessionCaps {
			if err := bound("params.rules.session_caps key", id, maxIDBytes); err != nil {
				return err
			}
		}
		for i, role := range r.CapExempt {
			if err := bound(fmt.Sprintf("params.rules.cap_exempt[%d]", i), role, maxWordBytes); err != nil {
				return err
			}
		}
	}
	for i, id := range p.Except {
		if err := bound(fmt.Sprintf("params.except[%d]", i), id, maxIDBytes); err != nil {
			return err
		}
	}
	return nil
}

// checkRequired refuses a command without the ids its action acts on.
func checkRequired(cmd events.Command, p events.CommandParams) error {
	switch {
	case cmd.Action == events.ActionReconcile:
		return nil // no session: every live one
	case cmd.Action == events.ActionWhere:
		return nil // a console outside any session says so
	case cmd.Action == events.ActionStateAt:
		if cmd.Session == "" {
			return malformed("session is required: the session whose past to show")
		}
		if p.Step < -1 || p.Step > 1 {
			return malformed("params.step: expected -1, 0 or 1, got %d", p.Step)
		}
		return nil
	case cmd.Action == events.ActionUnban:
		if p.Ban == "" {
			return malformed("params.ban is required: the id of the ban to lift")
		}
		return nil
	case cmd.Action == events.ActionBan && p.All:
		return nil // every session
	case cmd.Action == events.ActionAck:
		if p.Alert == "" {
			return malformed("params.alert is required: the id of the alert to acknowledge")
		}
		return nil
	case cmd.Action == events.ActionRules:
		if p.Rules == nil {
			return malformed("params.rules is required: the whole rules set to put in force")
		}
		if err := p.Rules.Check(); err != nil {
			return malformed("params.rules.%v", err)
		}
		return nil
	}
	if cmd.Session == "" {
		return malformed("session is required")
	}
	switch cmd.Action {
	case events.ActionDisconnect:
		if cmd.Connection == "" {
			return malformed("connection is required")
		}
	case events.ActionMute, events.ActionUnpublish:
		if cmd.Stream == "" {
			return malformed("stream is required")
		}
	}
	return nil
}

// bound refuses value if it is longer than max bytes, naming the field and
// the limit but not the value.
func bound(field, value string, max int) error {
	if n := len(value); n > max {
		return malformed("%s: at most %d bytes (got %d)", field, max, n)
	}
	return nil
}

// malformed is the 400 of a command the relay cannot act on as sent.
func malformed(format string, args ...any) error {
	return refuse(http.StatusBadRequest, format, args...)
}

package tui

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/gavelhq/gavel/events"
	"github.com/gavelhq/gavel/events/config"
)

const formsSession = "1_MX40NzY2NTk3MX5-MTczOTUzODg5NDk1OX5ROW1jWEcxUXJOM1RJWXU4eStwcHgvZ3N-UH5-"

func checkParams(t *testing.T, raw json.RawMessage, err error, want string) {
	t.Helper()
	if err != nil {
		t.Fatalf("refused: %v", err)
	}
	if string(raw) != want {
		t.Errorf("params\n got %s\nwant %s", raw, want)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var p events.CommandParams
	if err := dec.Decode(&p); err != nil {
		t.Errorf("the relay would not read %s: %v", raw, err)
	}
}

func TestSignalParams(t *testing.T) {
	f := newSignalForm("signal", "gavel")
	pressForm(t, f, "tab")
	typeForm(t, f, `Please "mute" <now>`)
	raw, err := signalParams(f.Values())
	checkParams(t, raw, err, `{"type":"gavel","data":"Please \"mute\" \u003cnow\u003e"}`)

	raw, err = signalParams([]string{"", "hello"}) // an untyped signal
	checkParams(t, raw, err, `{"type":"","data":"hello"}`)
}

func TestRecordParams(t *testing.T) {
	f := newRecordForm("record", config.RecordDefaults{})
	raw, err := recordParams(formsSession, f.Values())
	checkParams(t, raw, err, `{"output_mode":"composed","layout":"bestFit"}`)

	f = newRecordForm("record", config.RecordDefaults{Name: "town hall", Resolution: "1280x720", Layout: "pip"})
	raw, err = recordParams(formsSession, f.Values())
	checkParams(t, raw, err, `{"name":"town hall","output_mode":"composed","resolution":"1280x720","layout":"pip"}`)

	// Individual: bestFit, the default, means no layout, and is not sent.
	f = newRecordForm("record", config.RecordDefaults{})
	pressForm(t, f, "tab", "right")
	raw, err = recordParams(formsSession, f.Values())
	checkParams(t, raw, err, `{"output_mode":"individual"}`)
}

func TestTokenParams(t *testing.T) {
	f := newTokenForm("token")
	raw, err := tokenParams(f.Values())
	checkParams(t, raw, err, `{"role":"publisher","ttl":"24h"}`)

	f = newTokenForm("token")
	pressForm(t, f, "right", "right", "tab")
	typeForm(t, f, `{"name":"Bob"}`)
	pressForm(t, f, "tab", "ctrl+u")
	typeForm(t, f, " 30m ")
	raw, err = tokenParams(f.Values())
	checkParams(t, raw, err, `{"role":"moderator","data":"{\"name\":\"Bob\"}","ttl":"30m"}`)

	raw, err = tokenParams([]string{"subscriber", "", "720h"}) // 30 days exactly
	checkParams(t, raw, err, `{"role":"subscriber","ttl":"720h"}`)
}

func TestFormValidationNamesTheField(t *testing.T) {
	cases := []struct {
		name   string
		params func() (json.RawMessage, error)
		field  int
		want   string // the whole message
	}{
		{"signal type too long", func() (json.RawMessage, error) {
			return signalParams([]string{strings.Repeat("t", 129), "x"})
		}, signalFieldType, "type: at most 128 bytes (got 129)"},
		{"signal type with a space", func() (json.RawMessage, error) {
			return signalParams([]string{"two words", "x"})
		}, signalFieldType, `type: only letters, digits, '-', '_' and '~' are allowed (got "two words")`},
		{"signal data over 8 kB", func() (json.RawMessage, error) {
			return signalParams([]string{"chat", strings.Repeat("é", 4097)})
		}, signalFieldData, "data: at most 8192 bytes (got 8194)"},
		{"signal data empty", func() (json.RawMessage, error) {
			return signalParams([]string{"chat", ""})
		}, signalFieldData, "data: is required: the service refuses a signal without data"},
		{"individual with a resolution", func() (json.RawMessage, error) {
			return recordParams(formsSession, []string{"", "individual", "1280x720", "bestFit"})
		}, recordFieldResolution, "resolution: only allowed with outputMode=composed"},
		{"individual with a layout", func() (json.RawMessage, error) {
			return recordParams(formsSession, []string{"", "individual", "", "pip"})
		}, recordFieldLayout, "layout: only allowed with outputMode=composed"},
		{"archive name too long", func() (json.RawMessage, error) {
			return recordParams(formsSession, []string{strings.Repeat("n", 1001), "composed", "", "bestFit"})
		}, recordFieldName, "name: at most 1000 characters (got 1001)"},
		{"ttl 0", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", "0"})
		}, tokenFieldTTL, "ttl: must be more than 0 (got 0)"},
		{"ttl negative", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", "-1h"})
		}, tokenFieldTTL, "ttl: must be more than 0 (got -1h)"},
		{"ttl 31 days", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", "744h"})
		}, tokenFieldTTL, "ttl: at most 30 days (got 744h0m0s)"},
		{"ttl in days", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", "31d"})
		}, tokenFieldTTL, `ttl: a duration like 30m or 24h; days are written in hours, 7 days = 168h (got "31d")`},
		{"ttl abc", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", "abc"})
		}, tokenFieldTTL, `ttl: a duration like 30m or 24h; days are written in hours, 7 days = 168h (got "abc")`},
		{"ttl empty", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", " "})
		}, tokenFieldTTL, "ttl: is required: a duration like 30m or 24h"},
		{"ttl under a second", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", "", "500ms"})
		}, tokenFieldTTL, "ttl: at least 1s: tokens expire in whole seconds (got 500ms)"},
		{"token data over 1000 characters", func() (json.RawMessage, error) {
			return tokenParams([]string{"publisher", strings.Repeat("é", 1001), "24h"})
		}, tokenFieldData, "data: at most 1000 characters (got 1001)"},
		{"unknown role", func() (json.RawMessage, error) {
			return tokenParams([]string{"owner", "", "24h"})
		}, tokenFieldRole, `role: must be subscriber, publisher, publisheronly or moderator (got "owner")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := tc.params()
			if raw != nil {
				t.Errorf("refused values came with params %s", raw)
			}
			var fe *fieldError
			if !errors.As(err, &fe) {
				t.Fatalf("err %v (%T), want a *fieldError", err, err)
			}
			if fe.Field != tc.field || err.Error() != tc.want {
				t.Errorf("field %d %q, want field %d %q", fe.Field, err, tc.field, tc.want)
			}
		})
	}
}

func TestRecordParamsNeedsASession(t *testing.T) {
	_, err := recordParams("", []string{"", "composed", "", "bestFit"})
	var fe *fieldError
	if err == nil || errors.As(err, &fe) || !strings.Contains(err.Error(), "sessionId") {
		t.Errorf("err %v, want a plain error on the session id", err)
	}
	if _, err := signalParams([]string{"one value"}); err == nil {
		t.Error("a values slice of the wrong length was accepted")
	}
}

func TestCheckRecordDefaults(t *testing.T) {
	good := []config.RecordDefaults{
		{},
		{Name: "weekly", OutputMode: "individual"},
		{OutputMode: "composed", Resolution: "1920x1080", Layout: "horizontalPresentation"},
	}
	for _, d := range good {
		if err := CheckRecordDefaults(d); err != nil {
			t.Errorf("%+v: %v", d, err)
		}
	}
	bad := []struct {
		d    config.RecordDefaults
		want string
	}{
		{config.RecordDefaults{OutputMode: "mixed"}, "output_mode"},
		{config.RecordDefaults{Resolution: "1280x72"}, "resolution"},
		{config.RecordDefaults{Layout: "custom"}, "layout"},
		{config.RecordDefaults{OutputMode: "individual", Resolution: "1280x720"}, "resolution"},
		{config.RecordDefaults{OutputMode: "individual", Layout: "pip"}, "layout"},
		{config.RecordDefaults{Name: "bell\a"}, "name"},
	}
	for _, tc := range bad {
		err := CheckRecordDefaults(tc.d)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want+":") {
			t.Errorf("%+v: err %v, want one naming %s", tc.d, err, tc.want)
		}
	}
}

func TestCopyCmd(t *testing.T) {
	token := "eyJhbGciOiJIUzI1NiJ9.eyJzZXNzaW9uX2lkIjoiMV9NWDQifQ.c2ln"
	cmd, flash := copyCmd("token", token)
	if cmd == nil {
		t.Fatal("no command")
	}
	if got, want := cmd(), tea.SetClipboard(token)(); !reflect.DeepEqual(got, want) {
		t.Errorf("command gives %#v, want tea.SetClipboard's %#v", got, want)
	}
	if want := "copied token eyJhbGc… to the clipboard (OSC 52); value: " + token; flash != want {
		t.Errorf("flash\n got %q\nwant %q", flash, want)
	}
	// Shown sanitised, copied as it is.
	cmd, flash = copyCmd("id", "abc\x1b[2J\x07")
	if strings.ContainsAny(flash, "\x1b\x07") {
		t.Errorf("flash carries controls: %q", flash)
	}
	if got, want := cmd(), tea.SetClipboard("abc\x1b[2J\x07")(); !reflect.DeepEqual(got, want) {
		t.Errorf("command gives %#v", got)
	}
	if cmd, flash := copyCmd("archive url", ""); cmd != nil || flash != "nothing to copy: archive url is empty" {
		t.Errorf("empty value: cmd %v, flash %q", cmd != nil, flash)
	}
}

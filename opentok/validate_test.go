package opentok_test

import (
	"strings"
	"testing"
	"time"

	"github.com/gavelhq/gavel/opentok"
)

// The exported Validate methods apply the rules Send, Start and Token
// apply, without a client, so a console can refuse values before sending.
func TestExportedValidate(t *testing.T) {
	const session = "1_MX4xMjM0NTZ-fg"
	for _, v := range []interface{ Validate() error }{
		opentok.Signal{Type: "chat", Data: "hello"},
		opentok.Signal{Type: strings.Repeat("t", 128), Data: strings.Repeat("d", 8192)},
		opentok.ArchiveOptions{SessionID: session},
		opentok.ArchiveOptions{SessionID: session, OutputMode: opentok.OutputIndividual},
		opentok.ArchiveOptions{SessionID: session, Resolution: "1280x720", Layout: &opentok.Layout{Type: opentok.LayoutPIP}},
		opentok.TokenOptions{},
		opentok.TokenOptions{Role: opentok.RoleModerator, Data: strings.Repeat("é", 1000), TTL: opentok.MaxTokenTTL},
	} {
		if err := v.Validate(); err != nil {
			t.Errorf("%+v: %v", v, err)
		}
	}
	refused := []struct {
		v     interface{ Validate() error }
		field string
	}{
		{opentok.Signal{Type: strings.Repeat("t", 129)}, "type"},
		{opentok.Signal{Type: "two words"}, "type"},
		{opentok.Signal{Data: strings.Repeat("é", 4097)}, "data"},
		{opentok.ArchiveOptions{}, "sessionId"},
		{opentok.ArchiveOptions{SessionID: session, OutputMode: opentok.OutputIndividual, Resolution: "1280x720"}, "resolution"},
		{opentok.ArchiveOptions{SessionID: session, OutputMode: opentok.OutputIndividual, Layout: &opentok.Layout{Type: opentok.LayoutPIP}}, "layout"},
		{opentok.ArchiveOptions{SessionID: session, Resolution: "1280x72"}, "resolution"},
		{opentok.TokenOptions{Role: "owner"}, "role"},
		{opentok.TokenOptions{Data: strings.Repeat("x", 1001)}, "data"},
		{opentok.TokenOptions{TTL: opentok.MaxTokenTTL + time.Second}, "ttl"},
		{opentok.TokenOptions{TTL: -time.Hour}, "ttl"},
		// Refused whatever the clock's fraction of a second: a sub-second
		// ttl used to pass or fail by the moment it was asked.
		{opentok.TokenOptions{TTL: 999 * time.Millisecond}, "ttl"},
	}
	for _, tc := range refused {
		mustRefuseField(t, tc.v.Validate(), tc.field)
	}
}

package opentok

import (
	"net/netip"
	"strings"
)

// Limits the service documents (the Create a token guide:
// https://developer.vonage.com/en/video/guides/create-token; the OpenTok REST reference,
// Creating a session: https://tokbox.com/developer/rest/#session_id_production; the
// Moderation REST guide: https://developer.vonage.com/en/video/guides/moderation/rest;
// the limits in the Interactive broadcast guide:
// https://developer.vonage.com/en/video/guides/broadcast/interactive).
const (
	MaxSessionIDLength      = 255
	MaxSignalTypeBytes      = 128
	MaxSignalDataBytes      = 8192
	MaxConnectionDataLength = 1000
	MaxLayoutClassesLength  = 1000
	MaxTokenLifetimeDays    = 30
	MaxArchiveListCount     = 1000
	MaxBroadcastRTMPOutputs = 5
)

// Resolutions are the output sizes archives, broadcasts, renders and
// auto-archived sessions accept.
var Resolutions = []string{"640x480", "480x640", "1280x720", "720x1280", "1920x1080", "1080x1920"}

func validResolution(r string) bool {
	for _, v := range Resolutions {
		if r == v {
			return true
		}
	}
	return false
}

// requireID checks an ID that goes into a path: present, no whitespace, and
// for session IDs within the documented 255 characters.
func requireID(op, field, id string) error {
	switch {
	case id == "":
		return invalid(op, field, "is required")
	case strings.TrimSpace(id) != id || strings.ContainsAny(id, " \t\r\n"):
		return invalid(op, field, "must not contain whitespace")
	case field == "sessionId" && len(id) > MaxSessionIDLength:
		return invalid(op, field, "at most %d characters (got %d)", MaxSessionIDLength, len(id))
	}
	return nil
}

// validSignalType is the client-side rule the signaling guide documents:
// ASCII letters, digits, '-', '_' and '~'.
func validSignalType(t string) bool {
	for _, r := range t {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '~'
		if !ok {
			return false
		}
	}
	return true
}

func validIPv4(s string) bool {
	a, err := netip.ParseAddr(s)
	return err == nil && a.Is4()
}
